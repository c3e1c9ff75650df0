import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, openSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { AppError } from '../app-error.js';
import { audited, type TxAudit } from '../audit/tx-audit.js';
import type { Clock } from '../clock.js';
import type { Db } from '../store/database.js';

/*
 * Backups through the API (`keybox backup create`): a consistent copy of the SQLite store, made beside it and sent to
 * the caller. The copy holds what the store holds — values encrypted under data keys wrapped by the root key — and
 * never the root key itself: a backup is useless without the key, and the key must be kept elsewhere.
 */

/** What the server remembers of its last backup (meta `backup.last`; shown by /api/secrets/status). */
export interface BackupRecord {
  createdAt: string;
  bytes: number;
  sha256: string;
  /** The last audit entry the copy holds. */
  auditSeq: number;
  rootKeyId: string;
  actor: string;
}

export interface MadeBackup extends BackupRecord {
  /** An open descriptor of the copy, whose name is already unlinked: reading it is the only way to it. */
  fd: number;
}

export interface BackupDeps {
  db: Db;
  /** The store's snapshot (SQLite); undefined on PostgreSQL. */
  snapshot: ((file: string) => Promise<void>) | undefined;
  dataDir: string | undefined;
  rootKeyId: string;
  clock: Clock;
}

const LAST = 'backup.last';

export function createBackupService(deps: BackupDeps) {
  /** Makes a copy, checks it, records it (with `audit`, in the same transaction). */
  async function create(actor: string, audit: TxAudit | undefined): Promise<MadeBackup> {
    if (deps.snapshot === undefined || deps.dataDir === undefined) {
      throw new AppError(
        'INVALID_INPUT',
        'this store cannot be copied by the server (no snapshot): back it up with its own tools',
      );
    }
    // Beside the store, so the copy lands on the same (private) file system and never in a shared /tmp.
    const file = join(deps.dataDir, `.backup-${randomBytes(8).toString('hex')}.db`);
    try {
      await deps.snapshot(file);
      const auditSeq = await checkCopy(file);
      const sha256 = await digest(file);
      const record: BackupRecord = {
        createdAt: deps.clock.now().toISOString(),
        bytes: statSync(file).size,
        sha256,
        auditSeq,
        rootKeyId: deps.rootKeyId,
        actor,
      };
      await audited(
        deps.db,
        audit,
        async (trx) => {
          const value = JSON.stringify(record);
          await trx
            .insertInto('meta')
            .values({ key: LAST, value })
            .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
            .execute();
        },
        () => ({ bytes: record.bytes, sha256, auditSeq, rootKeyId: record.rootKeyId }),
      );
      const fd = openSync(file, 'r');
      rmSync(file, { force: true });
      return { ...record, fd };
    } catch (error) {
      rmSync(file, { force: true });
      throw error;
    }
  }

  async function last(): Promise<BackupRecord | undefined> {
    const row = await deps.db.selectFrom('meta').select('value').where('key', '=', LAST).executeTakeFirst();
    return row === undefined ? undefined : (JSON.parse(row.value) as BackupRecord);
  }

  return { create, last };
}

export type BackupService = ReturnType<typeof createBackupService>;

/**
 * Opens the copy on its own and makes it a standalone file (rollback journal instead of WAL: nothing beside it to
 * carry along). It must pass SQLite's quick check. Returns its last audit entry's number. On a worker thread:
 * node:sqlite is synchronous, and checking a 74 MiB copy (100k secrets) held the event loop for ~115 ms.
 */
function checkCopy(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(CHECK_COPY, { eval: true, workerData: file });
    worker.once('message', (answer: { seq?: number; error?: string }) => {
      if (answer.error !== undefined) reject(new AppError('INTERNAL', answer.error));
      else resolve(answer.seq ?? 0);
    });
    worker.once('error', reject);
    // A worker that dies without answering (out of memory, say) must not leave the request waiting for ever.
    worker.once('exit', (code) => reject(new AppError('INTERNAL', `the backup check stopped (exit ${code})`)));
  });
}

const CHECK_COPY = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
try {
  const copy = new DatabaseSync(workerData);
  try {
    copy.exec('pragma journal_mode = delete');
    const check = copy.prepare('pragma quick_check').all();
    if (check.length !== 1 || check[0].quick_check !== 'ok') {
      parentPort.postMessage({ error: 'the backup copy failed its integrity check; nothing was recorded' });
    } else {
      const head = copy.prepare('select max(seq) as seq from audit_log').get();
      parentPort.postMessage({ seq: Number(head?.seq ?? 0) });
    }
  } finally {
    copy.close();
  }
} catch (error) {
  parentPort.postMessage({ error: 'the backup copy cannot be opened: ' + (error && error.code || 'error') });
}
`;

function digest(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}
