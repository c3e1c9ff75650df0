import { chmodSync, closeSync, existsSync, fdatasync, openSync, realpathSync, writeFileSync } from 'node:fs';
import { backup } from 'node:sqlite';
import { join } from 'node:path';
import { Kysely, sql } from 'kysely';
import type { Database } from './database.js';
import { migrateToLatest } from './migrations.js';
import { adaptNodeSqlite, NodeSqliteDialect, openNodeSqlite } from './node-sqlite-dialect.js';
import { commitLock, sqliteAuditWriter, type CommitLock } from './sqlite-audit-writer.js';
import { plainCommit, registerDurableCommit, type GroupCommit, type OpenStoreOptions, type Store } from './store.js';

export const SQLITE_FILE = 'keybox.db';

/** Opens (creating if needed) `DATA_DIR/keybox.db`, migrated to the latest schema. */
export async function openSqliteStore(dataDir: string, options: OpenStoreOptions = {}): Promise<Store> {
  const file = join(dataDir, SQLITE_FILE);
  const created = !existsSync(file);
  const raw = openNodeSqlite({ file });
  // The values inside are encrypted, but names and metadata are not: keep the files private.
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(file + suffix)) chmodSync(file + suffix, 0o600);
  }
  const adapted = adaptNodeSqlite(raw);
  const db = new Kysely<Database>({ dialect: new NodeSqliteDialect(adapted) });
  await migrateToLatest(db, 'sqlite');
  // The WAL sits next to the file SQLite actually opened (a symlinked keybox.db puts it beside the target).
  const opened = raw.location() ?? realpathSync(file);
  const wal = walSyncer(`${opened}-wal`, (error, lost) => {
    // Fail closed even for a caller that does not stop the process: no statement runs on this store again.
    adapted.refuse(lost);
    options.onDurabilityLost?.(error);
  });
  // Group commits on this connection and the audit writer's take turns (sqlite-audit-writer.ts).
  const lock = commitLock();
  const durable: GroupCommit = (work, onCommitted) => groupCommit(db, wal, lock, work, onCommitted);
  const auditWriter = wal.available()
    ? sqliteAuditWriter({
        file: opened,
        lock,
        check: () => wal.check(),
        lost: (error) => {
          try {
            return wal.fail(error);
          } catch (lost) {
            return lost as Error;
          }
        },
      })
    : undefined;
  registerDurableCommit(db, durable, auditWriter);
  return {
    db,
    dialect: 'sqlite',
    created,
    changes: adapted.changes,
    groupCommit: durable,
    // One server per file (a second one on the same file waits on SQLite's write lock for each transaction anyway).
    exclusive: (work) => work(),
    describe: `sqlite ${file}`,
    async snapshot(target) {
      // SQLite's online backup, 100 pages a step: a write on this connection meanwhile is copied too, so the
      // snapshot is of one moment, and the loop serves requests between steps. The file is made 0600 first.
      writeFileSync(target, '', { mode: 0o600, flag: 'wx' });
      await backup(raw, target, { rate: 100 });
      chmodSync(target, 0o600);
    },
    async close() {
      // A sync still under way belongs to a change whose client may have gone: let it finish with its file.
      await auditWriter?.close();
      await wal.idle();
      await db.destroy();
      wal.close();
    },
  };
}

/*
 * With synchronous=FULL, SQLite calls fsync inside COMMIT, and node:sqlite runs COMMIT on the event loop: every
 * commit stopped the server for the length of a disk sync (~0.5 ms here), during which no request made progress.
 * This commit runs with synchronous=NORMAL (the WAL frames are written, not synced), releases the connection, then
 * syncs the WAL file on libuv's thread pool: the caller answers nobody before `durable` resolves, so the durability
 * is the same, while the loop goes on serving and the next commit happens during the sync. Audit groups and every
 * change made through `audited` (core/audit/tx-audit.ts) commit this way; every other statement keeps
 * synchronous=FULL (and its sync covers anything committed before it).
 */
async function groupCommit<T>(
  db: Kysely<Database>,
  wal: WalSyncer,
  lock: CommitLock,
  work: (trx: Kysely<Database>) => Promise<T>,
  onCommitted?: (result: T, durable: Promise<void>) => void,
): Promise<{ result: T; durable: Promise<void> }> {
  if (!wal.available()) return plainCommit(db)(work, onCommitted);
  wal.check();
  const release = await lock();
  try {
    const result = await db.connection().execute(async (conn) => {
      await sql`pragma synchronous = normal`.execute(conn);
      try {
        return await conn.transaction().execute(work);
      } finally {
        // Left at NORMAL, every later transaction would skip its sync.
        await sql`pragma synchronous = full`.execute(conn).catch((error: unknown) => wal.fail(error));
      }
    });
    const durable = wal.sync();
    onCommitted?.(result, durable);
    return { result, durable };
  } finally {
    release();
  }
}

interface WalSyncer {
  available(): boolean;
  /** Throws if durability was lost (see OpenStoreOptions). */
  check(): void;
  /** Resolves after an fdatasync of the WAL that began after this call. */
  sync(): Promise<void>;
  /** Resolves once no sync is under way or queued. */
  idle(): Promise<void>;
  fail(error: unknown): never;
  close(): void;
}

/** One fdatasync at a time; callers arriving meanwhile share the next one (a group commit of syncs). */
function walSyncer(path: string, onLost: (error: unknown, lost: Error) => void): WalSyncer {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
  } catch {
    fd = undefined; // not in WAL mode: group commits sync inside COMMIT like every other transaction
  }
  let lost: Error | undefined;
  /** Records the loss (once) and returns the error every later sync fails with. */
  const lose = (error: unknown): Error => {
    if (lost === undefined) {
      lost = new Error(`the database can no longer be synced to disk: ${(error as Error).message}`, { cause: error });
      onLost(error, lost);
    }
    return lost;
  };
  let inFlight: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const start = (): Promise<void> => {
    const started = new Promise<void>((resolve, reject) => {
      const failure = lost;
      if (failure !== undefined) {
        reject(failure);
        return;
      }
      fdatasync(fd as number, (error) => {
        if (error === null) resolve();
        else reject(lose(error));
      });
    }).finally(() => {
      if (inFlight === started) inFlight = undefined;
    });
    inFlight = started;
    return started;
  };
  return {
    available: () => fd !== undefined,
    check() {
      if (lost !== undefined) throw lost;
    },
    fail(error) {
      throw lose(error);
    },
    sync() {
      if (inFlight === undefined) return start();
      // The sync under way may have begun before this commit: wait for the one after it.
      next ??= inFlight
        .catch(() => undefined)
        .then(() => {
          next = undefined;
          return start();
        });
      return next;
    },
    async idle() {
      while (inFlight !== undefined || next !== undefined) await (next ?? inFlight)?.catch(() => undefined);
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
