import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createServiceFixture, type ServiceFixture } from '../../test-support/service-fixture.js';
import { createTestDatabase, onPostgres } from '../../test-support/test-store.js';
import { openPostgresStore } from './postgres-store.js';
import type { Store } from './store.js';

/*
 * What the PostgreSQL store adds to the schema and queries both stores share (run in vitest's postgres project):
 * hearing of other servers' commits, and reading without caches while it cannot; the start-up lock; numbers and
 * byte order as SQLite gives them.
 */

/** Retries `check` until it passes: another server hears of a commit within milliseconds, give it 10 s. */
const eventually = (check: () => void | Promise<void>) => vi.waitFor(check, { timeout: 10000, interval: 20 });

describe.skipIf(!onPostgres)('the PostgreSQL store', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  const stores: Store[] = [];
  const warnings: string[] = [];
  const open = async () => {
    const store = await openPostgresStore(database.url, { poolSize: 2, onWarning: (m) => warnings.push(m) });
    stores.push(store);
    return store;
  };

  beforeEach(async () => {
    database = await createTestDatabase();
    warnings.length = 0;
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await database.drop();
  });

  const project = (db: Store['db'], slug: string) =>
    db.insertInto('projects').values({ id: slug, slug, name: slug, created_at: 'now', updated_at: 'now' }).execute();

  it('moves only the area another server changed, once that commit is made', async () => {
    const here = await open();
    const there = await open();
    const secrets = here.changes.version('secrets');
    const access = here.changes.version('access');
    await project(there.db, 'shop');
    await eventually(() => expect(here.changes.version('secrets')).toBeGreaterThan(secrets));
    expect(here.changes.version('access')).toBe(access);
    // Inside a transaction: nothing is heard before the commit.
    const before = here.changes.version('access');
    await there.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('policies')
        .values({
          name: 'p',
          description: '',
          rules: '[]',
          builtin: 0,
          created_at: 'x',
          updated_at: 'x',
          updated_by: 'x',
        })
        .execute();
      await new Promise((r) => setTimeout(r, 100));
      expect(here.changes.version('access')).toBe(before);
    });
    await eventually(() => expect(here.changes.version('access')).toBeGreaterThan(before));
  });

  it('trusts no cached copy while it cannot hear other servers, and listens again', async () => {
    const here = await open();
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const killed = await admin.query<{ n: number }>(
        `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
         where datname = current_database() and query like 'listen %'`,
      );
      expect(killed.rows[0]?.n).toBe(1);
      await eventually(() => expect(warnings.join('\n')).toMatch(/lost the PostgreSQL change notifications/));
      // Deaf: every look at the version is a new one, so a cache never finds its entry current.
      const seen = new Set(Array.from({ length: 3 }, () => here.changes.version('secrets')));
      if (!warnings.some((w) => /are back/.test(w))) expect(seen.size).toBe(3);
      await eventually(() => expect(warnings.join('\n')).toMatch(/change notifications are back/));
      const settled = here.changes.version('secrets');
      expect(here.changes.version('secrets')).toBe(settled);
      // And it hears again.
      await project((await open()).db, 'after');
      await eventually(() => expect(here.changes.version('secrets')).toBeGreaterThan(settled));
    } finally {
      await admin.end();
    }
  });

  it('prepares a statement again after another server changed its table, failing it only once', async () => {
    const store = await openPostgresStore(database.url, { poolSize: 1 });
    stores.push(store);
    await project(store.db, 'shop');
    const read = () => store.db.selectFrom('projects').selectAll().where('slug', '=', 'shop').execute();
    expect(await read()).toHaveLength(1);
    // A migration by a newer server: the statement prepared on this connection no longer matches its result type.
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    await admin.query('alter table projects add column extra text');
    await admin.end();
    await expect(read()).rejects.toMatchObject({ code: '0A000' });
    expect(await read()).toEqual([expect.objectContaining({ slug: 'shop', extra: null })]);
    expect(await read()).toHaveLength(1);
  });

  it('runs one start-up block at a time across servers', async () => {
    const a = await open();
    const b = await open();
    const order: string[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const first = a.exclusive(async () => {
      order.push('a in');
      await held;
      order.push('a out');
    });
    await eventually(() => expect(order).toEqual(['a in']));
    const second = b.exclusive(async () => {
      order.push('b in');
      return Promise.resolve();
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(order).toEqual(['a in']);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['a in', 'a out', 'b in']);
  });

  it('makes the schema once when servers open an empty database together', async () => {
    await database.drop();
    database = await createTestDatabase({ empty: true });
    const [a, b] = await Promise.all([open(), open()]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(a.describe).toMatch(/^postgres 127\.0\.0\.1:\d+\/keybox_t_/);
    expect(a.describe).not.toContain('keybox@');
  });
});

describe.skipIf(!onPostgres)('the services on PostgreSQL', () => {
  let f: ServiceFixture;
  beforeEach(async () => {
    f = await createServiceFixture();
  });
  afterEach(async () => {
    await f.close();
  });

  it('lists names in byte order, as on SQLite, whatever the database locale', async () => {
    await f.batch(['b', 'B', 'a', 'A', '_x', 'Z9', 'z'].map((name) => ({ name: `K_${name}`, value: 'v' })));
    const names = (await f.secrets.list(f.root)).map((s) => s.name);
    expect(names).toEqual([...names].sort());
    const collations = await sql<{ collation_name: string | null }>`
      select collation_name from information_schema.columns where table_name = 'secrets' and column_name = 'name'`.execute(
      f.t.store.db,
    );
    expect(collations.rows[0]?.collation_name).toBe('C');
  });

  it('counts with numbers, not the strings PostgreSQL sends for bigint', async () => {
    expect(await f.t.services.tokens.count()).toBe(1);
    await f.t.services.projects.create({ slug: 'blog' });
    const status = await f.t.services.status();
    expect(status.counts).toMatchObject({ projects: 2, environments: 6 });
    expect(status.audit?.entries).toEqual(expect.any(Number));
  });
});
