import type { App } from './app.js';
import { directBulkRead, requestIdOf, type DirectBulkReadDeps, type Listener } from './direct-bulk-read.js';
import { errorBody } from './error-handler.js';
import { SECURITY_HEADERS } from './http-contract.js';

/*
 * What `keybox server` (and the tests that need a real port) listen with: the direct reads and health check
 * (direct-bulk-read.ts), then the app.
 *
 * The app's node:http adapter is loaded with the first request that reaches the app, not at start: it makes the
 * web-standard Request and Response classes, and the first touch of those loads Node's fetch implementation
 * (undici, with its WebAssembly HTTP parser): +13 MiB of resident memory in a bare node:http server, +5 MiB in
 * this one (measured 2026-12-07). A server that only answers health checks and reads never needs it.
 */
export function createListener(app: App, deps: DirectBulkReadDeps): Listener {
  let adapter: Listener | undefined;
  let loading: Promise<Listener> | undefined;
  const toApp: Listener = (req, res) => {
    if (adapter !== undefined) {
      adapter(req, res);
      return;
    }
    loading ??= import('@hono/node-server').then(({ getRequestListener }) => {
      const hono = getRequestListener(app.fetch);
      // The adapter answers its own errors; its promise only says when it is done.
      adapter = (q, s) => void hono(q, s);
      return adapter;
    });
    loading.then(
      (ready) => ready(req, res),
      (error: unknown) => {
        // Tried again with the next request (a file replaced under a running server, say).
        loading = undefined;
        const requestId = requestIdOf(req);
        deps.logger.error({ err: error, requestId }, 'the HTTP adapter could not be loaded');
        const body = JSON.stringify(errorBody('INTERNAL', 'internal error', requestId));
        res.writeHead(500, { 'content-type': 'application/json', ...SECURITY_HEADERS, 'x-request-id': requestId });
        res.end(body);
      },
    );
  };
  return directBulkRead(deps, toApp);
}
