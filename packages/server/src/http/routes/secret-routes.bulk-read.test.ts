import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTestApp, expectError, listIn, type ApiTestApp } from '../../test-support/api-test-app.js';

let t: ApiTestApp;
let tricky: string;
beforeEach(async () => {
  t = await createApiTestApp();
  await t.services.projects.create({ slug: 'app' });
  tricky = `${t.canary()} "quoted" \\ back\nline ✓ \u2028`;
  const put = (path: string, changes: { name: string; value: string }[]) =>
    t.call('POST', `/api/v1/projects/app/environments/dev/secrets?path=${path}`, { changes });
  await put('/', [
    { name: 'SHARED', value: 'root' },
    { name: 'ONLY_ROOT', value: tricky },
  ]);
  await put('/api', [
    { name: 'SHARED', value: 'api' },
    { name: 'B', value: 'b' },
  ]);
  await put('/api/v2', [{ name: 'SHARED', value: 'v2' }]);
  await put('/other', [{ name: 'C', value: 'c' }]);
});
afterEach(async () => {
  await t.close();
});

const read = (query: string, headers: Record<string, string> = {}) =>
  t.call('GET', `/api/v1/secrets?project=app&env=dev${query}`, undefined, { headers });
const paths = (res: Parameters<typeof listIn>[0]) => listIn<{ path: string }>(res, 'folders').map((f) => f.path);

describe('GET /api/v1/secrets', () => {
  it('returns the live secrets of the root folder by default', async () => {
    const res = await read('');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json).toEqual({
      project: 'app',
      environment: 'dev',
      folders: [
        {
          path: '/',
          revision: 1,
          secrets: [
            { name: 'ONLY_ROOT', value: tricky, version: 1 },
            { name: 'SHARED', value: 'root', version: 1 },
          ],
        },
      ],
    });
  });

  it('leaves deleted secrets out', async () => {
    await t.call('DELETE', '/api/v1/projects/app/environments/dev/secrets/B?path=/api');
    const res = await read('&path=/api');
    expect(res.json['folders']).toEqual([
      { path: '/api', revision: 2, secrets: [{ name: 'SHARED', value: 'api', version: 1 }] },
    ]);
  });

  it('orders folders as the repeated path parameters are given', async () => {
    expect(paths(await read('&path=/api&path=/'))).toEqual(['/api', '/']);
    expect(paths(await read('&path=/&path=/api'))).toEqual(['/', '/api']);
  });

  it('returns the folder then its descendants, shallower first, when recursive', async () => {
    expect(paths(await read('&path=/api&recursive=true'))).toEqual(['/api', '/api/v2']);
    expect(paths(await read('&recursive=1'))).toEqual(['/', '/api', '/other', '/api/v2']);
  });

  it('moves a folder named by two requests to its last place', async () => {
    expect(paths(await read('&path=/other&path=/api&path=/other'))).toEqual(['/api', '/other']);
  });

  it('does not take a sibling whose name starts with the path as a descendant', async () => {
    await t.call('PUT', '/api/v1/projects/app/environments/dev/secrets/X?path=/api-old', { value: 'x' });
    await t.call('PUT', '/api/v1/projects/app/environments/dev/secrets/X?path=/api.bak', { value: 'x' });
    expect(paths(await read('&path=/api&recursive=true'))).toEqual(['/api', '/api/v2']);
  });
});

describe('ETag', () => {
  it('answers 304 with an empty body for a matching If-None-Match', async () => {
    const first = await read('&path=/api');
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    const again = await read('&path=/api', { 'if-none-match': etag! });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
    expect(again.headers.get('etag')).toBe(etag);
    expect(again.headers.get('x-request-id')).toBeTruthy();
    expect((await read('&path=/api', { 'if-none-match': `"other", ${etag!}` })).status).toBe(304);
  });

  // BUG (core/secrets/secret-service.ts, bulkRead, the If-None-Match check): RFC 9110 §13.1.2 says If-None-Match
  // compares weakly, so W/"x" matches "x". A proxy that compresses responses (nginx with gzip on) weakens the ETag it
  // passes on, and the server then never answers 304 to clients behind it.
  it('answers 304 for the weak form of its ETag', async () => {
    const etag = (await read('&path=/api')).headers.get('etag')!;
    expect((await read('&path=/api', { 'if-none-match': `W/${etag}` })).status).toBe(304);
  });

  it('changes after a write in scope and not after a write outside it or an unchanged write', async () => {
    const etag = (await read('&path=/api&recursive=true')).headers.get('etag')!;
    await t.call('PUT', '/api/v1/projects/app/environments/dev/secrets/C?path=/other', { value: 'c2' });
    await t.call('PUT', '/api/v1/projects/app/environments/dev/secrets/B?path=/api', { value: 'b' });
    expect((await read('&path=/api&recursive=true', { 'if-none-match': etag })).status).toBe(304);

    await t.call('PUT', '/api/v1/projects/app/environments/dev/secrets/SHARED?path=/api/v2', { value: 'v2-new' });
    const after = await read('&path=/api&recursive=true', { 'if-none-match': etag });
    expect(after.status).toBe(200);
    expect(after.headers.get('etag')).not.toBe(etag);
    expect(after.json['folders'][1]['secrets']).toEqual([{ name: 'SHARED', value: 'v2-new', version: 2 }]);
  });

  it('changes when a new folder appears in a recursive scope', async () => {
    const etag = (await read('&path=/api&recursive=true')).headers.get('etag')!;
    await t.call('PUT', '/api/v1/projects/app/environments/dev/secrets/N?path=/api/v3', { value: 'n' });
    const after = await read('&path=/api&recursive=true', { 'if-none-match': etag });
    expect(after.status).toBe(200);
    expect(paths(after)).toEqual(['/api', '/api/v2', '/api/v3']);
  });

  it('differs between scopes that return the same folders in another order or mode', async () => {
    const tags = await Promise.all(
      ['&path=/api&path=/', '&path=/&path=/api', '&path=/api', '&path=/api/v2&recursive=true', '&path=/api/v2'].map(
        async (q) => (await read(q)).headers.get('etag'),
      ),
    );
    expect(new Set(tags).size).toBe(tags.length);
  });
});

describe('errors', () => {
  it('says which of project, environment or folder does not exist', async () => {
    const none = await t.call('GET', '/api/v1/secrets?project=none&env=dev');
    expectError(none, 'NOT_FOUND', 'project "none" does not exist');
    expectError(
      await read('').then(() => t.call('GET', '/api/v1/secrets?project=app&env=qa')),
      'NOT_FOUND',
      'environment "qa" does not exist in project "app"',
    );
    expectError(await read('&path=/missing'), 'NOT_FOUND', 'folder /missing does not exist in app/dev');
    expectError(await read('&path=/api&path=/missing'), 'NOT_FOUND', 'folder /missing does not exist in app/dev');
  });

  it('refuses missing parameters and an invalid path', async () => {
    expectError(await t.call('GET', '/api/v1/secrets?env=dev'), 'INVALID_INPUT', /project/);
    expectError(await read('&path=relative'), 'INVALID_INPUT');
    expectError(await read('&recursive=yes'), 'INVALID_INPUT');
  });

  it('needs a token', async () => {
    expectError(
      await t.call('GET', '/api/v1/secrets?project=app&env=dev', undefined, { token: null }),
      'UNAUTHENTICATED',
    );
  });
});
