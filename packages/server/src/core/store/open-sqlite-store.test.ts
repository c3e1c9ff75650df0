import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTempStore } from '../../test-support/temp-store.js';
import { OTHERS_POLL_MS } from './node-sqlite-dialect.js';
import { SQLITE_FILE } from './open-sqlite-store.js';
import { TABLE_AREAS } from './store-changes.js';

let temp: Awaited<ReturnType<typeof openTempStore>>;
beforeEach(async () => {
  temp = await openTempStore();
});
afterEach(async () => {
  await temp.close();
});

/** Commits by other connections are seen within OTHERS_POLL_MS (docs/access.md); this waits a little longer. */
const afterPoll = () => new Promise((resolve) => setTimeout(resolve, OTHERS_POLL_MS + 2));
const now = () => new Date().toISOString();

async function addProject(slug: string) {
  await temp.db
    .insertInto('projects')
    .values({ id: slug, slug, name: slug, created_at: now(), updated_at: now() })
    .execute();
}

describe('the store version the read caches go by', () => {
  it('stays put while nothing changes, reads and audit entries included', async () => {
    const { changes, db } = temp.store;
    const at = changes.version('secrets');
    await db.selectFrom('projects').selectAll().execute();
    await db.transaction().execute(async (trx) => {
      await sql`insert into "audit_head" ("id", "seq", "mac") values (1, 0, 'x')`.execute(trx);
    });
    await afterPoll();
    expect(changes.version('secrets')).toBe(at);
  });

  it('moves on a write, at once, and again when its transaction commits', async () => {
    const { changes, db } = temp.store;
    const before = changes.version('secrets');
    await addProject('one');
    const afterAutocommit = changes.version('secrets');
    expect(afterAutocommit).toBeGreaterThan(before);

    let inside = 0;
    await db.transaction().execute(async (trx) => {
      await trx
        .updateTable('projects')
        .set({ name: 'renamed' } as never)
        .where('slug', '=', 'one')
        .execute();
      inside = changes.version('secrets');
    });
    expect(inside).toBeGreaterThan(afterAutocommit);
    expect(changes.version('secrets')).toBeGreaterThan(inside);
  });

  it('moves on a rolled-back write too (what was read meanwhile may be gone)', async () => {
    const { changes, db } = temp.store;
    let inside = 0;
    await expect(
      db.transaction().execute(async (trx) => {
        await trx
          .insertInto('projects')
          .values({ id: 'x', slug: 'x', name: 'x', created_at: now(), updated_at: now() })
          .execute();
        inside = changes.version('secrets');
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(changes.version('secrets')).toBeGreaterThan(inside);
  });

  it('moves only for the area written: tokens and policies, or folders and secrets', async () => {
    const { changes, db } = temp.store;
    const at = { access: changes.version('access'), secrets: changes.version('secrets') };
    await db
      .insertInto('policies')
      .values({
        name: 'p',
        description: '',
        rules: '[]',
        builtin: 0,
        created_at: now(),
        updated_at: now(),
        updated_by: 't',
      })
      .execute();
    expect(changes.version('access')).toBeGreaterThan(at.access);
    expect(changes.version('secrets')).toBe(at.secrets);
    const access = changes.version('access');
    await addProject('two');
    expect(changes.version('secrets')).toBeGreaterThan(at.secrets);
    expect(changes.version('access')).toBe(access);
    // Anything it cannot place (a schema change) moves both.
    const both = { access: changes.version('access'), secrets: changes.version('secrets') };
    await sql`create table "scratch" ("x" integer)`.execute(db);
    expect(changes.version('access')).toBeGreaterThan(both.access);
    expect(changes.version('secrets')).toBeGreaterThan(both.secrets);
  });

  it('moves within OTHERS_POLL_MS when another connection commits a change to its area, and only then', async () => {
    const { changes } = temp.store;
    const other = new DatabaseSync(join(temp.dataDir, SQLITE_FILE), { timeout: 5000 });
    const at = () => ({ access: changes.version('access'), secrets: changes.version('secrets') });
    try {
      // The audit writer's connection commits all the time under load: that drops no cache.
      let before = at();
      other.prepare('insert into audit_head (id, seq, mac) values (1, 0, ?)').run('y');
      await afterPoll();
      expect(at()).toEqual(before);

      before = at();
      other
        .prepare('insert into projects (id, slug, name, created_at, updated_at) values (?, ?, ?, ?, ?)')
        .run('p-other', 'other', 'other', now(), now());
      await afterPoll();
      expect(changes.version('secrets')).toBeGreaterThan(before.secrets);
      expect(changes.version('access')).toBe(before.access);

      before = at();
      other
        .prepare(
          'insert into policies (name, description, rules, builtin, created_at, updated_at, updated_by) values (?, ?, ?, ?, ?, ?, ?)',
        )
        .run('other', '', '[]', 0, now(), now(), 't');
      await afterPoll();
      expect(changes.version('access')).toBeGreaterThan(before.access);
      expect(changes.version('secrets')).toBe(before.secrets);

      // Every table a cache copies moves its area, on insert, update and delete alike.
      for (const [table, area] of Object.entries(TABLE_AREAS)) {
        if (area === 0) continue;
        const triggers = other
          .prepare("select name from sqlite_master where type = 'trigger' and tbl_name = ?")
          .all(table)
          .map((r) => r['name']);
        expect(triggers.sort(), table).toEqual(
          ['delete', 'insert', 'update'].map((e) => `keybox_generation_${table}_${e}`),
        );
      }
    } finally {
      other.close();
    }
  });
});

describe('the group commit', () => {
  const synchronous = async () =>
    (await sql<{ synchronous: number }>`pragma synchronous`.execute(temp.db)).rows[0]?.synchronous;

  it('commits, and leaves the connection syncing every other commit (synchronous=FULL)', async () => {
    expect(await synchronous()).toBe(2);
    const { result, durable } = await temp.store.groupCommit(async (trx) => {
      await sql`insert into "audit_head" ("id", "seq", "mac") values (1, 7, 'z')`.execute(trx);
      return 'done';
    });
    expect(result).toBe('done');
    await durable;
    expect(await temp.db.selectFrom('audit_head').selectAll().execute()).toEqual([{ id: 1, seq: 7, mac: 'z' }]);
    expect(await synchronous()).toBe(2);
  });

  it('rolls back a failed group and still restores synchronous=FULL', async () => {
    await expect(
      temp.store.groupCommit(async (trx) => {
        await sql`insert into "audit_head" ("id", "seq", "mac") values (1, 7, 'z')`.execute(trx);
        throw new Error('group failed');
      }),
    ).rejects.toThrow('group failed');
    expect(await temp.db.selectFrom('audit_head').selectAll().execute()).toEqual([]);
    expect(await synchronous()).toBe(2);
  });

  it('lets concurrent groups share syncs and all resolve', async () => {
    const groups = Array.from({ length: 20 }, (_, i) =>
      temp.store.groupCommit((trx) =>
        sql`insert into "audit_log" ("seq", "time", "actor", "actor_type", "source_ip", "user_agent", "action", "resource", "outcome", "request_id", "details", "mac") values (${i + 1}, '', '', '', '', '', '', '', '', '', '{}', '')`.execute(
          trx,
        ),
      ),
    );
    await Promise.all((await Promise.all(groups)).map((g) => g.durable));
    const count = await temp.db
      .selectFrom('audit_log')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(20);
  });
});
