import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  linkSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { AppError } from './core/app-error.js';
import { createAuditLog, readHead, writeHead, type AuditHead } from './core/audit/audit-log.js';
import { verifyAuditChain } from './core/audit/audit-verify.js';
import { checkReadable } from './core/backup/check-readable.js';
import { systemClock } from './core/clock.js';
import { openKeyring } from './core/crypto/keyring.js';
import { loadRootKey, ROOT_KEY_FILE } from './core/crypto/root-key.js';
import { openSqliteStore, SQLITE_FILE } from './core/store/open-sqlite-store.js';
import { AUDIT_HEAD_FILE } from './main.js';
import { runningServer } from './pid-file.js';

/*
 * `keybox server restore`: puts a backup (from `keybox backup create`, or any copy of keybox.db) in place of a
 * stopped server's store. Everything is checked on a private copy first — SQLite's integrity check, a schema this
 * version knows (an older one is migrated), the root key unwrapping the backup's data keys, every value and bundle
 * decrypting, the audit chain — and
 * only then is the current store moved aside (never deleted) and the copy renamed into place. The restore itself is
 * the restored chain's next entry, naming the backup and the head it replaced, so the history stays honest.
 */

export interface RestoreOptions {
  dataDir: string;
  from: string;
  masterKey?: string | undefined;
  masterKeyFile?: string | undefined;
  /** Check only: nothing in the data dir changes. */
  dryRun?: boolean;
}

export interface RestoreResult {
  from: string;
  bytes: number;
  sha256: string;
  rootKeyId: string;
  auditEntries: number;
  /** Values and folder bundles decrypted to check the backup. */
  decrypted: { values: number; bundles: number };
  counts: { projects: number; folders: number; secrets: number };
  dryRun: boolean;
  /**
   * The current store's record of making this very file (a `backup.create` entry naming its SHA-256), if it has one:
   * where the backup came from. Undefined for a file this store did not make (or an empty data dir).
   */
  madeBy: { seq: number; time: string; actor: string } | undefined;
  /** Where the store that was replaced went (undefined on a dry run or an empty data dir). */
  previous: string | undefined;
  /** The audit chain's head after the restore entry (undefined on a dry run). */
  head: AuditHead | undefined;
}

const SQLITE_MAGIC = 'SQLite format 3\0';

export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const dataDir = resolve(options.dataDir);
  const from = resolve(options.from);
  const live = join(dataDir, SQLITE_FILE);
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) {
    throw new AppError('INVALID_INPUT', `--data-dir ${dataDir} is not a directory`);
  }
  checkSqliteFile(from);
  // A dry run changes nothing in the data dir: it may run beside the server (on a schedule, say).
  if (options.dryRun !== true) refuseRunningServer(dataDir);
  const usesDataDirKey = (options.masterKey ?? '') === '' && (options.masterKeyFile ?? '') === '';
  if (usesDataDirKey && !existsSync(join(dataDir, ROOT_KEY_FILE))) {
    throw new AppError(
      'INVALID_INPUT',
      `${join(dataDir, ROOT_KEY_FILE)} does not exist: give the root key the backup was made with ` +
        '(--master-key-file or KEYBOX_MASTER_KEY); a backup holds no key',
    );
  }
  const root = loadRootKey({ dataDir, masterKey: options.masterKey, masterKeyFile: options.masterKeyFile });
  const sha256 = createHash('sha256').update(readFileSync(from)).digest('hex');
  const bytes = statSync(from).size;

  // A private working copy in the data dir (same file system, so the final rename is atomic); the backup file is
  // never written to.
  const work = join(dataDir, `.restore-${randomBytes(6).toString('hex')}`);
  mkdirSync(work, { mode: 0o700 });
  try {
    const copy = join(work, SQLITE_FILE);
    copyFileSync(from, copy);
    chmodSync(copy, 0o600);
    integrityCheck(copy);
    const store = await openSqliteStore(work).catch((error: unknown) => {
      throw new AppError(
        'INVALID_INPUT',
        `${from} is not a Keybox store this version can open: ${(error as Error).message}`,
      );
    });
    let result: RestoreResult;
    try {
      const sealedWith = await store.db.selectFrom('data_keys').select('root_key_id').limit(1).executeTakeFirst();
      if (sealedWith === undefined)
        throw new AppError('INVALID_INPUT', `${from} holds no data keys: it is not a backup of a Keybox store`);
      if (sealedWith.root_key_id !== root.id) {
        throw new AppError(
          'INVALID_INPUT',
          `${from} is sealed with root key ${sealedWith.root_key_id}, and the key given is ${root.id}: ` +
            'restore with the key the backup was made with (--master-key-file or KEYBOX_MASTER_KEY)',
        );
      }
      const keyring = await openKeyring(store.db, root, systemClock);
      const verified = await verifyAuditChain(store.db, keyring.auditKey);
      if (!verified.ok) {
        throw new AppError(
          'INVALID_INPUT',
          `the backup's audit chain does not verify: ${verified.problems.join('; ')}`,
        );
      }
      const readable = await checkReadable(store.db, keyring);
      if (readable.problems.length > 0) {
        throw new AppError('INVALID_INPUT', `the backup is damaged: ${readable.problems.join('; ')}`);
      }
      const count = async (table: 'projects' | 'folders') =>
        Number(
          (
            await store.db
              .selectFrom(table)
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirst()
          )?.n ?? 0,
        );
      const secrets = await store.db
        .selectFrom('secrets')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      result = {
        from,
        bytes,
        sha256,
        rootKeyId: root.id,
        auditEntries: verified.count,
        decrypted: { values: readable.values, bundles: readable.bundles },
        counts: {
          projects: await count('projects'),
          folders: await count('folders'),
          secrets: Number(secrets?.n ?? 0),
        },
        dryRun: options.dryRun === true,
        madeBy: existsSync(live) ? recordOfBackup(live, sha256) : undefined,
        previous: undefined,
        head: undefined,
      };
      if (options.dryRun !== true) {
        // The restore is recorded in the chain it brings back, with the head of the chain it replaces.
        const replaced = existsSync(live) ? liveHead(live) : undefined;
        const headFile = join(work, AUDIT_HEAD_FILE);
        const auditLog = createAuditLog({
          db: store.db,
          dialect: 'sqlite',
          key: keyring.auditKey,
          clock: systemClock,
          headFile,
        });
        const record = await auditLog.append({
          actor: 'system:restore',
          actorType: 'system',
          sourceIp: '',
          userAgent: '',
          action: 'backup.restore',
          resource: 'backup',
          outcome: 'success',
          requestId: 'restore',
          details: { sha256, bytes, backupAuditSeq: verified.count, replacedHead: replaced ?? null },
        });
        await auditLog.settled();
        result.head = { seq: record.seq, mac: record.mac };
      }
    } finally {
      await store.close();
    }
    if (options.dryRun === true) return result;

    // Aside, not deleted: a restore can be undone by moving these back. The old store gets a second name (a hard
    // link) and the copy then replaces it in one rename: at no moment is there no keybox.db (a server started then
    // would make a new, empty store). Its -wal and -shm go aside first: left in place, SQLite would apply the old
    // store's WAL to the new file.
    const stamp = new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
    const aside = `${live}.before-restore-${stamp}`;
    const moved: [string, string][] = [];
    try {
      for (const suffix of ['-wal', '-shm']) {
        if (existsSync(live + suffix)) {
          renameSync(live + suffix, aside + suffix);
          moved.push([aside + suffix, live + suffix]);
        }
      }
      if (existsSync(live)) {
        linkSync(live, aside);
        result.previous = aside;
      }
      renameSync(copy, live);
    } catch (error) {
      for (const [from, to] of moved) renameSync(from, to);
      if (result.previous !== undefined) rmSync(aside, { force: true });
      throw error;
    }
    const headFile = join(dataDir, AUDIT_HEAD_FILE);
    if (existsSync(headFile)) renameSync(headFile, `${headFile}.before-restore-${stamp}`);
    await writeHead(headFile, result.head ?? readHead(join(work, AUDIT_HEAD_FILE)) ?? { seq: 0, mac: '' });
    syncDir(dataDir);
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function checkSqliteFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new AppError('NOT_FOUND', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    const head = Buffer.alloc(16);
    readSync(fd, head, 0, 16, 0);
    if (head.toString('latin1') !== SQLITE_MAGIC) {
      throw new AppError(
        'INVALID_INPUT',
        `${file} is not a SQLite file (a PostgreSQL store is restored with pg_restore)`,
      );
    }
  } finally {
    closeSync(fd);
  }
}

function integrityCheck(file: string): void {
  const db = new DatabaseSync(file);
  try {
    const rows = db.prepare('pragma integrity_check').all() as { integrity_check: string }[];
    if (rows.length !== 1 || rows[0]?.integrity_check !== 'ok') {
      throw new AppError(
        'INVALID_INPUT',
        `the backup fails SQLite's integrity check: ${rows
          .map((r) => r.integrity_check)
          .slice(0, 3)
          .join('; ')}`,
      );
    }
  } finally {
    db.close();
  }
}

/**
 * The head of the store being replaced. Read on a read-write connection all the same: a read-only one on a WAL
 * database would leave -wal and -shm files behind, which this one removes on close.
 */
function liveHead(file: string): AuditHead | undefined {
  try {
    const db = new DatabaseSync(file);
    try {
      const row = db.prepare('select seq, mac from audit_head where id = 1').get() as AuditHead | undefined;
      return row === undefined ? undefined : { seq: Number(row.seq), mac: String(row.mac) };
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

/** The `backup.create` entry of the store at `file` that names this SHA-256, if any. */
function recordOfBackup(file: string, sha256: string): RestoreResult['madeBy'] {
  try {
    const db = new DatabaseSync(file);
    try {
      const rows = db
        .prepare(
          "select seq, time, actor, details from audit_log where action = 'backup.create' and outcome = 'success' and details like ?",
        )
        .all(`%${sha256}%`) as { seq: number; time: string; actor: string; details: string }[];
      const row = rows.find((r) => (JSON.parse(r.details) as { sha256?: unknown }).sha256 === sha256);
      return row === undefined ? undefined : { seq: Number(row.seq), time: row.time, actor: row.actor };
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

/** Replacing the store under a running server would lose its writes. */
function refuseRunningServer(dataDir: string): void {
  const running = runningServer(dataDir);
  if (running !== undefined) {
    throw new AppError('CONFLICT', `a server (pid ${running.pid}) is running on ${dataDir}: stop it before restoring`);
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
