import type { Kysely } from 'kysely';
import type { Database } from './database.js';
import type { StoreChanges } from './store-changes.js';

/**
 * Runs `work` in one transaction; resolves once it is committed, with `durable`, which resolves once the commit is
 * on disk. `onCommitted` is called right after the commit; on SQLite before any other group commit or audit group
 * of the store can begin, so what it registers (the audit log's order of publication) follows the commits' order.
 */
export type GroupCommit = <T>(
  work: (trx: Kysely<Database>) => Promise<T>,
  onCommitted?: (result: T, durable: Promise<void>) => void,
) => Promise<{ result: T; durable: Promise<void> }>;

/**
 * What a writer needs to extend the audit chain itself (audit-chain.ts): handed over with every group, sent to its
 * thread once. The SQL is Kysely's, compiled for the store's dialect, and takes its parameters in these orders:
 * `head` (id) → `{ seq, mac }` or no row; `insertHead` (id, seq, mac); `updateHead` (seq, mac, id); `insertNames`
 * (hash, names); `insertRow` one `audit_log` row (seq, time, the entry's fields as in AuditGroup, mac).
 */
export interface AuditChainSetup {
  /** The audit key, a secret KeyObject (typed as an object: the web UI's type check reads this file without Node's types). */
  key: object;
  /** The mac the first entry is chained onto when there is no head row. */
  genesis: string;
  sql: { head: string; insertHead: string; updateHead: string; insertNames: string; insertRow: string };
  /** The most rows one insert statement may carry. */
  rowsMax: number;
}

/** A group of audit entries for a connection of its own (see AuditGroupWriter). */
export interface AuditGroup {
  /** The time every entry of the group is stamped with. */
  time: string;
  /** Each entry's chained fields after seq and time, in their canonical order (audit-chain.ts `entryFields`). */
  entries: string[][];
  /** Name lists the entries refer to (hash, names), stored (or put right) before them. */
  lists: [string, string][];
}

/** Where a committed group went in the chain: its first sequence number, and each entry's mac. */
export interface AuditGroupCommitted {
  first: number;
  macs: string[];
}

/**
 * Commits audit groups on a connection of its own, on another thread (SQLite: sqlite-audit-writer.ts), so the event
 * loop neither chains their entries nor runs their inserts and COMMITs. Within its transaction, the writer reads the
 * chain head, chains the group onto it, stores the entries and moves the head: a head another connection moved
 * is simply the one it extends. Resolves once the group is on disk. `onCommitted` runs before any other commit of
 * this store can begin.
 */
export interface AuditGroupWriter {
  /** False once the writer failed (its thread stopped): the log commits its groups itself from then on. */
  usable(): boolean;
  write(
    setup: AuditChainSetup,
    group: AuditGroup,
    onCommitted: (committed: AuditGroupCommitted) => void,
  ): Promise<AuditGroupCommitted>;
}

/** What the server runs on: the embedded SQLite file or a PostgreSQL database, behind one interface. */
export interface Store {
  db: Kysely<Database>;
  dialect: 'sqlite' | 'postgres';
  /** True when this open created the database's schema. */
  created: boolean;
  /** For read caches: moves whenever anything but the audit log may have changed (see store-changes.ts). */
  changes: StoreChanges;
  /** For the audit log's grouped entries and for every audited change (see GroupCommit). */
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

/** The durable commit of each open store's Kysely instance, and its audit group writer if it has one. */
const durableCommits = new WeakMap<object, GroupCommit>();
const auditWriters = new WeakMap<object, AuditGroupWriter>();

export function registerDurableCommit(db: Kysely<Database>, commit: GroupCommit, writer?: AuditGroupWriter): void {
  durableCommits.set(db, commit);
  if (writer !== undefined) auditWriters.set(db, writer);
}

/** The audit group writer of the store `db` belongs to, if it has one. */
export function auditWriterOf(db: Kysely<Database>): AuditGroupWriter | undefined {
  return auditWriters.get(db);
}

/**
 * How a change on `db` is committed durably: the store's own group commit where one is registered (SQLite:
 * commit-then-sync), else a plain transaction, durable at COMMIT (SQLite synchronous=FULL; PostgreSQL).
 */
export function durableCommit(db: Kysely<Database>): GroupCommit {
  return durableCommits.get(db) ?? plainCommit(db);
}

export function plainCommit(db: Kysely<Database>): GroupCommit {
  return async (work, onCommitted) => {
    const result = await db.transaction().execute(work);
    const durable = Promise.resolve();
    onCommitted?.(result, durable);
    return { result, durable };
  };
}
