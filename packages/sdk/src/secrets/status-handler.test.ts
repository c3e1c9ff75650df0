import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSecrets } from './create-secrets.js';
import { createFetchStatusHandler, createStatusHandler } from './status-handler.js';
import type { SecretsStatus } from './status-types.js';

const manifest = { items: { DB_URL: {}, LOG_LEVEL: { secret: false, required: false } } };
const ready = createSecrets(manifest, { env: { DB_URL: 'postgres://db' }, keybox: false });
const missing = createSecrets(manifest, { env: {}, keybox: false });
const ADMIN = 'Bearer admin-token';

let server: Server | undefined;
afterEach(async () => {
  const running = server;
  server = undefined;
  if (running === undefined) return;
  running.closeAllConnections();
  await new Promise((resolve) => running.close(resolve));
});

/** Mounts the node handler on a real node:http server and returns its URL. */
async function serve(handler: ReturnType<typeof createStatusHandler<IncomingMessage>>): Promise<string> {
  server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server?.address() as AddressInfo).port}/api/secrets/status`;
}

const isAdmin = (req: IncomingMessage) => req.headers.authorization === ADMIN;

describe('createStatusHandler (node:http, Express)', () => {
  it('answers an authorised GET with the status, 200 and cache-control: no-store', async () => {
    const url = await serve(createStatusHandler(ready, { authorize: isAdmin }));
    const res = await fetch(url, { headers: { authorization: ADMIN } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = (await res.json()) as SecretsStatus;
    expect(body).toMatchObject({ ok: true, items: [{ name: 'DB_URL', present: true, source: 'env' }, {}] });
  });

  it('answers 503 while a required secret is missing, so a plain HTTP monitor alerts', async () => {
    const url = await serve(createStatusHandler(missing, { authorize: isAdmin }));
    const res = await fetch(url, { headers: { authorization: ADMIN } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as SecretsStatus).items[0]?.problems[0]?.code).toBe('MISSING');
  });

  it('refuses a request the authorize callback rejects with 403 and no status', async () => {
    const url = await serve(createStatusHandler(ready, { authorize: isAdmin }));
    const res = await fetch(url, { headers: { authorization: 'Bearer someone-else' } });
    expect(res.status).toBe(403);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({
      error: { code: 'FORBIDDEN', message: 'not allowed to read the secrets status' },
    });
  });

  it('answers 500 without detail when the authorize callback throws', async () => {
    const authorize = () => Promise.reject(new Error('session store down at 10.0.0.7'));
    const url = await serve(createStatusHandler(ready, { authorize }));
    const res = await fetch(url);
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('10.0.0.7');
  });

  it('sends headers without a body to HEAD, and 405 to other methods', async () => {
    const url = await serve(createStatusHandler(ready, { authorize: () => true }));
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(url, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('cannot be created without an authorize callback', () => {
    expect(() => createStatusHandler(ready, {} as never)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('createFetchStatusHandler (Hono, fetch-style servers)', () => {
  const handler = createFetchStatusHandler(ready, {
    authorize: (request) => request.headers.get('authorization') === ADMIN,
  });

  it('returns a Response with the status and no-store', async () => {
    const res = await handler(new Request('http://app/api/secrets/status', { headers: { authorization: ADMIN } }));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(((await res.json()) as SecretsStatus).ok).toBe(true);
  });

  it('returns 403 when not authorised', async () => {
    const res = await handler(new Request('http://app/api/secrets/status'));
    expect(res.status).toBe(403);
  });

  it('cannot be created without an authorize callback', () => {
    expect(() => createFetchStatusHandler(ready, {} as never)).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});
