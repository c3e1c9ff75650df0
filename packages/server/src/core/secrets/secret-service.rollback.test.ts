import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appError, createServiceFixture, type ServiceFixture } from '../../test-support/service-fixture.js';

let f: ServiceFixture;
beforeEach(async () => {
  f = await createServiceFixture();
});
afterEach(async () => {
  await f.close();
});

/** The live values of the root folder, read one by one with get(). */
async function values(): Promise<Record<string, string>> {
  const live = await f.secrets.list(f.root);
  const entries = await Promise.all(
    live.map(async (s): Promise<[string, string]> => [s.name, (await f.secrets.get(f.root, s.name)).value]),
  );
  return Object.fromEntries(entries);
}

describe('rollback of one secret', () => {
  it('restores an old value as a new version that records where it came from', async () => {
    await f.set('A', 'one');
    await f.set('A', 'two');
    const result = await f.secrets.rollbackSecret(f.root, 'A', 1, { actor: 'carol' });
    expect(result).toEqual({ path: '/', revision: 3, results: [{ name: 'A', outcome: 'updated', version: 3 }] });
    expect(await f.secrets.get(f.root, 'A')).toMatchObject({ version: 3, value: 'one', updatedBy: 'carol' });
    expect((await f.secrets.history(f.root, 'A'))[0]).toMatchObject({ version: 3, op: 'rollback', restoredFrom: 1 });
    expect((await f.secrets.folderHistory(f.root))[0]).toMatchObject({ revision: 3, action: 'rollback A to v1' });
  });

  it('brings a deleted secret back', async () => {
    await f.set('A', 'one');
    await f.remove('A');
    expect((await f.secrets.rollbackSecret(f.root, 'A', 1, { actor: 'carol' })).results).toEqual([
      { name: 'A', outcome: 'created', version: 3 },
    ]);
    expect(await f.secrets.get(f.root, 'A')).toMatchObject({ value: 'one', deleted: false });
  });

  it('is unchanged when the old value is the current one', async () => {
    await f.set('A', 'one');
    await f.set('A', 'two');
    await f.set('A', 'one');
    const before = await f.snapshot();
    expect((await f.secrets.rollbackSecret(f.root, 'A', 1, { actor: 'carol' })).results[0]?.outcome).toBe('unchanged');
    expect(await f.snapshot()).toEqual(before);
  });

  it('refuses a deletion, a missing version and a stale ifVersion, writing nothing', async () => {
    await f.set('A', 'one');
    await f.remove('A');
    await f.set('A', 'three');
    const before = await f.snapshot();
    expect((await appError(f.secrets.rollbackSecret(f.root, 'A', 2, { actor: 'c' }))).code).toBe('INVALID_INPUT');
    expect((await appError(f.secrets.rollbackSecret(f.root, 'A', 9, { actor: 'c' }))).code).toBe('NOT_FOUND');
    const stale = await appError(f.secrets.rollbackSecret(f.root, 'A', 1, { actor: 'c', ifVersion: 2 }));
    expect(stale.code).toBe('CONFLICT');
    expect(await f.snapshot()).toEqual(before);
  });
});

describe('rollback of a folder', () => {
  // r1 A,B,C created; r2 A changed; r3 B deleted; r4 D created. One second between revisions.
  async function buildHistory() {
    await f.batch([
      { name: 'A', value: 'a1' },
      { name: 'B', value: 'b1' },
      { name: 'C', value: 'c1' },
    ]);
    f.clock.tick(1000);
    await f.set('A', 'a2');
    f.clock.tick(1000);
    await f.remove('B');
    f.clock.tick(1000);
    await f.set('D', 'd1');
    f.clock.tick(1000);
  }

  it('restores changed, deleted and newly created secrets in one new revision', async () => {
    await buildHistory();
    const result = await f.secrets.rollbackFolder(f.root, { toRevision: 1 }, { actor: 'carol' });
    expect(result).toMatchObject({ path: '/', revision: 5, restoredRevision: 1 });
    expect(byName(result.results)).toEqual([
      { name: 'A', outcome: 'updated', version: 3 },
      { name: 'B', outcome: 'created', version: 3 },
      { name: 'C', outcome: 'unchanged', version: 1 },
      { name: 'D', outcome: 'deleted', version: 2 },
    ]);
    expect(await values()).toEqual({ A: 'a1', B: 'b1', C: 'c1' });
    const [latest] = await f.secrets.folderHistory(f.root);
    expect(latest).toMatchObject({ revision: 5, action: 'rollback to r1', createdBy: 'carol' });
    expect(latest?.changes).toEqual([
      { name: 'A', version: 3, op: 'rollback' },
      { name: 'B', version: 3, op: 'rollback' },
      { name: 'D', version: 2, op: 'delete' },
    ]);
    expect((await f.secrets.history(f.root, 'B'))[0]).toMatchObject({ op: 'rollback', restoredFrom: 1 });
  });

  it('restores the state at a point in time', async () => {
    await buildHistory();
    // Half a second after r2 was written: A changed, B not yet deleted, D not yet created.
    const result = await f.secrets.rollbackFolder(f.root, { toTime: '2026-01-01T00:00:01.500Z' }, { actor: 'c' });
    expect(result.restoredRevision).toBe(2);
    expect(result.revision).toBe(5);
    expect(await values()).toEqual({ A: 'a2', B: 'b1', C: 'c1' });
  });

  it('counts a revision written exactly at the given time, whatever the time zone of the given time', async () => {
    await buildHistory();
    // r3 (B deleted) was written at 00:00:02Z, given here as 01:00:02 at UTC+1.
    const result = await f.secrets.rollbackFolder(f.root, { toTime: '2026-01-01T01:00:02+01:00' }, { actor: 'c' });
    expect(result.restoredRevision).toBe(3);
    expect(await values()).toEqual({ A: 'a2', C: 'c1' });
  });

  it('restores an empty folder for a time before its first write', async () => {
    await buildHistory();
    const result = await f.secrets.rollbackFolder(f.root, { toTime: '2025-12-31T23:59:59Z' }, { actor: 'c' });
    expect(result.restoredRevision).toBe(0);
    expect(await values()).toEqual({});
    expect(await f.secrets.listFolders(f.root)).toMatchObject([{ revision: 5, secretCount: 0 }]);
  });

  it('makes no revision when the folder is already in the target state', async () => {
    await buildHistory();
    const before = await f.snapshot();
    const result = await f.secrets.rollbackFolder(f.root, { toRevision: 4 }, { actor: 'c' });
    expect(result.revision).toBe(4);
    expect(result.results.every((r) => r.outcome === 'unchanged')).toBe(true);
    expect(await f.snapshot()).toEqual(before);
  });

  it('refuses an out-of-range revision, a bad time, no target and a stale ifRevision', async () => {
    await buildHistory();
    const before = await f.snapshot();
    const rollback = (target: { toRevision?: number; toTime?: string }, ifRevision?: number) =>
      appError(f.secrets.rollbackFolder(f.root, target, { actor: 'c', ifRevision }));
    expect((await rollback({ toRevision: 5 })).code).toBe('INVALID_INPUT');
    expect((await rollback({ toRevision: -1 })).code).toBe('INVALID_INPUT');
    expect((await rollback({ toTime: 'yesterday' })).code).toBe('INVALID_INPUT');
    expect((await rollback({})).code).toBe('INVALID_INPUT');
    expect((await rollback({ toRevision: 1 }, 3)).code).toBe('CONFLICT');
    expect(await f.snapshot()).toEqual(before);
  });
});

describe('destroying a version', () => {
  it('removes the value but keeps the history row', async () => {
    await f.set('A', 'old');
    await f.set('A', 'new');
    f.clock.tick(5000);
    await f.secrets.destroyVersion(f.root, 'A', 1, { actor: 'dave' });

    const error = await appError(f.secrets.get(f.root, 'A', 1));
    expect(error.code).toBe('VALUE_DESTROYED');
    expect(await f.secrets.get(f.root, 'A')).toMatchObject({ version: 2, value: 'new' });
    expect((await f.secrets.history(f.root, 'A'))[1]).toEqual({
      version: 1,
      op: 'set',
      createdAt: '2026-01-01T00:00:00.000Z',
      createdBy: 'alice',
      folderRevision: 1,
      restoredFrom: null,
      destroyed: true,
      destroyedAt: '2026-01-01T00:00:05.000Z',
      destroyedBy: 'dave',
    });
    const rows = await f.t.store.db.selectFrom('secret_versions').select(['version', 'value', 'key_id']).execute();
    expect(rows.find((r) => r.version === 1)).toEqual({ version: 1, value: null, key_id: null });
  });

  it('is idempotent', async () => {
    await f.set('A', 'old');
    await f.set('A', 'new');
    await f.secrets.destroyVersion(f.root, 'A', 1, { actor: 'dave' });
    f.clock.tick(1000);
    await f.secrets.destroyVersion(f.root, 'A', 1, { actor: 'erin' });
    expect((await f.secrets.history(f.root, 'A'))[1]).toMatchObject({ destroyed: true, destroyedBy: 'dave' });
  });

  it('refuses the live version, a deletion and a missing version', async () => {
    await f.set('A', 'old');
    await f.remove('A');
    await f.set('A', 'live');
    const before = await f.snapshot();
    const live = await appError(f.secrets.destroyVersion(f.root, 'A', 3, { actor: 'd' }));
    expect(live.code).toBe('CONFLICT');
    expect((await appError(f.secrets.destroyVersion(f.root, 'A', 2, { actor: 'd' }))).code).toBe('INVALID_INPUT');
    expect((await appError(f.secrets.destroyVersion(f.root, 'A', 4, { actor: 'd' }))).code).toBe('NOT_FOUND');
    expect(await f.snapshot()).toEqual(before);
  });

  it('allows destroying the last value of a deleted secret', async () => {
    await f.set('A', 'gone');
    await f.remove('A');
    await f.secrets.destroyVersion(f.root, 'A', 1, { actor: 'd' });
    expect((await appError(f.secrets.get(f.root, 'A', 1))).code).toBe('VALUE_DESTROYED');
  });

  it('makes a rollback to the destroyed version fail with VALUE_DESTROYED', async () => {
    await f.set('A', 'old');
    f.clock.tick(1000);
    await f.set('A', 'new');
    await f.secrets.destroyVersion(f.root, 'A', 1, { actor: 'd' });
    const before = await f.snapshot();
    expect((await appError(f.secrets.rollbackSecret(f.root, 'A', 1, { actor: 'c' }))).code).toBe('VALUE_DESTROYED');
    const folder = await appError(f.secrets.rollbackFolder(f.root, { toRevision: 1 }, { actor: 'c' }));
    expect(folder.code).toBe('VALUE_DESTROYED');
    expect(folder.details).toEqual({ name: 'A', version: 1 });
    expect(await f.snapshot()).toEqual(before);
  });
});

function byName<T extends { name: string }>(items: T[]): T[] {
  return [...items].sort((a, b) => (a.name < b.name ? -1 : 1));
}
