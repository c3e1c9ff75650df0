import { createKeyboxClient, type KeyboxClient } from '../client/http-client.js';
import { KeyboxError, isKeyboxError } from '../client/keybox-error.js';
import type { ErrorCode } from '../contract/error-codes.js';
import { checkFolderPath, checkSlug } from '../contract/names.js';
import { mergeFolders, type MergedSecret } from '../resolve/merge-folders.js';
import type { EnvLike, ReadFile } from './resolve-local.js';

export interface BundleScope {
  project: string;
  env: string;
  /** Normalised folder paths, in precedence order (a later folder wins). */
  paths: readonly string[];
  recursive: boolean;
}

/** Every secret in scope, merged across folders: what one bulk read returns. */
export interface KeyboxBundle {
  project: string;
  env: string;
  secrets: ReadonlyMap<string, MergedSecret>;
}

/**
 * Fetches the bundle for a scope. The default does one bulk read, with a static token or after a machine-identity
 * login; another source (a test double, a cache) plugs in here without changing how items resolve.
 */
export type FetchBundle = (scope: BundleScope) => Promise<KeyboxBundle>;

export interface KeyboxOptions {
  /** Default: KEYBOX_ADDR, then SECRETS_API_URL. */
  addr?: string;
  /** Default: KEYBOX_TOKEN, then SECRETS_API_TOKEN, then the file named by KEYBOX_TOKEN_FILE. */
  token?: string;
  /**
   * A machine identity, used when there is no token: each load logs in (`POST /api/v1/auth/login`) for a
   * short-lived access token. Default: KEYBOX_CLIENT_ID with KEYBOX_CLIENT_SECRET, or the file named by
   * KEYBOX_CLIENT_SECRET_FILE.
   */
  clientId?: string;
  clientSecret?: string;
  /** Default: KEYBOX_PROJECT. */
  project?: string;
  /** Default: KEYBOX_ENV. */
  env?: string;
  /** Default: KEYBOX_PATH, else `/`. A later folder wins on a clash. */
  paths?: readonly string[];
  recursive?: boolean;
  /** PEM of a CA to trust. Default: the file named by KEYBOX_CACERT. */
  caCert?: string | Buffer;
  /** Whole-request timeout; default 30 s, as `keybox run`. */
  timeoutMs?: number;
  /** Extra attempts after a transient failure (unreachable, timeout, 5xx). Default 0. */
  retries?: number;
  /** Delay before the first retry, doubled for each next one. Default 500 ms. */
  retryDelayMs?: number;
  /** Replaces the default bulk read; then no address or token is needed. */
  fetchBundle?: FetchBundle;
}

export type KeyboxPlan =
  | { state: 'not-configured'; reason: string }
  | { state: 'invalid'; code: ErrorCode; reason: string }
  | { state: 'ready'; scope: BundleScope; fetchBundle: FetchBundle; retry: RetryPolicy };

export interface RetryPolicy {
  retries: number;
  delayMs: number;
}

/** Decides from options and the environment whether (and how) the server is a source. Never throws. */
export function planKeybox(options: KeyboxOptions | false | undefined, env: EnvLike, readFile: ReadFile): KeyboxPlan {
  if (options === false) return { state: 'not-configured', reason: 'disabled by the application' };
  const opts = options ?? {};
  try {
    let fetchBundle = opts.fetchBundle;
    if (fetchBundle === undefined) {
      const addr = first(opts.addr, env['KEYBOX_ADDR'], env['SECRETS_API_URL']);
      if (addr === undefined) return { state: 'not-configured', reason: 'no address (KEYBOX_ADDR, SECRETS_API_URL)' };
      const token = first(opts.token, env['KEYBOX_TOKEN'], env['SECRETS_API_TOKEN']) ?? tokenFromFile(env, readFile);
      const identity = token === undefined ? identityFrom(opts, env, readFile) : undefined;
      const credential = token !== undefined ? { token } : identity;
      if (credential === undefined) {
        return {
          state: 'not-configured',
          reason:
            'no credential (KEYBOX_TOKEN, SECRETS_API_TOKEN, KEYBOX_TOKEN_FILE, KEYBOX_CLIENT_ID + KEYBOX_CLIENT_SECRET)',
        };
      }
      const caFile = first(env['KEYBOX_CACERT']);
      const caCert =
        opts.caCert ?? (caFile === undefined ? undefined : readConfigFile(readFile, caFile, 'KEYBOX_CACERT'));
      const certFile = first(env['KEYBOX_CLIENT_CERT']);
      const keyFile = first(env['KEYBOX_CLIENT_KEY']);
      const clientCert = certFile === undefined ? undefined : readConfigFile(readFile, certFile, 'KEYBOX_CLIENT_CERT');
      const clientKey = keyFile === undefined ? undefined : readConfigFile(readFile, keyFile, 'KEYBOX_CLIENT_KEY');
      const connection = { addr, caCert, clientCert, clientKey, timeoutMs: opts.timeoutMs };
      fetchBundle = createBulkFetcher({ ...connection, ...credential });
    }
    // Address and credential without a scope (as in a process `keybox run` started, which passes KEYBOX_ADDR and the
    // token on but not the scope) leave the server unconfigured rather than failed.
    const project = first(opts.project, env['KEYBOX_PROJECT']);
    const envSlug = first(opts.env, env['KEYBOX_ENV']);
    if (project === undefined) return { state: 'not-configured', reason: 'no project (KEYBOX_PROJECT)' };
    if (envSlug === undefined) return { state: 'not-configured', reason: 'no environment (KEYBOX_ENV)' };
    const retry = {
      retries: Math.max(0, Math.floor(opts.retries ?? 0)),
      delayMs: Math.max(0, opts.retryDelayMs ?? 500),
    };
    return { state: 'ready', scope: planScope(project, envSlug, opts, env), fetchBundle, retry };
  } catch (error) {
    if (isKeyboxError(error)) return { state: 'invalid', code: error.code, reason: error.message };
    throw error;
  }
}

export interface BulkFetcherOptions {
  addr: string;
  caCert?: string | Buffer | undefined;
  /** A client certificate and key (PEM) for a server that requires mutual TLS. */
  clientCert?: string | Buffer | undefined;
  clientKey?: string | Buffer | undefined;
  timeoutMs?: number | undefined;
}

/**
 * The default `FetchBundle`: one `GET /api/v1/secrets`, folders merged as `keybox run` does. With a machine identity
 * instead of a token it logs in first and keeps the access token until it is about to expire; a token the server
 * rejects (revoked, used up) is replaced by one new login, once.
 *
 * @example
 * const fetchBundle = createBulkFetcher({ addr: 'http://127.0.0.1:8210', token });
 * const asIdentity = createBulkFetcher({ addr, clientId, clientSecret });
 */
export function createBulkFetcher(
  options: BulkFetcherOptions & ({ token: string } | { clientId: string; clientSecret: string }),
): FetchBundle {
  const base = { ...options, userAgent: 'keybox-sdk/0.1.0' };
  if ('token' in options) {
    const client = createKeyboxClient({ ...base, token: options.token });
    return (scope) => readBundle(client, scope);
  }
  const { clientId, clientSecret } = options;
  let session: { client: KeyboxClient; renewAt: number } | undefined;
  async function login(): Promise<KeyboxClient> {
    const granted = await createKeyboxClient({ ...base, token: undefined }).login(clientId, clientSecret);
    const client = createKeyboxClient({ ...base, token: granted.accessToken });
    // Log in again at 80 % of the lifetime, so a read never goes out with a token about to lapse.
    session = { client, renewAt: Date.now() + granted.expiresIn * 800 };
    return client;
  }
  return async (scope) => {
    const fresh = session === undefined || Date.now() >= session.renewAt;
    const client = fresh ? await login() : (session as { client: KeyboxClient }).client;
    try {
      return await readBundle(client, scope);
    } catch (error) {
      if (fresh || !isKeyboxError(error) || error.status !== 401) throw error;
      return readBundle(await login(), scope);
    }
  };
}

async function readBundle(client: KeyboxClient, scope: BundleScope): Promise<KeyboxBundle> {
  const read = await client.bulkRead(scope);
  if (read.notModified) throw new KeyboxError('BAD_RESPONSE', 'the server answered 304 to an unconditional read');
  return {
    project: read.data.project,
    env: read.data.environment,
    secrets: mergeFolders(read.data.folders).secrets,
  };
}

function identityFrom(
  opts: KeyboxOptions,
  env: EnvLike,
  readFile: ReadFile,
): { clientId: string; clientSecret: string } | undefined {
  const clientId = first(opts.clientId, env['KEYBOX_CLIENT_ID']);
  let clientSecret = first(opts.clientSecret, env['KEYBOX_CLIENT_SECRET']);
  const secretFile = first(env['KEYBOX_CLIENT_SECRET_FILE']);
  if (clientSecret === undefined && secretFile !== undefined) {
    clientSecret = first(readConfigFile(readFile, secretFile, 'KEYBOX_CLIENT_SECRET_FILE').trim());
  }
  if (clientId === undefined && clientSecret === undefined) return undefined;
  if (clientId === undefined || clientSecret === undefined) {
    throw new KeyboxError(
      'CONFIG_INVALID',
      'KEYBOX_CLIENT_ID and KEYBOX_CLIENT_SECRET go together (or KEYBOX_CLIENT_SECRET_FILE for the secret)',
    );
  }
  return { clientId, clientSecret };
}

/**
 * Whether another attempt may succeed: the network, a timeout or a 5xx. A 4xx (a rejected token, a missing folder,
 * a rate limit) is an answer, not an accident, as for `keybox run`.
 */
export function isTransient(error: unknown): boolean {
  if (!isKeyboxError(error)) return false;
  if (error.code === 'UNREACHABLE' || error.code === 'TIMEOUT') return true;
  return error.status !== undefined && error.status >= 500;
}

function planScope(project: string, envSlug: string, opts: KeyboxOptions, env: EnvLike): BundleScope {
  for (const [kind, slug] of [
    ['project', project],
    ['environment', envSlug],
  ] as const) {
    const check = checkSlug(kind, slug);
    if (!check.ok) throw new KeyboxError('CONFIG_INVALID', check.reason);
  }
  const raw = opts.paths !== undefined && opts.paths.length > 0 ? opts.paths : [first(env['KEYBOX_PATH']) ?? '/'];
  const paths = raw.map((p) => {
    const check = checkFolderPath(p);
    if (!check.ok) throw new KeyboxError('CONFIG_INVALID', check.reason);
    return check.value;
  });
  return { project, env: envSlug, paths, recursive: opts.recursive === true };
}

function tokenFromFile(env: EnvLike, readFile: ReadFile): string | undefined {
  const file = first(env['KEYBOX_TOKEN_FILE']);
  if (file === undefined) return undefined;
  return first(readConfigFile(readFile, file, 'KEYBOX_TOKEN_FILE').trim());
}

function readConfigFile(readFile: ReadFile, path: string, label: string): string {
  try {
    return readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new KeyboxError('CONFIG_INVALID', `${label} names ${path}, which cannot be read (${code})`);
  }
}

function first(...values: (string | undefined)[]): string | undefined {
  return values.find((v) => v !== undefined && v !== '');
}
