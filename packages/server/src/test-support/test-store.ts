import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sql } from 'kysely';
import pg from 'pg';
import { openPostgresStore, PG_LOCK_NAMESPACE, PG_WRITER_LOCK } from '../core/store/postgres-store.js';
import { openSqliteStore, SQLITE_FILE } from '../core/store/open-sqlite-store.js';
import type { Store } from '../core/store/store.js';

/*
 * Which store the tests run on. The default project runs every test on SQLite; vitest's `postgres` project
 * (vitest.config.ts) runs the server's tests again on PostgreSQL, with KEYBOX_TEST_STORE=postgres and the cluster
 * that test-support/postgres-setup.ts starts. Each test gets a database of its own, copied from a migrated template.
 */
export const TEST_STORE: 'sqlite' | 'postgres' =
  process.env['KEYBOX_TEST_STORE'] === 'postgres' ? 'postgres' : 'sqlite';
export const onPostgres = TEST_STORE === 'postgres';

/** The template every test database is copied from (created and migrated by postgres-setup.ts). */
export const PG_TEMPLATE = 'keybox_template';

function clusterUrl(): string {
  const url = process.env['KEYBOX_TEST_PG_URL'];
  if (url === undefined)
    throw new Error('KEYBOX_TEST_PG_URL is not set: run the postgres project (vitest --project postgres)');
  return url;
}

export function databaseUrl(name: string): string {
  const url = new URL(clusterUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

let admin: pg.Pool | undefined;

/** A fresh database on the test cluster, copied from the migrated template (`empty`: with no schema at all). */
export async function createTestDatabase(
  options: { empty?: boolean } = {},
): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  admin ??= new pg.Pool({ connectionString: clusterUrl(), max: 2, allowExitOnIdle: true });
  const pool = admin;
  const name = `keybox_t_${randomBytes(6).toString('hex')}`;
  await pool.query(`create database ${name} template ${options.empty === true ? 'template0' : PG_TEMPLATE}`);
  return {
    name,
    url: databaseUrl(name),
    async drop() {
      await pool.query(`drop database if exists ${name} with (force)`);
    },
  };
}

/** A test's store: that of TEST_STORE, with `reopen` for a second server on the same database. */
export interface TestStore {
  store: Store;
  /**
   * Runs one statement (`?` placeholders) on a connection of its own, synchronously, as another server or a
   * hand-edit of the database would: SQLite through node:sqlite, PostgreSQL through psql.
   */
  writeElsewhere: (statement: string, parameters?: readonly (string | number | null)[]) => void;
  /** Holds the store's write lock from another connection (as a second server's open transaction would). */
  holdWriteLock: () => Promise<() => Promise<void>>;
  /** Another store on the same database, as a second server would open it. */
  reopen: () => Promise<Store>;
  /** Closes the store and removes its database (the data dir is the caller's). */
  close(): Promise<void>;
}

export async function openTestStore(dataDir: string): Promise<TestStore> {
  if (!onPostgres) {
    const store = await openSqliteStore(dataDir);
    const file = join(dataDir, SQLITE_FILE);
    return {
      store,
      reopen: () => openSqliteStore(dataDir),
      writeElsewhere(statement, parameters = []) {
        const other = new DatabaseSync(file, { timeout: 5000 });
        try {
          other.prepare(statement).run(...parameters);
        } finally {
          other.close();
        }
      },
      holdWriteLock() {
        const other = new DatabaseSync(file, { timeout: 100 });
        other.exec('BEGIN IMMEDIATE');
        return Promise.resolve(() => {
          other.close();
          return Promise.resolve();
        });
      },
      close: () => store.close(),
    };
  }
  const database = await createTestDatabase();
  const store = await openPostgresStore(database.url, { poolSize: 4 });
  return {
    store,
    writeElsewhere(statement, parameters = []) {
      // psql substitutes :'pN' as a quoted literal (only in a script, hence stdin); null stays SQL NULL.
      let n = 0;
      const script = statement.replace(/\?/g, () => {
        const value = parameters[n++];
        return value === null ? 'NULL' : `:'p${n}'`;
      });
      const variables = parameters.flatMap((value, i) => (value === null ? [] : ['-v', `p${i + 1}=${String(value)}`]));
      execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...variables, database.url], {
        input: `${script};\n`,
        stdio: ['pipe', 'ignore', 'pipe'],
      });
    },
    async holdWriteLock() {
      const other = new pg.Client({ connectionString: database.url });
      await other.connect();
      await other.query('begin');
      await other.query('select pg_advisory_xact_lock($1, $2)', [PG_LOCK_NAMESPACE, PG_WRITER_LOCK]);
      return async () => {
        await other.end();
      };
    },
    reopen: () => openPostgresStore(database.url, { poolSize: 4 }),
    async close() {
      await store.close();
      await database.drop();
    },
  };
}

/**
 * Makes every insert into the audit log fail (a trigger that raises), on either store: the audit log "cannot
 * record". `mendAuditLog` drops the trigger again.
 */
export async function breakAuditLog(
  store: Pick<Store, 'db' | 'dialect'>,
  message = 'audit unavailable',
): Promise<void> {
  if (store.dialect === 'sqlite') {
    await sql`CREATE TRIGGER audit_broken BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, ${sql.lit(message)}); END`.execute(
      store.db,
    );
    return;
  }
  await sql`CREATE FUNCTION audit_broken() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END $$`.execute(store.db);
  await sql`CREATE TRIGGER audit_broken BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_broken(${sql.lit(message)})`.execute(store.db);
}

export async function mendAuditLog(store: Pick<Store, 'db' | 'dialect'>): Promise<void> {
  if (store.dialect === 'sqlite') {
    await sql`DROP TRIGGER audit_broken`.execute(store.db);
    return;
  }
  await sql`DROP TRIGGER audit_broken ON audit_log`.execute(store.db);
  await sql`DROP FUNCTION audit_broken()`.execute(store.db);
}
