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

export function adaptNodeSqlite(db: DatabaseSync): SqliteDatabase {
  const cache = new Map<string, { stmt: StatementSync; reader: boolean }>();
  return {
    close: () => db.close(),
    prepare(sql: string): SqliteStatement {
      let entry = cache.get(sql);
      if (entry === undefined) {
        const stmt = db.prepare(sql);
        entry = { stmt, reader: stmt.columns().length > 0 };
        if (cache.size >= STATEMENT_CACHE_MAX) {
          const oldest = cache.keys().next();
          if (oldest.done !== true) cache.delete(oldest.value);
        }
        cache.set(sql, entry);
      }
      const { stmt, reader } = entry;
      return {
        reader,
        all: (parameters) => stmt.all(...(parameters as SqliteParam[])),
        run: (parameters) => stmt.run(...(parameters as SqliteParam[])),
        iterate: (parameters) => stmt.iterate(...(parameters as SqliteParam[])),
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
