import { Worker } from 'node:worker_threads';
import type { AuditGroup, AuditGroupWriter } from './store.js';

/*
 * Every audited read appends to the audit chain, and node:sqlite runs on the thread that calls it: under load the
 * inserts and COMMITs of the audit groups (and SQLite's checkpoints inside them) were ~40 % of the event loop's CPU
 * on a bulk read of 200 secrets (bench/README.md). Here a second connection to the same file, on a worker thread,
 * commits the groups, so that work runs on another core while the loop goes on serving. The loop still builds the
 * entries and their chain MACs; the worker runs the statements Kysely compiled for them, in one transaction, with
 * synchronous=FULL (the COMMIT is on disk when the worker answers).
 *
 * Commits of this store are taken one at a time through `lock` (the loop's own group commits hold it too), so the
 * worker never waits on the loop's write lock nor the loop on the worker's, and the audit log learns of commits in
 * the order they happened. A group is chained onto the head the log last knew; if another connection moved the head
 * meanwhile (another process on the file, or a change committed on the loop whose entry the log has not seen yet),
 * nothing is written and the log chains the group again onto the head found.
 *
 * The thread starts with the first group (the audit log sends groups here only under load, see audit-log.ts) and
 * costs ~19 MiB of resident memory. If it stops, every group after it is committed on the loop again.
 */

/** A lock taken around each commit of the store: resolves with its release. */
export type CommitLock = () => Promise<() => void>;

/** One holder at a time, in the order they asked. */
export function commitLock(): CommitLock {
  let tail: Promise<void> = Promise.resolve();
  return async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const before = tail;
    tail = before.then(() => held);
    await before;
    return release;
  };
}

interface WriterAnswer {
  ok?: true;
  stale?: { seq: number; mac: string } | null;
  error?: string;
  /** SQLite's primary result code (10: an I/O error, the COMMIT's sync among them). */
  code?: number;
}

export interface SqliteAuditWriterOptions {
  /** The database file (in WAL mode). */
  file: string;
  lock: CommitLock;
  /** Throws if the store can no longer promise durability. */
  check(): void;
  /** A COMMIT failed with an I/O error: durability is lost (the store stops); returns the error to fail with. */
  lost(error: Error): Error;
}

export function sqliteAuditWriter(options: SqliteAuditWriterOptions): AuditGroupWriter & { close(): Promise<void> } {
  let worker: Worker | undefined;
  let failed = false;
  let closing = false;
  let pending: { resolve: (answer: WriterAnswer) => void; reject: (error: Error) => void } | undefined;

  const stopped = (error: Error) => {
    failed = true;
    worker = undefined;
    pending?.reject(error);
    pending = undefined;
  };
  const start = (): Worker => {
    const w = new Worker(WRITER, { eval: true, workerData: options.file });
    w.unref();
    w.on('message', (answer: WriterAnswer) => {
      const p = pending;
      pending = undefined;
      p?.resolve(answer);
    });
    w.on('error', (error: Error) => stopped(new Error(`the audit writer stopped: ${error.message}`)));
    w.on('exit', (code) => {
      if (!closing) stopped(new Error(`the audit writer stopped (exit ${code})`));
    });
    return w;
  };
  const ask = (group: AuditGroup): Promise<WriterAnswer> =>
    new Promise<WriterAnswer>((resolve, reject) => {
      pending = { resolve, reject };
      worker ??= start();
      // As one JSON string: the structured clone of the statements' many small strings cost ~10 % of the loop's
      // time under load; one string is copied whole.
      worker.postMessage(JSON.stringify(group));
    });

  return {
    usable: () => !failed && !closing,
    async write(group, onCommitted) {
      options.check();
      const release = await options.lock();
      try {
        if (failed || closing) throw new Error('the audit writer is stopped');
        const answer = await ask(group);
        if (answer.error !== undefined) {
          const error = new Error(`the audit group could not be committed: ${answer.error}`);
          // A COMMIT whose sync failed may or may not be on disk: nothing may be confirmed from here on.
          throw answer.code === SQLITE_IOERR ? options.lost(error) : error;
        }
        if (answer.stale !== undefined) return { stale: answer.stale ?? undefined };
        onCommitted();
        return {};
      } finally {
        release();
      }
    },
    async close() {
      closing = true;
      // The group under way, if any, finishes first (its requests wait for it); then the connection closes.
      const release = await options.lock();
      try {
        const w = worker;
        worker = undefined;
        if (w === undefined) return;
        const exited = new Promise((resolve) => w.once('exit', resolve));
        w.postMessage('close');
        await exited;
      } finally {
        release();
      }
    },
  };
}

const SQLITE_IOERR = 10;

// The worker: BEGIN IMMEDIATE, check the head, run the statements, COMMIT (synchronous=FULL: synced before it
// returns). Anything that fails rolls the whole group back and is answered with SQLite's code, never with values.
const WRITER = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData, { enableForeignKeyConstraints: true, timeout: 5000 });
db.exec('pragma synchronous = full');
const statements = new Map();
const prepared = (sql) => {
  let statement = statements.get(sql);
  if (statement === undefined) {
    if (statements.size >= 256) statements.clear();
    statement = db.prepare(sql);
    statements.set(sql, statement);
  }
  return statement;
};
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  const group = JSON.parse(message);
  let open = false;
  try {
    db.exec('begin immediate');
    open = true;
    const row = prepared(group.head.sql).get(...group.head.parameters);
    const head = row === undefined ? undefined : { seq: Number(row.seq), mac: String(row.mac) };
    const expect = group.expect;
    if (head === undefined ? expect !== undefined : expect === undefined || head.seq !== expect.seq || head.mac !== expect.mac) {
      db.exec('rollback');
      open = false;
      parentPort.postMessage({ stale: head === undefined ? null : head });
      return;
    }
    for (const s of group.statements) prepared(s.sql).run(...s.parameters);
    db.exec('commit');
    open = false;
    parentPort.postMessage({ ok: true });
  } catch (error) {
    if (open) {
      try {
        db.exec('rollback');
      } catch {}
    }
    const code = error && typeof error.errcode === 'number' ? error.errcode & 0xff : undefined;
    parentPort.postMessage({ error: String((error && error.errstr) || (error && error.code) || 'error'), code });
  }
});
`;
