import { DatabaseSync, type StatementSync } from 'node:sqlite';
import {
  CompiledQuery,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDatabase,
  type SqliteStatement,
} from 'kysely';
import {
  ACCESS,
  ALL_AREAS,
  createAreaVersions,
  kindOf,
  SECRETS,
  type StatementKind,
  type StoreChanges,
} from './store-changes.js';

/*
 * Kysely's SQLite dialect expects a better-sqlite3-shaped database. This adapts the built-in `node:sqlite` (no
 * native build, same speed), caches prepared statements (Kysely prepares on every query otherwise), and opens
 * write transactions with BEGIN IMMEDIATE so a transaction never fails half-way when upgrading its lock.
 */

const STATEMENT_CACHE_MAX = 512;

/** How stale a read cache may be about commits made by other processes on the same file (see StoreChanges). */
export const OTHERS_POLL_MS = 5;

/**
 * How the SQLite store tells read caches about changes (see StoreChanges): every statement through this connection
 * is counted, and a commit by any other connection to the same file (another server, a CLI) is seen through
 * `PRAGMA data_version`, asked at most once per OTHERS_POLL_MS: a change committed here is seen by the next request,
 * one committed elsewhere within OTHERS_POLL_MS.
 */
export function adaptNodeSqlite(
  db: DatabaseSync,
): SqliteDatabase & { changes: StoreChanges; refuse(error: Error): void } {
  const cache = new Map<string, { stmt: StatementSync; reader: boolean; kind: StatementKind }>();
  const versions = createAreaVersions();
  let dirty = 0;
  let dataVersion: StatementSync | undefined;
  let seen: unknown;
  let askedAt = -Infinity;
  const bump = versions.bump;
  const ran = (kind: StatementKind) => {
    if (kind.edge === undefined) {
      // Counted when run and again when committed: a cache filled in between holds the older version.
      bump(kind.areas);
      dirty |= kind.areas;
    } else if (kind.edge === 'end') {
      bump(dirty);
      dirty = 0;
    } else {
      dirty = 0; // a write outside any transaction committed (and was counted) when it ran
    }
  };
  /*
   * Which areas commits by other connections changed, from the counters triggers keep (migration 0008): the audit
   * log's own connection commits all the time under load and moves none, so the caches stay. Both areas if the
   * counters cannot be read (a store not migrated yet).
   */
  let generations: StatementSync | undefined;
  let seenGenerations: { access: number; secrets: number } | undefined;
  const othersChanged = (): number => {
    let now: { access: number; secrets: number } | undefined;
    try {
      generations ??= db.prepare('select access, secrets from store_generations where id = 1');
      now = generations.get() as { access: number; secrets: number } | undefined;
    } catch {
      generations = undefined;
    }
    const before = seenGenerations;
    seenGenerations = now;
    if (now === undefined || before === undefined) return ALL_AREAS;
    return (now.access !== before.access ? ACCESS : 0) | (now.secrets !== before.secrets ? SECRETS : 0);
  };
  let refused: Error | undefined;
  return {
    close: () => db.close(),
    /** From now on every statement fails with `error` (the store lost durability: nothing may be confirmed). */
    refuse(error) {
      refused = error;
    },
    changes: {
      version(area) {
        // Asking SQLite costs a read lock on the WAL (~10 µs), and under load the audit writer's commits change the
        // answer every time, so the area counters are read too. Once per turn of the event loop had cost ~3 % of the
        // CPU; once a millisecond still 3–5 µs a read at 8k req/s (20 secrets), against once every 5 ms. A commit
        // by another process is concurrent with whatever is served within a few milliseconds of it anyway.
        const now = performance.now();
        if (now - askedAt >= OTHERS_POLL_MS) {
          askedAt = now;
          dataVersion ??= db.prepare('PRAGMA data_version');
          const current = (dataVersion.get() as { data_version: number }).data_version;
          if (current !== seen) {
            seen = current;
            bump(othersChanged());
          }
        }
        return versions.get(area);
      },
    },
    prepare(sql: string): SqliteStatement {
      if (refused !== undefined) throw refused;
      let entry = cache.get(sql);
      if (entry === undefined) {
        const stmt = db.prepare(sql);
        entry = { stmt, reader: stmt.columns().length > 0, kind: kindOf(sql) };
        if (cache.size >= STATEMENT_CACHE_MAX) {
          const oldest = cache.keys().next();
          if (oldest.done !== true) cache.delete(oldest.value);
        }
        cache.set(sql, entry);
      }
      const { stmt, reader, kind } = entry;
      if (kind.edge === undefined && kind.areas === 0) {
        return {
          reader,
          all: (parameters) => stmt.all(...(parameters as SqliteParam[])),
          run: (parameters) => stmt.run(...(parameters as SqliteParam[])),
          iterate: (parameters) => stmt.iterate(...(parameters as SqliteParam[])),
        };
      }
      // `insert … returning` is a reader that writes: every path counts it.
      return {
        reader,
        all: (parameters) => {
          try {
            return stmt.all(...(parameters as SqliteParam[]));
          } finally {
            ran(kind);
          }
        },
        run: (parameters) => {
          try {
            return stmt.run(...(parameters as SqliteParam[]));
          } finally {
            ran(kind);
          }
        },
        iterate: (parameters) => {
          ran(kind);
          return stmt.iterate(...(parameters as SqliteParam[]));
        },
      };
    },
  };
}

type SqliteParam = null | number | bigint | string | NodeJS.ArrayBufferView;

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

export class NodeSqliteDialect extends SqliteDialect {
  readonly #database: SqliteDatabase;

  constructor(database: SqliteDatabase) {
    super({ database });
    this.#database = database;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.#database });
  }
}

export interface OpenSqliteOptions {
  /** File path, or `:memory:`. */
  file: string;
}

/** Opens the file with durable settings: WAL, synchronous=FULL, foreign keys on, a busy timeout. */
export function openNodeSqlite(options: OpenSqliteOptions): DatabaseSync {
  const db = new DatabaseSync(options.file, { enableForeignKeyConstraints: true, timeout: 5000 });
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  db.exec('PRAGMA foreign_keys = ON');
  return db;
}
