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

/*
 * Kysely's SQLite dialect expects a better-sqlite3-shaped database. This adapts the built-in `node:sqlite` (no
 * native build, same speed), caches prepared statements (Kysely prepares on every query otherwise), and opens
 * write transactions with BEGIN IMMEDIATE so a transaction never fails half-way when upgrading its lock.
 */

const STATEMENT_CACHE_MAX = 512;

/** What a statement does to what the read caches hold (see `StoreChanges`). */
type StatementKind = 'read' | 'neutral' | 'begin' | 'end' | 'audit' | 'write';

function kindOf(sql: string): StatementKind {
  const head = sql.trimStart().slice(0, 40).toLowerCase();
  if (head.startsWith('select ')) return 'read';
  if (head.startsWith('begin')) return 'begin';
  // A connection setting (synchronous) changes no data.
  if (head.startsWith('pragma')) return 'neutral';
  if (head.startsWith('commit') || head.startsWith('rollback') || head.startsWith('end')) return 'end';
  // The audit chain is appended on every request; it is never read through a cache.
  if (/^(insert into|update) "audit_(log|head)"/.test(head)) return 'audit';
  return 'write';
}

/**
 * Tells the read caches (tokens, policies, folders) when what they copied may have changed. `version()` moves on
 * every change made through this connection except audit entries (at the statement and again at its commit), and on
 * every commit by any other connection to the same file (another server, a CLI), which SQLite reports through
 * `PRAGMA data_version`, asked once per turn of the event loop. A cache entry is used only while the version it was
 * read at is still current: a change committed here is seen by the next request, one committed elsewhere by the
 * next turn.
 */
export interface StoreChanges {
  version(): number;
}

export function adaptNodeSqlite(db: DatabaseSync): SqliteDatabase & { changes: StoreChanges } {
  const cache = new Map<string, { stmt: StatementSync; reader: boolean; kind: StatementKind }>();
  let local = 0;
  let dirty = false;
  let dataVersion: StatementSync | undefined;
  let seen: unknown;
  let askedThisTurn = false;
  const nextTurn = () => {
    askedThisTurn = false;
  };
  const wrote = (kind: StatementKind) => {
    if (kind === 'write') {
      // Counted when run and again when committed: a cache filled in between holds the older version.
      local += 1;
      dirty = true;
    } else if (kind === 'end' && dirty) {
      local += 1;
      dirty = false;
    } else if (kind === 'begin') {
      dirty = false; // a write outside any transaction committed (and was counted) when it ran
    }
  };
  return {
    close: () => db.close(),
    changes: {
      version() {
        // Asking SQLite costs a read lock on the WAL (~10 µs): once per turn of the event loop is enough, since
        // another process's commit is concurrent with whatever this turn is serving anyway.
        if (!askedThisTurn) {
          askedThisTurn = true;
          setImmediate(nextTurn);
          dataVersion ??= db.prepare('PRAGMA data_version');
          const current = (dataVersion.get() as { data_version: number }).data_version;
          if (current !== seen) {
            seen = current;
            local += 1;
          }
        }
        return local;
      },
    },
    prepare(sql: string): SqliteStatement {
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
      if (kind === 'read' || kind === 'audit' || kind === 'neutral') {
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
            wrote(kind);
          }
        },
        run: (parameters) => {
          try {
            return stmt.run(...(parameters as SqliteParam[]));
          } finally {
            wrote(kind);
          }
        },
        iterate: (parameters) => {
          wrote(kind);
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
