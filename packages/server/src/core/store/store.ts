import type { Kysely } from 'kysely';
import type { Database } from './database.js';
import type { StoreChanges } from './store-changes.js';

export type GroupCommit = <T>(
  work: (trx: Kysely<Database>) => Promise<T>,
) => Promise<{ result: T; durable: Promise<void> }>;

/** What the server runs on: the embedded SQLite file or a PostgreSQL database, behind one interface. */
export interface Store {
  db: Kysely<Database>;
  dialect: 'sqlite' | 'postgres';
  /** True when this open created the database's schema. */
  created: boolean;
  /** For read caches: moves whenever anything but the audit log may have changed (see store-changes.ts). */
  changes: StoreChanges;
  /**
   * Runs `work` in one transaction; resolves once it is committed, with `durable`, which resolves once the commit is
   * on disk. For the audit log's grouped entries and for every audited change.
   */
  groupCommit: GroupCommit;
  /**
   * Runs `work` while no other server on this database runs an `exclusive` block: what a start-up does once per
   * database (data keys, built-in policies, the first admin token) happens once even when replicas start together.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Calls `listener` with a folder's id whenever a commit by another server changed that folder (PostgreSQL only:
   * SQLite serves one server). Returns the unsubscribe.
   */
  onFolderChanged?(listener: (folderId: string) => void): () => void;
  /**
   * Copies the whole database, consistently, into a new SQLite file at `file` (mode 0600), in steps that leave the
   * event loop free between them (PostgreSQL: one read-only snapshot, copied into a new SQLite store).
   */
  snapshot?(file: string): Promise<void>;
  /** A short description for logs, without credentials: `sqlite /var/lib/keybox/keybox.db`, `postgres db:5432/keybox`. */
  describe: string;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /**
   * Told once when the store can no longer promise durability (SQLite: a failed sync of the WAL). From then on every
   * group commit fails: after a failed fsync the kernel may have dropped the pages, and a later sync that succeeds
   * proves nothing about them. `keybox server` logs it and exits, so that a restart recovers from the WAL.
   */
  onDurabilityLost?: ((error: unknown) => void) | undefined;
}

/** The durable commit of each open store's Kysely instance. */
const durableCommits = new WeakMap<object, GroupCommit>();

export function registerDurableCommit(db: Kysely<Database>, commit: GroupCommit): void {
  durableCommits.set(db, commit);
}

/**
 * How a change on `db` is committed durably: the store's own group commit where one is registered (SQLite:
 * commit-then-sync), else a plain transaction, durable at COMMIT (SQLite synchronous=FULL; PostgreSQL).
 */
export function durableCommit(db: Kysely<Database>): GroupCommit {
  return durableCommits.get(db) ?? plainCommit(db);
}

export function plainCommit(db: Kysely<Database>): GroupCommit {
  return async (work) => ({ result: await db.transaction().execute(work), durable: Promise.resolve() });
}
