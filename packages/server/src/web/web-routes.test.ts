import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../http/app.js';
import { createTestApp, type TestApp } from '../test-support/test-app.js';
import { UI_CSP } from './web-routes.js';

/* Serving the web UI: the shell on every page, the built files, the content security policy, and nothing else. */

let t: TestApp;
let webRoot: string;
beforeEach(async () => {
  t = await createTestApp();
  webRoot = mkdtempSync(join(tmpdir(), 'keybox-web-'));
});
afterEach(async () => {
  await t.close();
  rmSync(webRoot, { recursive: true, force: true });
});

function appWith(root: string) {
  return createApp({
    ...t.services,
    logger: pino({ level: 'silent' }),
    clock: t.clock,
    version: 'test',
    webRoot: root,
  });
}

function built() {
  writeFileSync(join(webRoot, 'app.js'), 'console.log("keybox")');
  writeFileSync(join(webRoot, 'app.css'), 'body{}');
  writeFileSync(join(webRoot, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  return appWith(webRoot);
}

describe('the web UI', () => {
  it('answers the same shell at / and on every page under /ui, with a policy that allows only its own files', async () => {
    const app = built();
    for (const path of ['/', '/ui', '/ui/projects', '/ui/projects/shop/dev?path=%2Fbackend', '/ui/audit']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toBe(UI_CSP);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const html = await res.text();
      expect(html).toContain('<script type="module" src="/ui/assets/app.js"></script>');
      // No inline script: every <script> names a file (the policy would refuse an inline one anyway).
      expect(html.match(/<script[^>]*>/g)).toEqual(['<script type="module" src="/ui/assets/app.js">']);
    }
    expect(UI_CSP).toContain("script-src 'self'");
    expect(UI_CSP).toContain("frame-ancestors 'none'");
    expect(UI_CSP).not.toContain('unsafe');
  });

  it('serves the built files with their types, and a 304 for what the browser has', async () => {
    const app = built();
    const js = await app.request('/ui/assets/app.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('no-cache');
    expect(await js.text()).toBe('console.log("keybox")');
    const etag = js.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    const again = await app.request('/ui/assets/app.js', { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect((await app.request('/ui/assets/app.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await app.request('/ui/assets/favicon.svg')).headers.get('content-type')).toBe('image/svg+xml');
  });

  it('serves nothing but the built files: no other name, no way out of the directory', async () => {
    mkdirSync(join(webRoot, 'sub'));
    writeFileSync(join(webRoot, 'sub', 'x.js'), 'no');
    writeFileSync(join(webRoot, 'notes.txt'), 'no');
    writeFileSync(join(webRoot, '.hidden.js'), 'no');
    // Server code that a build might leave beside the UI's files is not one of them.
    writeFileSync(join(webRoot, 'web-routes.js'), 'no');
    const app = built();
    for (const path of [
      '/ui/assets/notes.txt',
      '/ui/assets/.hidden.js',
      '/ui/assets/web-routes.js',
      '/ui/assets/missing.js',
      '/ui/assets/..%2F..%2Fetc%2Fpasswd',
      '/ui/assets/%2e%2e%2fkeybox.key',
    ]) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
    }
    // A deeper path is a page of the app (the shell), never a file.
    const deeper = await app.request('/ui/assets/sub/x.js');
    expect(await deeper.text()).toContain('<div id="app">');
  });

  it('says so when the UI was not built, and leaves the API alone', async () => {
    const app = appWith(webRoot);
    const res = await app.request('/');
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/npm run build/);
    expect((await app.request('/healthz')).status).toBe(200);
  });

  it('is not served at all when turned off (no web root)', async () => {
    const res = await t.app.request('/');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    expect((await t.app.request('/ui/projects')).status).toBe(404);
  });
});
