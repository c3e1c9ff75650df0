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

/** How stale a read cache may be about commits made by other processes on the same file (see StoreChanges). */
export const OTHERS_POLL_MS = 1;

/**
 * The parts of the store a read cache can depend on: `access` (tokens, users, identities, policies) for token
 * checks, `secrets` (projects, environments, folders, secrets) for bulk reads. A login adds a token without
 * dropping the folders kept for bulk reads; a write to a secret does not drop token checks.
 */
export type StoreArea = 'access' | 'secrets';

const ACCESS = 1;
const SECRETS = 2;
const TABLE_AREAS: Record<string, number> = {
  api_tokens: ACCESS,
  users: ACCESS,
  identities: ACCESS,
  identity_secrets: ACCESS,
  policies: ACCESS,
  policy_attachments: ACCESS,
  projects: SECRETS,
  environments: SECRETS,
  folders: SECRETS,
  folder_revisions: SECRETS,
  secrets: SECRETS,
  secret_versions: SECRETS,
  // The audit chain is appended on every request and never read through a cache.
  audit_log: 0,
  audit_head: 0,
  audit_names: 0,
};

/** What a statement does to what the read caches hold: which areas it writes (0: none), or a transaction edge. */
type StatementKind = { edge: 'begin' | 'end' } | { edge?: undefined; areas: number };

function kindOf(sql: string): StatementKind {
  const head = sql.trimStart().slice(0, 60).toLowerCase();
  if (head.startsWith('select ')) return { areas: 0 };
  if (head.startsWith('begin')) return { edge: 'begin' };
  if (head.startsWith('commit') || head.startsWith('rollback') || head.startsWith('end')) return { edge: 'end' };
  // A connection setting (synchronous) changes no data.
  if (head.startsWith('pragma')) return { areas: 0 };
  const table = /^(?:insert into|update|delete from) "([a-z_]+)"/.exec(head)?.[1];
  // Anything else (schema changes, a table not listed): both, to be safe.
  return { areas: table === undefined ? ACCESS | SECRETS : (TABLE_AREAS[table] ?? ACCESS | SECRETS) };
}

/**
 * Tells the read caches when what they copied may have changed. `version(area)` moves on every change to that area
 * made through this connection (at the statement and again at its commit), and on every commit by any other
 * connection to the same file (another server, a CLI), which SQLite reports through `PRAGMA data_version`, asked
 * at most once per OTHERS_POLL_MS. A cache entry is used only while the version it was read at is still current: a
 * change committed here is seen by the next request, one committed elsewhere within OTHERS_POLL_MS.
 */
export interface StoreChanges {
  version(area: StoreArea): number;
}

export function adaptNodeSqlite(
  db: DatabaseSync,
): SqliteDatabase & { changes: StoreChanges; refuse(error: Error): void } {
  const cache = new Map<string, { stmt: StatementSync; reader: boolean; kind: StatementKind }>();
  const versions = { access: 0, secrets: 0 };
  let dirty = 0;
  let dataVersion: StatementSync | undefined;
  let seen: unknown;
  let askedAt = -Infinity;
  const bump = (areas: number) => {
    if ((areas & ACCESS) !== 0) versions.access += 1;
    if ((areas & SECRETS) !== 0) versions.secrets += 1;
  };
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
  let refused: Error | undefined;
  return {
    close: () => db.close(),
    /** From now on every statement fails with `error` (the store lost durability: nothing may be confirmed). */
    refuse(error) {
      refused = error;
    },
    changes: {
      version(area) {
        // Asking SQLite costs a read lock on the WAL (~10 µs). Under load a turn of the event loop serves one or two
        // requests, so asking once per turn had cost ~3 % of the CPU; a commit by another process is concurrent with
        // whatever is being served within a millisecond of it anyway.
        const now = performance.now();
        if (now - askedAt >= OTHERS_POLL_MS) {
          askedAt = now;
          dataVersion ??= db.prepare('PRAGMA data_version');
          const current = (dataVersion.get() as { data_version: number }).data_version;
          if (current !== seen) {
            seen = current;
            bump(ACCESS | SECRETS);
          }
        }
        return versions[area];
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
