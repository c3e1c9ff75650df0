import { createKeyboxClient, type KeyboxClient } from '@keybox/sdk';
import { CliError } from '../errors.js';
import type { ProjectFile } from './project-file.js';
import { readSession } from './session.js';

// Builtins come from process.getBuiltinModule: an ESM `import` of a builtin costs 2-8 ms each on Node 24 (the
// namespace is built eagerly), and this file is on the path of `keybox run`.
const { readFileSync } = process.getBuiltinModule('node:fs');

export interface Connection {
  addr: string;
  /** A bearer token: static, a machine's access token, or a user's session. */
  token?: string | undefined;
  /** A machine identity's credentials, exchanged for an access token when connecting. */
  client?: { id: string; secret: string } | undefined;
  caCert: Buffer | undefined;
  clientCert?: Buffer | undefined;
  clientKey?: Buffer | undefined;
  /** What the server's audit log records as the client (default `keybox-cli/<version>`). */
  userAgent?: string | undefined;
}

/**
 * Where the server is and how to authenticate, first match wins:
 * - address: `--addr`, `KEYBOX_ADDR`, `SECRETS_API_URL`, `.keybox.json`, the `keybox login` session;
 * - credential: `KEYBOX_TOKEN`, `SECRETS_API_TOKEN`, the file in `KEYBOX_TOKEN_FILE`, the machine identity in
 *   `KEYBOX_CLIENT_ID` + `KEYBOX_CLIENT_SECRET` (or `KEYBOX_CLIENT_SECRET_FILE`), the `keybox login` session.
 * There is no `--token` flag on purpose: argv is visible to every user of the machine.
 */
export function resolveConnection(
  flags: { addr?: string | undefined },
  env: NodeJS.ProcessEnv,
  file: ProjectFile | undefined,
): Connection {
  // The session file is read only when nothing more explicit answers (not on a `run` with KEYBOX_TOKEN).
  let session: ReturnType<typeof readSession> | null = null;
  const sessionOnce = () => (session === null ? (session = readSession(env)) : session);
  const explicitAddr = first(flags.addr, env['KEYBOX_ADDR'], env['SECRETS_API_URL'], file?.addr);
  const addr = explicitAddr ?? sessionOnce()?.addr;
  if (addr === undefined) {
    throw new CliError('CREDENTIALS_MISSING', 'no Keybox server address', {
      hint: 'set KEYBOX_ADDR (or SECRETS_API_URL), e.g. export KEYBOX_ADDR=http://127.0.0.1:8210',
    });
  }
  const tls = tlsFromEnv(env);
  let token = first(env['KEYBOX_TOKEN'], env['SECRETS_API_TOKEN']);
  const tokenFile = first(env['KEYBOX_TOKEN_FILE']);
  if (token === undefined && tokenFile !== undefined) token = readSmallFile(tokenFile, 'KEYBOX_TOKEN_FILE').trim();
  if (token !== undefined && token !== '') return { addr, token, ...tls };

  const clientId = first(env['KEYBOX_CLIENT_ID']);
  let clientSecret = first(env['KEYBOX_CLIENT_SECRET']);
  const secretFile = first(env['KEYBOX_CLIENT_SECRET_FILE']);
  if (clientSecret === undefined && secretFile !== undefined) {
    clientSecret = readSmallFile(secretFile, 'KEYBOX_CLIENT_SECRET_FILE').trim();
  }
  if (clientId !== undefined && clientSecret !== undefined && clientSecret !== '') {
    return { addr, client: { id: clientId, secret: clientSecret }, ...tls };
  }
  if (clientId !== undefined || clientSecret !== undefined) {
    throw new CliError('CREDENTIALS_MISSING', 'KEYBOX_CLIENT_ID and KEYBOX_CLIENT_SECRET go together', {
      hint: 'set both (or KEYBOX_CLIENT_SECRET_FILE to a file holding the secret)',
    });
  }
  const saved = sessionOnce();
  if (saved !== undefined && (explicitAddr === undefined || sameServer(explicitAddr, saved.addr))) {
    return { addr, token: saved.token, ...tls };
  }
  throw new CliError('CREDENTIALS_MISSING', 'no Keybox credential', {
    hint: 'set KEYBOX_TOKEN (or SECRETS_API_TOKEN, KEYBOX_TOKEN_FILE), KEYBOX_CLIENT_ID + KEYBOX_CLIENT_SECRET, or run keybox login',
  });
}

/** The CA to trust and the client certificate for mutual TLS, from KEYBOX_CACERT, KEYBOX_CLIENT_CERT/KEY. */
export function tlsFromEnv(env: NodeJS.ProcessEnv): Pick<Connection, 'caCert' | 'clientCert' | 'clientKey'> {
  return {
    caCert: fileOf(env, 'KEYBOX_CACERT'),
    clientCert: fileOf(env, 'KEYBOX_CLIENT_CERT'),
    clientKey: fileOf(env, 'KEYBOX_CLIENT_KEY'),
  };
}

/** A client with a bearer token (the connection must carry one). */
export function connect(connection: Connection, timeoutMs?: number, token = connection.token): KeyboxClient {
  return createKeyboxClient({
    addr: connection.addr,
    token,
    caCert: connection.caCert,
    clientCert: connection.clientCert,
    clientKey: connection.clientKey,
    timeoutMs,
    userAgent: connection.userAgent ?? 'keybox-cli/0.1.0',
  });
}

/** A client ready to use: a machine identity first logs in for a short-lived access token. */
export async function openClient(connection: Connection, timeoutMs?: number): Promise<KeyboxClient> {
  if (connection.client === undefined) return connect(connection, timeoutMs);
  const login = await connect(connection, timeoutMs, undefined).login(connection.client.id, connection.client.secret);
  return connect(connection, timeoutMs, login.accessToken);
}

function sameServer(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

function fileOf(env: NodeJS.ProcessEnv, name: string): Buffer | undefined {
  const path = first(env[name]);
  return path === undefined ? undefined : Buffer.from(readSmallFile(path, name));
}

function readSmallFile(path: string, label: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(
      'CONFIG_INVALID',
      `${label}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

function first(...values: (string | undefined)[]): string | undefined {
  return values.find((v) => v !== undefined && v !== '');
}
