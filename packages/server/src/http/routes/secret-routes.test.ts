import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTestApp, expectError, listIn, type ApiTestApp } from '../../test-support/api-test-app.js';

let t: ApiTestApp;
beforeEach(async () => {
  t = await createApiTestApp();
  await t.services.projects.create({ slug: 'app' });
});
afterEach(async () => {
  await t.close();
});

const base = '/api/v1/projects/app/environments/dev';
const T0 = '2026-01-01T00:00:00.000Z';

describe('one secret', () => {
  it('sets, reads, updates and reads an old version', async () => {
    const first = t.canary();
    const second = t.canary();
    expect((await t.call('PUT', `${base}/secrets/API_KEY`, { value: first })).json).toEqual({
      path: '/',
      revision: 1,
      results: [{ name: 'API_KEY', outcome: 'created', version: 1 }],
    });
    t.clock.tick(1000);
    await t.call('PUT', `${base}/secrets/API_KEY`, { value: second, ifVersion: 1 });

    const current = await t.call('GET', `${base}/secrets/API_KEY`);
    expect(current.headers.get('cache-control')).toBe('no-store');
    expect(current.json).toEqual({
      secret: {
        name: 'API_KEY',
        path: '/',
        version: 2,
        deleted: false,
        createdAt: T0,
        updatedAt: '2026-01-01T00:00:01.000Z',
        updatedBy: 'token:admin',
        value: second,
      },
    });
    expect((await t.call('GET', `${base}/secrets/API_KEY?version=1`)).json['secret']).toMatchObject({ value: first });
    expectError(await t.call('GET', `${base}/secrets/API_KEY?version=9`), 'NOT_FOUND');
    expectError(await t.call('GET', `${base}/secrets/API_KEY?version=one`), 'INVALID_INPUT');
  });

  it('reads and writes in the folder given by ?path', async () => {
    await t.call('PUT', `${base}/secrets/A?path=/api/v2`, { value: 'deep' });
    expect((await t.call('GET', `${base}/secrets/A?path=/api/v2/`)).json['secret']).toMatchObject({
      path: '/api/v2',
      value: 'deep',
    });
    expectError(await t.call('GET', `${base}/secrets/A`), 'NOT_FOUND', 'secret A does not exist in /');
    expectError(await t.call('GET', `${base}/secrets/A?path=api`), 'INVALID_INPUT', /must start with \//);
  });

  it('answers CONFLICT for a stale ifVersion or ifRevision', async () => {
    await t.call('PUT', `${base}/secrets/A`, { value: 'a1' });
    const stale = await t.call('PUT', `${base}/secrets/A`, { value: t.canary(), ifVersion: 0 });
    expectError(stale, 'CONFLICT', 'A is at version 1, not 0');
    expect(stale.json['error']['details']).toEqual({ name: 'A', version: 1, expected: 0 });
    expectError(await t.call('PUT', `${base}/secrets/A`, { value: t.canary(), ifRevision: 0 }), 'CONFLICT');
    expectError(await t.call('DELETE', `${base}/secrets/A?ifVersion=7`), 'CONFLICT');
    expectError(await t.call('DELETE', `${base}/secrets/A?ifRevision=7`), 'CONFLICT');
    expect((await t.call('GET', `${base}/secrets/A`)).json['secret']).toMatchObject({ version: 1, value: 'a1' });
  });

  it('deletes softly and keeps the versions', async () => {
    await t.call('PUT', `${base}/secrets/A`, { value: 'a1' });
    expect((await t.call('DELETE', `${base}/secrets/A?ifVersion=1`)).json['results']).toEqual([
      { name: 'A', outcome: 'deleted', version: 2 },
    ]);
    const gone = await t.call('GET', `${base}/secrets/A`);
    expectError(gone, 'NOT_FOUND', /is deleted/);
    expect(gone.json['error']['details']).toEqual({ name: 'A', path: '/', deleted: true });
    expect((await t.call('GET', `${base}/secrets`)).json).toEqual({ secrets: [] });
    expect((await t.call('GET', `${base}/secrets?deleted=true`)).json['secrets']).toMatchObject([
      { name: 'A', deleted: true, version: 2 },
    ]);
    const versions = await t.call('GET', `${base}/secrets/A/versions`);
    expect(listIn<{ version: number; op: string }>(versions, 'versions').map((v) => [v.version, v.op])).toEqual([
      [2, 'delete'],
      [1, 'set'],
    ]);
    expectError(await t.call('DELETE', `${base}/secrets/A`), 'NOT_FOUND');
  });

  it('rolls a secret back to an old version', async () => {
    const old = t.canary();
    await t.call('PUT', `${base}/secrets/A`, { value: old });
    await t.call('PUT', `${base}/secrets/A`, { value: 'new' });
    const res = await t.call('POST', `${base}/secrets/A/rollback`, { toVersion: 1 });
    expect(res.json).toEqual({ path: '/', revision: 3, results: [{ name: 'A', outcome: 'updated', version: 3 }] });
    expect((await t.call('GET', `${base}/secrets/A`)).json['secret']).toMatchObject({ value: old, version: 3 });
    expect((await t.call('GET', `${base}/secrets/A/versions`)).json['versions'][0]).toMatchObject({
      op: 'rollback',
      restoredFrom: 1,
      createdBy: 'token:admin',
    });
    expectError(await t.call('POST', `${base}/secrets/A/rollback`, { toVersion: 0 }), 'INVALID_INPUT');
    expectError(await t.call('POST', `${base}/secrets/A/rollback`, { toVersion: 1, ifVersion: 1 }), 'CONFLICT');
  });

  it('destroys an old version: 410 on read and on rollback, the live version refused', async () => {
    await t.call('PUT', `${base}/secrets/A`, { value: t.canary() });
    await t.call('PUT', `${base}/secrets/A`, { value: t.canary() });
    const destroyed = await t.call('POST', `${base}/secrets/A/versions/1/destroy`);
    expect(destroyed.status).toBe(204);
    expect(destroyed.text).toBe('');
    expectError(await t.call('GET', `${base}/secrets/A?version=1`), 'VALUE_DESTROYED');
    expectError(await t.call('POST', `${base}/secrets/A/rollback`, { toVersion: 1 }), 'VALUE_DESTROYED');
    expectError(await t.call('POST', `${base}/secrets/A/versions/2/destroy`), 'CONFLICT');
    expectError(await t.call('POST', `${base}/secrets/A/versions/x/destroy`), 'INVALID_INPUT');
    expect((await t.call('GET', `${base}/secrets/A/versions`)).json['versions'][1]).toMatchObject({
      version: 1,
      destroyed: true,
      destroyedBy: 'token:admin',
    });
  });

  it('answers NOT_FOUND naming the missing project or environment', async () => {
    expectError(
      await t.call('GET', '/api/v1/projects/none/environments/dev/secrets/A'),
      'NOT_FOUND',
      'project "none" does not exist',
    );
    expectError(
      await t.call('PUT', '/api/v1/projects/app/environments/qa/secrets/A', { value: t.canary() }),
      'NOT_FOUND',
      'environment "qa" does not exist in project "app"',
    );
  });
});

describe('batches and lists', () => {
  it('applies a batch as one revision and lists recursively', async () => {
    const res = await t.call('POST', `${base}/secrets?path=/api`, {
      changes: [
        { name: 'A', value: 'a' },
        { name: 'B', value: 'b' },
      ],
      ifRevision: 0,
    });
    expect(res.json).toEqual({
      path: '/api',
      revision: 1,
      results: [
        { name: 'A', outcome: 'created', version: 1 },
        { name: 'B', outcome: 'created', version: 1 },
      ],
    });
    await t.call('PUT', `${base}/secrets/ROOT`, { value: 'r' });
    const all = await t.call('GET', `${base}/secrets?recursive=true`);
    expect(listIn<{ path: string; name: string }>(all, 'secrets').map((s) => `${s.path}:${s.name}`)).toEqual([
      '/:ROOT',
      '/api:A',
      '/api:B',
    ]);
    expect(all.text).not.toContain('"value"');
  });

  it('refuses a batch with duplicate names, no changes, or an unknown field, writing nothing', async () => {
    const dup = await t.call('POST', `${base}/secrets`, {
      changes: [
        { name: 'A', value: t.canary() },
        { name: 'A', delete: true },
      ],
    });
    expectError(dup, 'INVALID_INPUT', 'A appears twice in one write');
    expectError(await t.call('POST', `${base}/secrets`, { changes: [] }), 'INVALID_INPUT');
    const mixed = { changes: [{ name: 'A', value: t.canary(), delete: true }] };
    expectError(await t.call('POST', `${base}/secrets`, mixed), 'INVALID_INPUT');
    expect((await t.call('GET', `${base}/folders`)).json['folders']).toMatchObject([{ path: '/', revision: 0 }]);
  });

  it('answers NOT_FOUND when listing a folder that does not exist', async () => {
    expectError(
      await t.call('GET', `${base}/secrets?path=/missing`),
      'NOT_FOUND',
      'folder /missing does not exist in app/dev',
    );
  });
});

describe('folders', () => {
  it('lists folders, shows their history and rolls one back', async () => {
    await t.call('PUT', `${base}/secrets/A?path=/svc`, { value: 'a1' });
    t.clock.tick(1000);
    await t.call('PUT', `${base}/secrets/B?path=/svc`, { value: t.canary() });
    t.clock.tick(1000);
    await t.call('PUT', `${base}/secrets/A?path=/svc`, { value: 'a2' });

    const folders = await t.call('GET', `${base}/folders`);
    expect(
      listIn<{ path: string; revision: number; secretCount: number }>(folders, 'folders').map((f) => [
        f.path,
        f.revision,
        f.secretCount,
      ]),
    ).toEqual([
      ['/', 0, 0],
      ['/svc', 3, 2],
    ]);
    const history = await t.call('GET', `${base}/folders/history?path=/svc&limit=2`);
    expect(history.json['revisions']).toEqual([
      {
        revision: 3,
        createdAt: '2026-01-01T00:00:02.000Z',
        createdBy: 'token:admin',
        action: 'set',
        changes: [{ name: 'A', version: 2, op: 'set' }],
      },
      {
        revision: 2,
        createdAt: '2026-01-01T00:00:01.000Z',
        createdBy: 'token:admin',
        action: 'set',
        changes: [{ name: 'B', version: 1, op: 'set' }],
      },
    ]);

    const rollback = await t.call('POST', `${base}/folders/rollback?path=/svc`, { toRevision: 1, ifRevision: 3 });
    expect(rollback.json).toMatchObject({ path: '/svc', revision: 4, restoredRevision: 1 });
    expect(
      listIn<{ name: string }>(await t.call('GET', `${base}/secrets?path=/svc`), 'secrets').map((s) => s.name),
    ).toEqual(['A']);
    expect((await t.call('GET', `${base}/secrets/A?path=/svc`)).json['secret']).toMatchObject({ value: 'a1' });

    const byTime = await t.call('POST', `${base}/folders/rollback?path=/svc`, { toTime: '2026-01-01T00:00:01.500Z' });
    expect(byTime.json).toMatchObject({ revision: 5, restoredRevision: 2 });
  });

  it('refuses a folder rollback with both or neither target, a stale revision or an unknown folder', async () => {
    await t.call('PUT', `${base}/secrets/A`, { value: 'a' });
    const url = `${base}/folders/rollback`;
    expectError(await t.call('POST', url, {}), 'INVALID_INPUT', /exactly one of toRevision, toTime/);
    expectError(await t.call('POST', url, { toRevision: 0, toTime: T0 }), 'INVALID_INPUT');
    expectError(await t.call('POST', url, { toRevision: 0, ifRevision: 0 }), 'CONFLICT');
    expectError(await t.call('POST', `${url}?path=/none`, { toRevision: 0 }), 'NOT_FOUND');
    expectError(await t.call('GET', `${base}/folders/history?path=/none`), 'NOT_FOUND');
  });
});
