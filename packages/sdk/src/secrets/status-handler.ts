import { KeyboxError } from '../client/keybox-error.js';
import type { SecretsStatus } from './status-types.js';

/** Decides whether a request may see the status. Required: the page is for admins. */
export type Authorize<R> = (request: R) => boolean | Promise<boolean>;

export interface StatusHandlerOptions<R> {
  /**
   * Return true to allow. The status holds no values, but it tells anyone who can read it which secrets are
   * missing and where the files live; put it behind the app's admin check. `() => true` only behind your own auth.
   */
  authorize: Authorize<R>;
}

/** A response any framework can send: status code, headers and a JSON body. */
export interface StatusResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface StatusSource {
  status(): SecretsStatus;
}

const HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

/**
 * The status as a response: 200 when `ok`, 503 when a required secret is missing or invalid (so a plain HTTP monitor
 * alerts), 403 when `authorize` says no, 405 for anything but GET and HEAD. Never throws.
 *
 * @example
 * const { status, headers, body } = await renderStatus(secrets, { method: 'GET' }, { authorize: () => isAdmin });
 */
export async function renderStatus<R extends { method?: string | undefined }>(
  secrets: StatusSource,
  request: R,
  options: StatusHandlerOptions<R>,
): Promise<StatusResponse> {
  const method = (request.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') {
    return error(405, 'METHOD_NOT_ALLOWED', 'use GET', { allow: 'GET, HEAD' });
  }
  let allowed: boolean;
  try {
    allowed = (await options.authorize(request)) === true;
  } catch {
    return error(500, 'INTERNAL', 'the authorization check failed');
  }
  if (!allowed) return error(403, 'FORBIDDEN', 'not allowed to read the secrets status');
  let report: SecretsStatus;
  try {
    report = secrets.status();
  } catch {
    return error(500, 'INTERNAL', 'the secrets status could not be computed');
  }
  return { status: report.ok ? 200 : 503, headers: { ...HEADERS }, body: JSON.stringify(report) };
}

/**
 * A `(req, res)` handler for `node:http` and Express (and Fastify through `reply.raw`), e.g. at `/api/secrets/status`.
 *
 * @example
 * const handler = createStatusHandler(secrets, { authorize: (req) => isAdmin(req) });
 * app.get('/api/secrets/status', handler); // Express
 */
export function createStatusHandler<R extends { method?: string | undefined }>(
  secrets: StatusSource,
  options: StatusHandlerOptions<R>,
): (
  req: R,
  res: { writeHead(status: number, headers: Record<string, string>): unknown; end(body?: string): unknown },
) => Promise<void> {
  assertOptions(options);
  return async (req, res) => {
    const response = await renderStatus(secrets, req, options);
    res.writeHead(response.status, response.headers);
    res.end(req.method?.toUpperCase() === 'HEAD' ? undefined : response.body);
  };
}

/**
 * A fetch-style `(request) => Response` handler for Hono, Bun, Deno-style servers and Fastify with fetch adapters.
 *
 * @example
 * const handler = createFetchStatusHandler(secrets, { authorize: (request) => isAdmin(request.headers) });
 * app.get('/api/secrets/status', (c) => handler(c.req.raw)); // Hono
 */
export function createFetchStatusHandler(
  secrets: StatusSource,
  options: StatusHandlerOptions<Request>,
): (request: Request) => Promise<Response> {
  assertOptions(options);
  return async (request) => {
    const response = await renderStatus(secrets, request, options);
    const body = request.method.toUpperCase() === 'HEAD' ? null : response.body;
    return new Response(body, { status: response.status, headers: response.headers });
  };
}

function assertOptions(options: StatusHandlerOptions<never> | undefined): void {
  if (typeof options?.authorize !== 'function') {
    // A status page is for admins; an app that means it to be public says so with `authorize: () => true`.
    throw new KeyboxError(
      'CONFIG_INVALID',
      'the status handler needs options.authorize (the status page is for admins)',
    );
  }
}

function error(status: number, code: string, message: string, extra: Record<string, string> = {}): StatusResponse {
  return { status, headers: { ...HEADERS, ...extra }, body: JSON.stringify({ error: { code, message } }) };
}
