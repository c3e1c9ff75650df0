import {
  CompiledQuery,
  Kysely,
  PostgresDialect,
  PostgresDriver,
  type DatabaseConnection,
  type Driver,
  type QueryCompiler,
  type TransactionSettings,
} from 'kysely';
import type pg from 'pg';
import { AppError } from '../app-error.js';
import type { Database } from './database.js';
import { migrateToLatest } from './migrations.js';
import { describePostgresUrl } from './postgres-url.js';
import { ALL_AREAS, ACCESS, SECRETS, createAreaVersions, kindOf, type StoreChanges } from './store-changes.js';
import type { OpenStoreOptions, Store } from './store.js';

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
      groupCommit: async (work) => ({ result: await db.transaction().execute(work), durable: Promise.resolve() }),
      exclusive: (work) => withSessionLock(config, work),
      onFolderChanged(folderListener) {
        folderListeners.add(folderListener);
        return () => folderListeners.delete(folderListener);
      },
      describe: `postgres ${where}`,
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

  const connect = async (): Promise<void> => {
    const next = new config.pg.Client(config);
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
    client = next;
    delay = RELISTEN_MIN_MS;
    // Whatever was committed while nobody listened.
    versions.bump(ALL_AREAS);
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
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    },
  };
}

/** A dialect that is Kysely's PostgreSQL dialect with our driver. */
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

/** Kysely's own connection class (not exported by name). */
type PostgresConnection = Parameters<PostgresDriver['releaseConnection']>[0];

/** A pooled connection, with what it has written in its open transaction. */
class TrackedConnection implements DatabaseConnection {
  dirty = 0;
  inTransaction = false;
  constructor(
    readonly inner: PostgresConnection,
    private readonly bump: (areas: number) => void,
  ) {}

  async executeQuery<R>(query: CompiledQuery) {
    const kind = kindOf(query.sql);
    try {
      return await this.inner.executeQuery<R>(query);
    } finally {
      // Counted when run and again when committed: a cache filled in between holds the older version.
      if (kind.edge === undefined && kind.areas !== 0) {
        this.bump(kind.areas);
        if (this.inTransaction) this.dirty |= kind.areas;
      }
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize: number) {
    const kind = kindOf(query.sql);
    if (kind.edge === undefined && kind.areas !== 0) {
      this.bump(kind.areas);
      if (this.inTransaction) this.dirty |= kind.areas;
    }
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

/**
 * Kysely's PostgreSQL driver, with every transaction serialised by the writer lock and every write counted for the
 * read caches of this process (other processes hear of it through the triggers' notifications).
 */
class SerialisedPostgresDriver implements Driver {
  readonly #inner: PostgresDriver;
  readonly #tracked = new WeakMap<PostgresConnection, TrackedConnection>();
  readonly #bump: (areas: number) => void;

  constructor(pool: pg.Pool, bump: (areas: number) => void) {
    this.#inner = new PostgresDriver({ pool });
    this.#bump = bump;
  }

  init(): Promise<void> {
    return this.#inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const inner = (await this.#inner.acquireConnection()) as PostgresConnection;
    let tracked = this.#tracked.get(inner);
    if (tracked === undefined) {
      tracked = new TrackedConnection(inner, this.#bump);
      this.#tracked.set(inner, tracked);
    }
    return tracked;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const c = connection as TrackedConnection;
    await this.#inner.beginTransaction(c.inner, settings);
    c.inTransaction = true;
    c.dirty = 0;
    await c.inner.executeQuery(
      CompiledQuery.raw('select pg_advisory_xact_lock($1, $2)', [PG_LOCK_NAMESPACE, PG_WRITER_LOCK]),
    );
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as TrackedConnection;
    try {
      await this.#inner.commitTransaction(c.inner);
    } finally {
      this.#ended(c);
    }
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as TrackedConnection;
    try {
      await this.#inner.rollbackTransaction(c.inner);
    } finally {
      this.#ended(c);
    }
  }

  #ended(c: TrackedConnection): void {
    c.inTransaction = false;
    this.#bump(c.dirty);
    c.dirty = 0;
  }

  savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return this.#inner.savepoint((connection as TrackedConnection).inner, name, compile);
  }

  rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return this.#inner.rollbackToSavepoint((connection as TrackedConnection).inner, name, compile);
  }

  releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return this.#inner.releaseSavepoint((connection as TrackedConnection).inner, name, compile);
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection((connection as TrackedConnection).inner);
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}
