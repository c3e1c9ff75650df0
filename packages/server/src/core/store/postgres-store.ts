import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  Kysely,
  PostgresDialect,
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import type pg from 'pg';
import type { QueryResultRow } from 'pg';
import { AppError } from '../app-error.js';
import { copyPostgresToSqlite } from './copy-store.js';
import type { Database } from './database.js';
import { migrateToLatest } from './migrations.js';
import { openSqliteStore, SQLITE_FILE } from './open-sqlite-store.js';
import { describePostgresUrl } from './postgres-url.js';
import {
  ALL_AREAS,
  ACCESS,
  SECRETS,
  createAreaVersions,
  kindOf,
  type StatementKind,
  type StoreChanges,
} from './store-changes.js';
import { plainCommit, type OpenStoreOptions, type Store } from './store.js';

/*
 * The PostgreSQL store, for several `keybox server` replicas on one database. The same schema and queries as the
 * SQLite store (Kysely compiles them for each), with three things SQLite gave for free done here:
 *
 * - One writer at a time. SQLite's BEGIN IMMEDIATE serialises transactions, and the services were written for that
 *   (read a folder's revision, write revision + 1). Every transaction here first takes one transaction-scoped
 *   advisory lock, so transactions from every replica run one after another, exactly as on SQLite. Every audited
 *   change also appends to the one audit chain, whose head row serialises them anyway.
 * - Read caches that notice other replicas' commits. Triggers (migration 0007) NOTIFY `keybox_changes` with the area
 *   a commit touched; each server LISTENs on its own connection and moves that area's version. While that
 *   connection is down, every version() call returns a new number: the caches read the database every time until it
 *   is back.
 * - Watchers woken by other replicas' writes: a row trigger on `folders` NOTIFYs `keybox_folders` with the folder id.
 */

/** The advisory-lock namespace of Keybox (ASCII "kbx1"), and the two locks in it. */
export const PG_LOCK_NAMESPACE = 0x6b627831;
export const PG_WRITER_LOCK = 1;
const STARTUP_LOCK = 2;

/** How long to wait before reconnecting the LISTEN connection, doubling up to the max. */
const RELISTEN_MIN_MS = 100;
const RELISTEN_MAX_MS = 5000;
/**
 * How often the LISTEN connection is asked a `select 1`, and how long the answer may take. A connection that only
 * listens sends nothing, so one dropped without a reset (a NAT or firewall timeout) would otherwise look alive while
 * no notification reaches it: this bounds that to ~HEARTBEAT_MS + HEARTBEAT_TIMEOUT_MS.
 */
const HEARTBEAT_MS = 10_000;
const HEARTBEAT_TIMEOUT_MS = 5_000;

export interface PostgresStoreOptions extends OpenStoreOptions {
  /** Connections in the pool (default 10). */
  poolSize?: number | undefined;
  /** Told when the change notifications connection drops or comes back (never with credentials). */
  onWarning?: ((message: string) => void) | undefined;
}

// int8 (counts, sums, the audit sequence) and numeric arrive as strings by default; every one of ours fits a double.
const NUMBER_OIDS = new Set([20, 1700]);
const toNumber = (value: string): number => Number(value);
const typesOf = (pg: PgModule) => ({
  getTypeParser: (oid: number, format?: 'text' | 'binary'): unknown =>
    NUMBER_OIDS.has(oid) && format !== 'binary' ? toNumber : (pg.types.getTypeParser(oid, format ?? 'text') as unknown),
});

type PgModule = typeof pg;
/** A client config, with the module that makes its connections. */
type PgConfig = pg.ClientConfig & { pg: PgModule };

/** Opens the database at `url` (a postgres:// URL; PG* environment variables fill in what it leaves out). */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<Store> {
  const where = describePostgresUrl(url);
  // Loaded here, not with the server: a server on the embedded store never carries the PostgreSQL client.
  const { default: pg } = await import('pg');
  const config: PgConfig = { connectionString: url, application_name: 'keybox', types: typesOf(pg), pg };
  const pool = new pg.Pool({ ...config, max: options.poolSize ?? 10 });
  // An idle pooled connection that breaks is dropped by the pool; the next query opens a new one.
  pool.on('error', (error) => options.onWarning?.(`a pooled PostgreSQL connection failed: ${messageOf(error)}`));
  const versions = createAreaVersions();
  const folderListeners = new Set<(folderId: string) => void>();
  const driver = new SerialisedPostgresDriver(pool, versions.bump);
  const db = new Kysely<Database>({ dialect: new DriverDialect(pool, driver) });
  let listener: ChangeListener | undefined;
  try {
    await pool.query('select 1').catch((error: unknown) => {
      throw new AppError('UNAVAILABLE', `cannot connect to PostgreSQL at ${where}: ${messageOf(error)}`);
    });
    const applied = await migrateToLatest(db, 'postgres');
    listener = await listen(config, versions, folderListeners, options.onWarning);
    const changes: StoreChanges = { version: (area) => listener!.version(area) };
    const store: Store = {
      db,
      dialect: 'postgres',
      created: applied.includes('0001-initial'),
      changes,
      // Durable at COMMIT: nothing to sync afterwards.
      groupCommit: plainCommit(db),
      exclusive: (work) => withSessionLock(config, work),
      onFolderChanged(folderListener) {
        folderListeners.add(folderListener);
        return () => folderListeners.delete(folderListener);
      },
      describe: `postgres ${where}`,
      // A backup in the same form as SQLite's: a SQLite file, restored with keybox server restore (and brought
      // back to PostgreSQL with keybox server migrate).
      async snapshot(file) {
        const dir = `${file}.d`;
        mkdirSync(dir, { mode: 0o700 });
        try {
          const copy = await openSqliteStore(dir);
          try {
            await copyPostgresToSqlite(store, copy);
          } finally {
            await copy.close();
          }
          renameSync(join(dir, SQLITE_FILE), file);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
      async close() {
        await listener?.close();
        await db.destroy();
      },
    };
    return store;
  } catch (error) {
    await listener?.close();
    await db.destroy().catch(() => undefined);
    throw error;
  }
}

function messageOf(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return e.message ?? e.code ?? String(error);
}

/** Holds Keybox's start-up lock on a connection of its own while `work` runs. */
async function withSessionLock<T>(config: PgConfig, work: () => Promise<T>): Promise<T> {
  const client = new config.pg.Client(config);
  client.on('error', () => undefined); // the session ending releases the lock; `work` goes on with the pool
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1, $2)', [PG_LOCK_NAMESPACE, STARTUP_LOCK]);
    return await work();
  } finally {
    await client.end().catch(() => undefined);
  }
}

interface ChangeListener {
  version(area: 'access' | 'secrets'): number;
  close(): Promise<void>;
}

/** LISTENs for other servers' commits on a connection of its own, reconnecting when it drops. */
async function listen(
  config: PgConfig,
  versions: ReturnType<typeof createAreaVersions>,
  folderListeners: Set<(folderId: string) => void>,
  warn: ((message: string) => void) | undefined,
): Promise<ChangeListener> {
  let client: pg.Client | undefined;
  let closed = false;
  let delay = RELISTEN_MIN_MS;
  let retry: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const next = new config.pg.Client({ ...config, keepAlive: true, query_timeout: HEARTBEAT_TIMEOUT_MS });
    next.on('notification', (message) => {
      if (message.channel === 'keybox_changes') {
        versions.bump(message.payload === 'access' ? ACCESS : message.payload === 'secrets' ? SECRETS : ALL_AREAS);
      } else if (message.channel === 'keybox_folders' && message.payload !== undefined) {
        for (const folderListener of folderListeners) folderListener(message.payload);
      }
    });
    const lost = (error?: unknown) => {
      if (client !== next) return;
      client = undefined;
      if (heartbeat !== undefined) clearInterval(heartbeat);
      heartbeat = undefined;
      next.end().catch(() => undefined);
      if (closed) return;
      warn?.(
        `lost the PostgreSQL change notifications (${error === undefined ? 'connection ended' : messageOf(error)}); reading without caches until they are back`,
      );
      scheduleRetry();
    };
    next.on('error', lost);
    next.on('end', () => lost());
    try {
      await next.connect();
      await next.query('listen keybox_changes');
      await next.query('listen keybox_folders');
    } catch (error) {
      next.end().catch(() => undefined);
      throw error;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    delay = RELISTEN_MIN_MS;
    // Whatever was committed while nobody listened.
    versions.bump(ALL_AREAS);
    heartbeat = setInterval(() => {
      next.query('select 1').catch((error: unknown) => lost(error));
    }, HEARTBEAT_MS);
    heartbeat.unref();
  };

  const scheduleRetry = () => {
    retry = setTimeout(() => {
      retry = undefined;
      connect().then(
        () => warn?.('PostgreSQL change notifications are back'),
        () => {
          delay = Math.min(delay * 2, RELISTEN_MAX_MS);
          if (!closed) scheduleRetry();
        },
      );
    }, delay);
    retry.unref();
  };

  await connect();
  return {
    version(area) {
      // Deaf to other servers: no cached copy may be trusted, so none ever matches.
      if (client === undefined) versions.bump(ALL_AREAS);
      return versions.get(area);
    },
    async close() {
      closed = true;
      if (retry !== undefined) clearTimeout(retry);
      if (heartbeat !== undefined) clearInterval(heartbeat);
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    },
  };
}

/** Kysely's PostgreSQL dialect (compiler, adapter, introspector) with our driver. */
class DriverDialect extends PostgresDialect {
  readonly #driver: Driver;
  constructor(pool: pg.Pool, driver: Driver) {
    super({ pool });
    this.#driver = driver;
  }
  override createDriver(): Driver {
    return this.#driver;
  }
}

/** Statements prepared per connection at most; past that, the rest run unnamed (parsed each time). */
const PREPARED_MAX = 256;

/**
 * A pooled connection. Each distinct statement with parameters runs as a named prepared statement, so PostgreSQL
 * parses and plans it once per connection rather than on every call: a keybox write is ~13 statements in one
 * transaction, and this took ~20 % off it (5.0 -> 3.9 ms). Kysely's own driver sends every query unnamed.
 */
class PgConnection implements DatabaseConnection {
  /** What the open transaction has written (areas), counted again at its end. */
  dirty = 0;
  inTransaction = false;
  /** Set when the connection may be in an unknown state: it is destroyed rather than put back in the pool. */
  broken = false;
  /** Per statement text: what it does to the caches, and its prepared name (none past PREPARED_MAX). */
  readonly #statements = new Map<string, { kind: StatementKind; name: string | undefined }>();

  constructor(
    readonly client: pg.PoolClient,
    private readonly bump: (areas: number) => void,
  ) {}

  #statement(text: string, parameterised: boolean): { kind: StatementKind; name: string | undefined } {
    const known = this.#statements.get(text);
    if (known !== undefined) return known;
    // Past PREPARED_MAX a statement is not remembered, so not prepared either: it runs unnamed.
    const remembered = this.#statements.size < PREPARED_MAX;
    const name =
      parameterised && remembered ? `keybox_${createHash('sha1').update(text).digest('hex').slice(0, 24)}` : undefined;
    const statement = { kind: kindOf(text), name };
    if (remembered) this.#statements.set(text, statement);
    return statement;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const values = query.parameters as unknown[];
    const { kind, name } = this.#statement(query.sql, values.length > 0);
    try {
      const result = await this.client
        .query<R & QueryResultRow>(name === undefined ? { text: query.sql, values } : { name, text: query.sql, values })
        .catch((error: unknown) => {
          // "cached plan must not change result type": another server's migration changed a table under a statement
          // prepared here. PostgreSQL will not re-prepare it, so this connection is closed and the next one prepares
          // afresh; this statement fails once.
          if ((error as { code?: string }).code === '0A000') this.broken = true;
          throw error;
        });
      const { command, rowCount } = result;
      const changed = command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
      return {
        rows: result.rows ?? [],
        ...(changed ? { numAffectedRows: BigInt(rowCount ?? 0) } : {}),
      };
    } finally {
      // Counted when run and again when committed: a cache filled in between holds the older version.
      if (kind.edge === undefined && kind.areas !== 0) {
        this.bump(kind.areas);
        if (this.inTransaction) this.dirty |= kind.areas;
      }
    }
  }

  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not used by keybox');
  }
}

/**
 * Connections from the pool, every transaction serialised by the writer lock, every write counted for the read caches
 * of this process (other processes hear of it through the triggers' notifications).
 */
class SerialisedPostgresDriver implements Driver {
  readonly #pool: pg.Pool;
  readonly #bump: (areas: number) => void;
  readonly #connections = new WeakMap<pg.PoolClient, PgConnection>();

  constructor(pool: pg.Pool, bump: (areas: number) => void) {
    this.#pool = pool;
    this.#bump = bump;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    const client = await this.#pool.connect();
    let connection = this.#connections.get(client);
    if (connection === undefined) {
      const created = new PgConnection(client, this.#bump);
      // A connection that fails between statements (checked out, so the pool is not listening) must not take the
      // process down with an unhandled 'error' event; its next statement fails, and it is not pooled again.
      client.on('error', () => {
        created.broken = true;
      });
      connection = created;
      this.#connections.set(client, connection);
    }
    return connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const c = connection as PgConnection;
    const isolation = settings.isolationLevel === undefined ? '' : ` isolation level ${settings.isolationLevel}`;
    const mode = settings.accessMode === undefined ? '' : ` ${settings.accessMode}`;
    const begin = isolation === '' && mode === '' ? 'begin' : `start transaction${isolation}${mode}`;
    // One round trip for both (a simple query may hold several statements). A read-only transaction (a backup's
    // snapshot) writes nothing, so it holds up no writer.
    const lock =
      settings.accessMode === 'read only'
        ? ''
        : `; select pg_advisory_xact_lock(${PG_LOCK_NAMESPACE}, ${PG_WRITER_LOCK})`;
    try {
      await c.client.query(`${begin}${lock}`);
    } catch (error) {
      // Kysely does not roll back a transaction whose BEGIN failed: never pool a connection that may be inside one.
      c.broken = true;
      throw error;
    }
    c.inTransaction = true;
    c.dirty = 0;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as PgConnection;
    try {
      const result = await c.client.query('commit');
      // PostgreSQL answers COMMIT with a ROLLBACK tag when an earlier error had aborted the transaction.
      if (result.command === 'ROLLBACK') throw new Error('the transaction was rolled back by the database');
    } catch (error) {
      c.broken = true;
      throw error;
    } finally {
      this.#ended(c);
    }
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as PgConnection;
    try {
      await c.client.query('rollback');
    } catch (error) {
      c.broken = true;
      throw error;
    } finally {
      this.#ended(c);
    }
  }

  #ended(c: PgConnection): void {
    c.inTransaction = false;
    this.#bump(c.dirty);
    c.dirty = 0;
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    const c = connection as PgConnection;
    // A broken connection is closed (true), not handed to the next caller mid-transaction.
    c.client.release(c.broken ? true : undefined);
    if (c.broken) this.#connections.delete(c.client);
    return Promise.resolve();
  }

  async destroy(): Promise<void> {
    await this.#pool.end();
  }
}
