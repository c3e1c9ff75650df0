import { Worker } from 'node:worker_threads';
import type { AuditChainSetup, AuditGroup, AuditGroupCommitted, AuditGroupWriter } from './store.js';

/*
 * Every audited read appends to the audit chain, and node:sqlite runs on the thread that calls it: under load the
 * inserts and COMMITs of the audit groups (and SQLite's checkpoints inside them) were ~40 % of the event loop's CPU
 * on a bulk read of 200 secrets (bench/README.md). Here a second connection to the same file, on a worker thread,
 * commits the groups, so that work runs on another core while the loop goes on serving. The loop sends each entry's
 * fields (one JSON string a group); the worker, in one transaction with synchronous=FULL (the COMMIT is on disk when
 * it answers), reads the chain head, chains the entries onto it (their MACs, as audit-chain.ts computes them on the
 * loop), inserts them and moves the head, and answers with their sequence numbers and MACs. Chaining here took
 * ~8 µs a read off the loop (20 secrets at 8k req/s: 81 against 89 µs): the MACs, and building and sending SQL and
 * parameters rather than fields.
 *
 * Commits of this store are taken one at a time through `lock` (the loop's own group commits hold it too), so the
 * worker never waits on the loop's write lock nor the loop on the worker's, and the audit log learns of commits in
 * the order they happened. The head is read under the write lock, so whatever moved it before (another process on
 * the file, a change committed on the loop) is simply what the group extends.
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
  first?: number;
  macs?: string[];
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
  /** The chain setup the thread has (sent again if another audit log's comes). */
  let sent: AuditChainSetup | undefined;

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
  const ask = (setup: AuditChainSetup, group: AuditGroup): Promise<WriterAnswer> =>
    new Promise<WriterAnswer>((resolve, reject) => {
      pending = { resolve, reject };
      worker ??= start();
      // The key goes as a KeyObject (cloned into the thread, never as bytes in a message), once.
      if (sent !== setup) {
        worker.postMessage({ setup });
        sent = setup;
      }
      // As one JSON string: the structured clone of many small strings cost ~10 % of the loop's time under load;
      // one string is copied whole.
      worker.postMessage(JSON.stringify(group));
    });

  return {
    usable: () => !failed && !closing,
    async write(setup, group, onCommitted) {
      options.check();
      const release = await options.lock();
      try {
        if (failed || closing) throw new Error('the audit writer is stopped');
        const answer = await ask(setup, group);
        if (answer.error !== undefined) {
          const error = new Error(`the audit group could not be committed: ${answer.error}`);
          // A COMMIT whose sync failed may or may not be on disk: nothing may be confirmed from here on.
          throw answer.code === SQLITE_IOERR ? options.lost(error) : error;
        }
        const committed: AuditGroupCommitted = { first: answer.first as number, macs: answer.macs as string[] };
        onCommitted(committed);
        return committed;
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

// The worker: BEGIN IMMEDIATE, store the name lists, read the head, chain and insert the entries (`rowsMax` rows a
// statement at most), move the head, COMMIT (synchronous=FULL: synced before it returns). A MAC is HMAC-SHA256 under the
// audit key of the previous MAC, a newline and the JSON of [seq, time, ...fields]: audit-chain.ts `chainMac` and
// `canonical` (the tests check the two agree). Anything that fails rolls the whole group back and is answered with
// SQLite's code, never with values.
const WRITER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHmac } = require('node:crypto');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData, { enableForeignKeyConstraints: true, timeout: 5000 });
db.exec('pragma synchronous = full');
let setup;
let chain;
const statementsOf = (s) => {
  const row = s.sql.insertRow.slice(s.sql.insertRow.lastIndexOf('('));
  const inserts = new Map();
  return {
    head: db.prepare(s.sql.head),
    insertHead: db.prepare(s.sql.insertHead),
    updateHead: db.prepare(s.sql.updateHead),
    insertNames: db.prepare(s.sql.insertNames),
    insertRows: (n) => {
      let statement = inserts.get(n);
      if (statement === undefined) {
        statement = db.prepare(s.sql.insertRow + (', ' + row).repeat(n - 1));
        inserts.set(n, statement);
      }
      return statement;
    },
  };
};
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  if (typeof message === 'object') {
    setup = message.setup;
    chain = undefined;
    return;
  }
  const group = JSON.parse(message);
  let open = false;
  try {
    chain ??= statementsOf(setup);
    db.exec('begin immediate');
    open = true;
    for (const [hash, names] of group.lists) chain.insertNames.run(hash, names);
    const head = chain.head.get(1);
    let seq = head === undefined ? 0 : Number(head.seq);
    let mac = head === undefined ? setup.genesis : String(head.mac);
    const first = seq + 1;
    const macs = [];
    for (let at = 0; at < group.entries.length; at += setup.rowsMax) {
      const chunk = group.entries.slice(at, at + setup.rowsMax);
      const parameters = [];
      for (const fields of chunk) {
        seq += 1;
        mac = createHmac('sha256', setup.key)
          .update(mac + '\\n' + JSON.stringify([seq, group.time, ...fields]))
          .digest('hex');
        macs.push(mac);
        parameters.push(seq, group.time, ...fields, mac);
      }
      chain.insertRows(chunk.length).run(...parameters);
    }
    if (macs.length > 0) {
      if (head === undefined) chain.insertHead.run(1, seq, mac);
      else chain.updateHead.run(seq, mac, 1);
    }
    db.exec('commit');
    open = false;
    parentPort.postMessage({ first, macs });
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
