import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Hono, type Context } from 'hono';
import type { HttpEnv } from '../http/http-env.js';

/*
 * The web admin UI: one HTML shell for every page under /ui (the app routes in the browser) and its built files
 * (dist/web-ui, made by `npm run build` from src/web/app). The UI is a client of the native API like any other, signed in
 * with a session cookie (http/routes/session-routes.ts); nothing here reads the store.
 *
 * The policy allows only this origin's own script and style files: no inline script, no eval, no other origin, no
 * framing. The files are read on first use, not at start-up (a server that nobody browses keeps its memory).
 */

export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const SHELL = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <title>Keybox</title>
    <link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml">
    <link rel="stylesheet" href="/ui/assets/app.css">
    <script type="module" src="/ui/assets/app.js"></script>
  </head>
  <body>
    <div id="app"></div>
    <noscript>Keybox's web UI needs JavaScript. The CLI (keybox --help) and the API do everything the UI does.</noscript>
  </body>
</html>
`;

/** The only files served: what the UI's build makes, nothing else that may sit in the directory. */
const ASSETS: Readonly<Record<string, string>> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
}

export interface WebRouteDeps {
  /** The built UI's directory; when it holds no app.js, every page is a 503 saying so. */
  webRoot: string;
}

function etagOf(body: Uint8Array): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
}

export function webRoutes({ webRoot }: WebRouteDeps) {
  const app = new Hono<HttpEnv>();
  let assets: Promise<Map<string, Asset>> | undefined;
  const shellBody = new TextEncoder().encode(SHELL);
  const shell: Asset = { body: shellBody, type: 'text/html; charset=utf-8', etag: etagOf(shellBody) };

  async function load(): Promise<Map<string, Asset>> {
    const found = new Map<string, Asset>();
    for (const [name, type] of Object.entries(ASSETS)) {
      let body: Uint8Array<ArrayBuffer>;
      try {
        body = new Uint8Array(await readFile(join(webRoot, name)));
      } catch {
        continue;
      }
      found.set(name, { body, type, etag: etagOf(body) });
    }
    return found;
  }
  const loaded = () => (assets ??= load());

  // Revalidated on every use (no-cache, with an ETag): a server upgrade is seen at once, and a 304 costs little.
  function send(c: Context<HttpEnv>, asset: Asset) {
    c.header('content-security-policy', UI_CSP);
    c.header('cache-control', 'no-cache');
    c.header('etag', asset.etag);
    if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304);
    c.header('content-type', asset.type);
    return c.body(asset.body);
  }

  async function page(c: Context<HttpEnv>) {
    if (!(await loaded()).has('app.js')) {
      c.header('content-security-policy', UI_CSP);
      return c.text('The web UI is not built: run `npm run build`. The API answers under /api/v1/.', 503);
    }
    return send(c, shell);
  }

  app.get('/', page);
  app.get('/ui', page);
  app.get('/ui/assets/:name', async (c) => {
    const asset = (await loaded()).get(c.req.param('name'));
    if (asset === undefined) return c.text('not found', 404);
    return send(c, asset);
  });
  app.get('/ui/*', page);
  return app;
}
