import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openSqliteStore } from '../store/open-sqlite-store.js';
import { createTempDir, openTempStore } from '../../test-support/temp-store.js';
import { onPostgres } from '../../test-support/test-store.js';
import { audited } from './tx-audit.js';

/*
 * A change is committed, then synced to disk off the event loop (store/open-sqlite-store.ts): whoever awaits it
 * must not go on (answer a client) before the sync is done, and the audit hook hears of both moments.
 */

let temp: Awaited<ReturnType<typeof openTempStore>>;
beforeEach(async () => {
  temp = await openTempStore();
});
afterEach(async () => {
  await temp.close();
});

const now = () => new Date().toISOString();

describe('audited', () => {
  it('resolves only once the change is on disk, and tells the hook when it is', async () => {
    let synced = false;
    let told: Promise<void> | undefined;
    const result = await audited(
      temp.db,
      () =>
        Promise.resolve((durable: Promise<void>) => {
          told = durable;
          void durable.then(() => (synced = true));
        }),
      async (trx) => {
        await trx
          .insertInto('projects')
          .values({ id: 'p', slug: 'p', name: 'p', created_at: now(), updated_at: now() })
          .execute();
        return 'done';
      },
    );
    expect(result).toBe('done');
    expect(told).toBeInstanceOf(Promise);
    expect(synced).toBe(true);
    expect(await temp.db.selectFrom('projects').select('slug').execute()).toEqual([{ slug: 'p' }]);
  });

  // SQLite's commit-then-sync; PostgreSQL's commit is durable as it stands.
  it.skipIf(onPostgres)('leaves the connection syncing inside every other commit (synchronous=FULL)', async () => {
    await audited(temp.db, undefined, async (trx) => {
      await trx
        .insertInto('projects')
        .values({ id: 'p', slug: 'p', name: 'p', created_at: now(), updated_at: now() })
        .execute();
    });
    const { rows } = await sql<{ synchronous: number }>`pragma synchronous`.execute(temp.db);
    expect(rows[0]?.synchronous).toBe(2);
  });

  it.skipIf(onPostgres)(
    'lets a change still syncing finish when the store closes under it (a client that went away)',
    async () => {
      let lost: unknown;
      const dir = createTempDir();
      const store = await openSqliteStore(dir.path, { onDurabilityLost: (error) => (lost = error) });
      try {
        // Several changes, so that syncs are under way and queued behind each other when the store closes.
        const writes = Array.from({ length: 8 }, (_, i) =>
          audited(store.db, undefined, async (trx) => {
            await trx
              .insertInto('projects')
              .values({ id: `q${i}`, slug: `q${i}`, name: 'q', created_at: now(), updated_at: now() })
              .execute();
          }),
        );
        await new Promise((resolve) => setImmediate(resolve));
        await Promise.all([...writes, store.close()]);
        expect(lost).toBeUndefined();
      } finally {
        dir.remove();
      }
    },
  );

  it('commits nothing and tells the hook nothing when the work fails', async () => {
    let told = false;
    await expect(
      audited(
        temp.db,
        () =>
          Promise.resolve(() => {
            told = true;
          }),
        async (trx) => {
          await trx
            .insertInto('projects')
            .values({ id: 'p', slug: 'p', name: 'p', created_at: now(), updated_at: now() })
            .execute();
          throw new Error('no');
        },
      ),
    ).rejects.toThrow('no');
    expect(told).toBe(false);
    expect(await temp.db.selectFrom('projects').selectAll().execute()).toEqual([]);
  });
});
