import { getRequestListener } from '@hono/node-server';
import type { App } from './app.js';
import { directBulkRead, type DirectBulkReadDeps, type Listener } from './direct-bulk-read.js';

/** What `keybox server` (and the tests that need a real port) listen with: the direct bulk read, then the app. */
export function createListener(app: App, deps: DirectBulkReadDeps): Listener {
  const hono = getRequestListener(app.fetch);
  // The adapter answers its own errors; its promise only says when it is done.
  return directBulkRead(deps, (req, res) => void hono(req, res));
}
