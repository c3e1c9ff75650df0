import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { ApiErrorBody, BulkReadResponse } from '../contract/api-types.js';
import { isApiErrorCode } from '../contract/error-codes.js';
import { loadHttp, loadHttps } from './builtins.js';
import { KeyboxError } from './keybox-error.js';

export interface ClientOptions {
  /** Base URL of the server, e.g. `https://keybox.internal:8210` (a path prefix is kept). */
  addr: string;
  /** Bearer token; never put into a URL or an error message. */
  token?: string | undefined;
  /** Extra CA certificates (PEM) to trust, e.g. the contents of `KEYBOX_CACERT`. */
  caCert?: string | Buffer | undefined;
  /** A client certificate and key (PEM) for servers that require mutual TLS. */
  clientCert?: string | Buffer | undefined;
  clientKey?: string | Buffer | undefined;
  /** Whole-request timeout. Default 30 s. */
  timeoutMs?: number | undefined;
  userAgent?: string | undefined;
}

export type QueryValue = string | number | boolean | readonly string[] | undefined;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  headers?: Record<string, string>;
  /** This request's whole-request timeout, instead of the client's (a long poll waits longer). */
  timeoutMs?: number;
  /**
   * Receives the body of a 2xx answer as it arrives, with no size limit (a download): `text` is then empty. Writes
   * that return a promise are waited for before more is read. Other answers are read as usual.
   */
  sink?: (chunk: Buffer) => void | Promise<void>;
  /**
   * More headers, decided once the connection is up from how long setting it up took (ms; for a reused keep-alive
   * connection, how long it took then): e.g. whether a conditional request is worth it that far away.
   */
  headersOnConnect?: (connectMs: number) => Record<string, string>;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface BulkReadScope {
  project: string;
  env: string;
  paths: readonly string[];
  recursive?: boolean;
}

export type BulkReadResult =
  { notModified: true; etag: string } | { notModified: false; etag: string | undefined; data: BulkReadResponse };

const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** How long each connection took to set up (TCP, before any TLS handshake); kept-alive sockets are shared by clients. */
const connectMs = new WeakMap<object, number>();

/**
 * A small HTTP client for the Keybox API on `node:http`/`node:https`: no dependencies and nothing loaded that
 * `keybox run` does not need.
 *
 * @example
 * const client = createKeyboxClient({ addr: 'http://127.0.0.1:8210', token: process.env.KEYBOX_TOKEN });
 * const bulk = await client.bulkRead({ project: 'shop', env: 'dev', paths: ['/backend'] });
 */
export function createKeyboxClient(options: ClientOptions) {
  const base = parseAddr(options.addr);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const userAgent = options.userAgent ?? 'keybox-sdk';

  function raw(method: string, path: string, request: RequestOptions = {}): Promise<RawResponse> {
    const url = new URL(base.href);
    url.pathname = `${base.pathname.replace(/\/$/, '')}${path}`;
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value === undefined) continue;
      if (typeof value === 'object') for (const item of value) url.searchParams.append(key, item);
      else url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': userAgent,
      ...request.headers,
    };
    if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
    let payload: Buffer | undefined;
    if (request.body !== undefined) {
      payload = Buffer.from(JSON.stringify(request.body), 'utf8');
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const isHttps = url.protocol === 'https:';
    const transport = isHttps ? loadHttps() : loadHttp();

    return new Promise<RawResponse>((resolve, reject) => {
      // Why we cut the exchange short, if we did: the socket errors that follow must not hide it.
      let abort: KeyboxError | undefined;
      const fail = (error: Error) => {
        clearTimeout(timer);
        reject(abort ?? (error instanceof KeyboxError ? error : toNetworkError(error, base.origin)));
      };
      const req = transport.request(
        url,
        {
          method,
          headers,
          ...(isHttps && options.caCert !== undefined ? { ca: options.caCert } : {}),
          ...(isHttps && options.clientCert !== undefined ? { cert: options.clientCert, key: options.clientKey } : {}),
        },
        (res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          const sink = request.sink;
          if (sink !== undefined && status >= 200 && status < 300) {
            void (async () => {
              try {
                for await (const chunk of res) await sink(chunk as Buffer);
                clearTimeout(timer);
                resolve({ status, headers: res.headers, text: '' });
              } catch (error) {
                // The sink's own failure (a full disk) is the caller's to report as it is; a broken connection
                // is a network error like any other.
                clearTimeout(timer);
                req.destroy();
                const failure = error instanceof Error ? error : new Error(String(error));
                reject(
                  abort ??
                    (failure instanceof KeyboxError || !isSocketError(failure)
                      ? failure
                      : toNetworkError(failure, base.origin)),
                );
              }
            })();
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              abort = new KeyboxError('BAD_RESPONSE', 'the server sent a response over 64 MiB');
              req.destroy(abort);
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            clearTimeout(timer);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            });
          });
          res.on('error', fail);
        },
      );
      // One timer for the whole exchange: a server that trickles bytes cannot hold the caller past it.
      const limit = request.timeoutMs ?? timeoutMs;
      const timer = setTimeout(() => {
        abort = new KeyboxError('TIMEOUT', `no answer from Keybox at ${base.origin} within ${limit} ms`);
        req.destroy(abort);
      }, limit);
      req.on('error', fail);
      const onConnect = request.headersOnConnect;
      // Nothing is sent before the connection is up anyway: headersOnConnect's are decided then.
      req.once('socket', (socket) => {
        const send = (ms: number) => {
          if (onConnect === undefined) return;
          for (const [name, value] of Object.entries(onConnect(ms))) req.setHeader(name, value);
          req.end(payload);
        };
        if (!socket.connecting) {
          send(connectMs.get(socket) ?? Number.POSITIVE_INFINITY);
          return;
        }
        const started = performance.now();
        socket.once('connect', () => {
          const ms = performance.now() - started;
          connectMs.set(socket, ms);
          send(ms);
        });
      });
      if (onConnect === undefined) req.end(payload);
    });
  }

  async function request<T>(method: string, path: string, request: RequestOptions = {}): Promise<T> {
    const res = await raw(method, path, request);
    if (res.status >= 200 && res.status < 300) {
      if (res.status === 204 || res.text === '') return undefined as T;
      return parseJson<T>(res);
    }
    throw toApiError(res);
  }

  /**
   * The hot path of `keybox run`: one request for every secret in scope. With `etag`, an unchanged bundle comes
   * back as `notModified` without a body. `etag` may be a function of how long the connection took to set up
   * (ms), called once it is up: none (undefined) asks for the content whatever it is.
   */
  async function bulkRead(
    scope: BulkReadScope,
    opts: { etag?: string | ((connectMs: number) => string | undefined) } = {},
  ): Promise<BulkReadResult> {
    const ifNoneMatch = opts.etag;
    const conditional = (value: string | undefined): Record<string, string> =>
      value === undefined ? {} : { 'if-none-match': value };
    const res = await raw('GET', '/api/v1/secrets', {
      query: {
        project: scope.project,
        env: scope.env,
        path: scope.paths,
        recursive: scope.recursive === true ? 'true' : undefined,
      },
      ...(typeof ifNoneMatch === 'function'
        ? { headersOnConnect: (ms: number) => conditional(ifNoneMatch(ms)) }
        : { headers: conditional(ifNoneMatch) }),
    });
    const etag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
    if (res.status === 304 && etag !== undefined) return { notModified: true, etag };
    if (res.status !== 200) throw toApiError(res);
    return { notModified: false, etag, data: parseJson<BulkReadResponse>(res) };
  }

  /**
   * Waits (long poll, up to `waitSeconds`) until the scope's ETag differs from `etag`; resolves with the new ETag
   * and whether it changed. The request's own timeout is set past the wait.
   */
  async function watch(
    scope: BulkReadScope,
    etag: string | undefined,
    waitSeconds = 25,
  ): Promise<{ changed: boolean; etag: string }> {
    return request<{ changed: boolean; etag: string }>('GET', '/api/v1/secrets/watch', {
      timeoutMs: Math.max(timeoutMs, (waitSeconds + 15) * 1000),
      query: {
        project: scope.project,
        env: scope.env,
        path: scope.paths,
        recursive: scope.recursive === true ? 'true' : undefined,
        etag,
        wait: String(waitSeconds),
      },
    });
  }

  /**
   * Exchanges a machine identity's client id and secret for a short-lived access token (`POST /api/v1/auth/login`).
   * Use the token with a new client: `createKeyboxClient({ ...options, token: accessToken })`.
   */
  async function login(clientId: string, clientSecret: string): Promise<AccessToken> {
    return request<AccessToken>('POST', '/api/v1/auth/login', { body: { clientId, clientSecret } });
  }

  return { addr: base.origin, raw, request, bulkRead, watch, login };
}

/** What `POST /api/v1/auth/login` returns. */
export interface AccessToken {
  accessToken: string;
  tokenType: 'Bearer';
  /** Seconds until the token expires (renewable up to `maxTtl`). */
  expiresIn: number;
  maxTtl: number;
  /** 0: unlimited. */
  uses: number;
  identity: string;
}

export type KeyboxClient = ReturnType<typeof createKeyboxClient>;

function parseAddr(addr: string): URL {
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    throw new KeyboxError(
      'CONFIG_INVALID',
      `the Keybox address "${maskAddr(addr)}" is not a URL (expected e.g. http://127.0.0.1:8210)`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KeyboxError(
      'CONFIG_INVALID',
      `the Keybox address "${maskAddr(addr)}" must start with http:// or https://`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    // Credentials in a URL end up in logs and process lists; the token goes in a header instead.
    throw new KeyboxError('CONFIG_INVALID', 'the Keybox address must not contain credentials; use KEYBOX_TOKEN');
  }
  url.search = '';
  url.hash = '';
  return url;
}

/** An address as it may be shown: anything before an `@` (a user name and password) is masked. */
function maskAddr(addr: string): string {
  const at = addr.lastIndexOf('@');
  if (at === -1) return addr.slice(0, 200);
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(addr)?.[0] ?? '';
  return `${scheme}***${addr.slice(at, 200)}`;
}

function parseJson<T>(res: RawResponse): T {
  try {
    return JSON.parse(res.text) as T;
  } catch {
    throw new KeyboxError('BAD_RESPONSE', `the server answered ${res.status} with a body that is not JSON`, {
      status: res.status,
    });
  }
}

/** The error an answer that is not a success stands for (its JSON error body, or the bare status). */
export function toApiError(res: RawResponse): KeyboxError {
  let body: Partial<ApiErrorBody> | undefined;
  try {
    body = JSON.parse(res.text) as Partial<ApiErrorBody>;
  } catch {
    body = undefined;
  }
  const error = body?.error;
  if (error !== undefined && isApiErrorCode(error.code)) {
    return new KeyboxError(error.code, error.message, {
      status: res.status,
      requestId: error.requestId,
      ...(error.details === undefined ? {} : { details: error.details }),
    });
  }
  return new KeyboxError('BAD_RESPONSE', `the server answered HTTP ${res.status} without a Keybox error body`, {
    status: res.status,
  });
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed',
};

/** An error from the connection (reset, aborted) rather than from what the caller did with the data. */
function isSocketError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    (code.startsWith('ECONN') || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR')
  );
}

function toNetworkError(error: Error & { code?: string }, origin: string): KeyboxError {
  const code = error.code ?? '';
  const reason = NETWORK_REASONS[code];
  if (reason !== undefined) {
    return new KeyboxError('UNREACHABLE', `cannot reach Keybox at ${origin}: ${reason}`, { cause: error });
  }
  if (code.startsWith('ERR_TLS') || code.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    return new KeyboxError(
      'UNREACHABLE',
      `TLS with Keybox at ${origin} failed (${code}); set KEYBOX_CACERT to the CA that signed the server certificate`,
      { cause: error },
    );
  }
  return new KeyboxError('UNREACHABLE', `cannot reach Keybox at ${origin}: ${code || error.message}`, {
    cause: error,
  });
}
