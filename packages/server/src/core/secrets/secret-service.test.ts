import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appError, createServiceFixture, type ServiceFixture } from '../../test-support/service-fixture.js';

let f: ServiceFixture;
beforeEach(async () => {
  f = await createServiceFixture();
});
afterEach(async () => {
  await f.close();
});

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:00:01.000Z';

describe('versions', () => {
  it('records every set as a new version with who and when', async () => {
    expect(await f.set('API_KEY', 'one', { actor: 'alice' })).toEqual({
      path: '/',
      revision: 1,
      results: [{ name: 'API_KEY', outcome: 'created', version: 1 }],
    });
    f.clock.tick(1000);
    expect((await f.set('API_KEY', 'two', { actor: 'bob' })).results).toEqual([
      { name: 'API_KEY', outcome: 'updated', version: 2 },
    ]);

    expect(await f.secrets.history(f.root, 'API_KEY')).toEqual([
      {
        version: 2,
        op: 'set',
        createdAt: T1,
        createdBy: 'bob',
        folderRevision: 2,
        restoredFrom: null,
        destroyed: false,
        destroyedAt: null,
        destroyedBy: null,
      },
      {
        version: 1,
        op: 'set',
        createdAt: T0,
        createdBy: 'alice',
        folderRevision: 1,
        restoredFrom: null,
        destroyed: false,
        destroyedAt: null,
        destroyedBy: null,
      },
    ]);
    expect(await f.secrets.get(f.root, 'API_KEY')).toEqual({
      name: 'API_KEY',
      path: '/',
      version: 2,
      deleted: false,
      createdAt: T0,
      updatedAt: T1,
      updatedBy: 'bob',
      value: 'two',
    });
    expect(await f.secrets.get(f.root, 'API_KEY', 1)).toMatchObject({ version: 1, value: 'one', updatedBy: 'alice' });
  });

  it('treats the same value again as unchanged: no new version and no folder revision', async () => {
    await f.set('API_KEY', 'same');
    const before = await f.snapshot();
    f.clock.tick(1000);
    expect(await f.set('API_KEY', 'same', { actor: 'bob' })).toEqual({
      path: '/',
      revision: 1,
      results: [{ name: 'API_KEY', outcome: 'unchanged', version: 1 }],
    });
    expect(await f.snapshot()).toEqual(before);
  });

  it('writes a whole batch as one folder revision', async () => {
    const first = await f.batch([
      { name: 'A', value: 'a1' },
      { name: 'B', value: 'b1' },
      { name: 'C', value: 'c1' },
    ]);
    expect(first.revision).toBe(1);
    const second = await f.batch([
      { name: 'A', value: 'a2' },
      { name: 'B', value: 'b1' },
      { name: 'C', delete: true },
      { name: 'D', value: 'd1' },
    ]);
    expect(second).toEqual({
      path: '/',
      revision: 2,
      results: [
        { name: 'A', outcome: 'updated', version: 2 },
        { name: 'B', outcome: 'unchanged', version: 1 },
        { name: 'C', outcome: 'deleted', version: 2 },
        { name: 'D', outcome: 'created', version: 1 },
      ],
    });
    const revisions = await f.secrets.folderHistory(f.root);
    expect(revisions.map((r) => [r.revision, r.action, r.changes])).toEqual([
      [
        2,
        'set',
        [
          { name: 'A', version: 2, op: 'set' },
          { name: 'C', version: 2, op: 'delete' },
          { name: 'D', version: 1, op: 'set' },
        ],
      ],
      [1, 'set', ['A', 'B', 'C'].map((name) => ({ name, version: 1, op: 'set' }))],
    ]);
    expect(await f.secrets.listFolders(f.root)).toMatchObject([{ path: '/', revision: 2, secretCount: 3 }]);
  });

  it('refuses duplicate names in one batch and writes nothing', async () => {
    await f.set('A', 'a1');
    const before = await f.snapshot();
    const error = await appError(
      f.batch([
        { name: 'B', value: 'b1' },
        { name: 'A', value: 'a2' },
        { name: 'A', delete: true },
      ]),
    );
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toBe('A appears twice in one write');
    expect(await f.snapshot()).toEqual(before);
  });

  it('refuses an empty batch and an invalid name', async () => {
    expect((await appError(f.batch([]))).code).toBe('INVALID_INPUT');
    expect((await appError(f.set('1BAD', 'x'))).code).toBe('INVALID_INPUT');
    expect((await appError(f.set('BAD-NAME', 'x'))).message).not.toContain('BAD-NAME');
  });

  it('creates a folder on its first write and keeps folders apart', async () => {
    const api = { ...f.root, path: '/api/' };
    await f.set('A', 'root');
    await f.set('A', 'api', { scope: api });
    expect(await f.secrets.get(f.root, 'A')).toMatchObject({ path: '/', value: 'root', version: 1 });
    expect(await f.secrets.get(api, 'A')).toMatchObject({ path: '/api', value: 'api', version: 1 });
    expect((await f.secrets.listFolders(f.root)).map((x) => [x.path, x.revision])).toEqual([
      ['/', 1],
      ['/api', 1],
    ]);
  });
});

describe('concurrent writers', () => {
  it('serialises concurrent writes to one folder, one revision and one version each', async () => {
    const scope = { ...f.root, path: '/busy' };
    const writes = Array.from({ length: 20 }, (_, i) => f.set(`N${i % 5}`, `value-${i}`, { scope }));
    const results = await Promise.all(writes);
    expect(results.map((r) => r.revision).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect((await f.secrets.list(scope)).map((s) => [s.name, s.version])).toEqual(
      ['N0', 'N1', 'N2', 'N3', 'N4'].map((name) => [name, 4]),
    );
  });
});

describe('soft delete', () => {
  it('keeps the history, hides the secret from the list and says it is deleted', async () => {
    await f.set('A', 'kept');
    await f.set('B', 'other');
    f.clock.tick(1000);
    expect((await f.remove('A')).results).toEqual([{ name: 'A', outcome: 'deleted', version: 2 }]);

    expect((await f.secrets.list(f.root)).map((s) => s.name)).toEqual(['B']);
    expect(await f.secrets.list(f.root, { includeDeleted: true })).toMatchObject([
      { name: 'A', version: 2, deleted: true, updatedAt: T1 },
      { name: 'B', version: 1, deleted: false },
    ]);
    const error = await appError(f.secrets.get(f.root, 'A'));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('is deleted');
    expect(error.details).toMatchObject({ name: 'A', deleted: true });
    expect(await f.secrets.get(f.root, 'A', 1)).toMatchObject({ value: 'kept', deleted: true });
    expect((await appError(f.secrets.get(f.root, 'A', 2))).message).toContain('is a deletion');
    expect((await f.secrets.history(f.root, 'A')).map((v) => [v.version, v.op])).toEqual([
      [2, 'delete'],
      [1, 'set'],
    ]);
  });

  it('recreates a deleted secret as a new version of the same history', async () => {
    await f.set('A', 'first');
    await f.remove('A');
    expect((await f.set('A', 'first')).results).toEqual([{ name: 'A', outcome: 'created', version: 3 }]);
    expect(await f.secrets.get(f.root, 'A')).toMatchObject({ value: 'first', version: 3, deleted: false });
  });

  it('refuses to delete a secret that does not exist or is already deleted', async () => {
    await f.set('A', 'a');
    await f.remove('A');
    const before = await f.snapshot();
    expect((await appError(f.remove('A'))).code).toBe('NOT_FOUND');
    expect((await appError(f.remove('NEVER'))).code).toBe('NOT_FOUND');
    expect(await f.snapshot()).toEqual(before);
  });
});

describe('check-and-set', () => {
  it('refuses a stale ifVersion with CONFLICT and leaves the whole batch unwritten', async () => {
    await f.batch([
      { name: 'A', value: 'a1' },
      { name: 'B', value: 'b1' },
    ]);
    await f.set('B', 'b2');
    const before = await f.snapshot();
    const error = await appError(
      f.batch([
        { name: 'A', value: 'a2', ifVersion: 1 },
        { name: 'B', value: 'b3', ifVersion: 1 },
      ]),
    );
    expect(error.code).toBe('CONFLICT');
    expect(error.details).toEqual({ name: 'B', version: 2, expected: 1 });
    expect(await f.snapshot()).toEqual(before);
  });

  it('uses ifVersion 0 to mean "create only"', async () => {
    expect((await f.set('A', 'a1', { ifVersion: 0 })).results[0]?.outcome).toBe('created');
    const before = await f.snapshot();
    expect((await appError(f.set('A', 'a2', { ifVersion: 0 }))).code).toBe('CONFLICT');
    expect((await appError(f.remove('A', { ifVersion: 0 }))).code).toBe('CONFLICT');
    expect(await f.snapshot()).toEqual(before);
    expect((await f.remove('A', { ifVersion: 1 })).results[0]).toEqual({ name: 'A', outcome: 'deleted', version: 2 });
  });

  it('refuses a stale ifRevision with CONFLICT and leaves everything unchanged', async () => {
    await f.set('A', 'a1');
    await f.set('A', 'a2');
    const before = await f.snapshot();
    const error = await appError(f.batch([{ name: 'B', value: 'b1' }], { ifRevision: 1 }));
    expect(error.code).toBe('CONFLICT');
    expect(error.details).toEqual({ path: '/', revision: 2, expected: 1 });
    expect(await f.snapshot()).toEqual(before);
    expect((await f.batch([{ name: 'B', value: 'b1' }], { ifRevision: 2 })).revision).toBe(3);
  });
});
