import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { isoNow, type Clock } from '../clock.js';
import type { Db } from '../store/database.js';
import type { SqlDialect } from '../store/migrations.js';
import type { CompiledQuery } from 'kysely';
import {
  auditWriterOf,
  durableCommit,
  type AuditChainSetup,
  type AuditGroupWriter,
  type GroupCommit,
} from '../store/store.js';
import { prepared } from '../store/prepared.js';
import { chainedFields, chainMac, genesisMac, toRow, type AuditFields } from './audit-chain.js';
import { expandNames, listsOf, type NamesList } from './audit-names.js';

const HEAD_WRITE_SPACING_MS = 20;

/** An `audit_log` row's columns, in the order the chain's fields and the writer thread's parameters follow. */
const EMPTY_ROW = toRow(
  {
    seq: 0,
    time: '',
    actor: '',
    actorType: '',
    sourceIp: '',
    userAgent: '',
    action: '',
    resource: '',
    outcome: '',
    requestId: '',
    details: '',
  },
  '',
);

/** The most rows one insert statement carries (SQLite allows 32,766 parameters: 12 per row). */
const INSERT_ROWS_MAX = 64;

export type ActorType = 'user' | 'identity' | 'token' | 'anonymous' | 'system';
export type Outcome = 'success' | 'denied' | 'failure' | 'error';

/** What a caller records. Never a value: names, versions, paths, ids. */
export interface AuditEntry {
  actor: string;
  actorType: ActorType;
  sourceIp: string;
  userAgent: string;
  action: string;
  resource: string;
  outcome: Outcome;
  requestId: string;
  details?: Record<string, unknown> | undefined;
  /** The details as JSON text already (a bulk read builds its own from stored JSON); wins over `details`. */
  detailsJson?: string | undefined;
  /** Name lists the details refer to by hash (see audit-names.ts): stored with the entry if not there yet. */
  namesLists?: readonly NamesList[] | undefined;
}

export type AuditRecord = AuditFields & { mac: string };

export interface AuditHead {
  seq: number;
  mac: string;
}

export interface AuditLogDeps {
  db: Db;
  dialect: SqlDialect;
  key: KeyObject;
  clock: Clock;
  /** `DATA_DIR/audit.head`: the chain head kept outside the database. */
  headFile?: string | undefined;
  /** Each committed entry as one JSON line (a SIEM file or stdout). */
  sink?: ((line: string) => void) | undefined;
  /** Told when the sink throws; the entries are in the database all the same. */
  onSinkError?: ((error: unknown) => void) | undefined;
  /** How a group of entries is committed durably; the store's `durableCommit` by default (tests slow it down). */
  groupCommit?: GroupCommit | undefined;
  /**
   * Commits groups on a connection of its own (SQLite: on a worker thread); the store's, by default, unless
   * `groupCommit` is given. Used once entries come at `writerFromEntriesPerSecond` or faster.
   */
  writer?: AuditGroupWriter | undefined;
  /** How many entries a second make the log hand its groups to `writer` from then on (0: from the first). */
  writerFromEntriesPerSecond?: number | undefined;
}

/**
 * Entries a second from which the audit log hands its groups to the store's writer thread: a server that serves a
 * few requests a second keeps no thread for it (one costs ~19 MiB of RSS), and at low rates the hop to another
 * thread would only add to each group's wait. (Counted in entries, not groups: under load the groups grow, up to
 * one entry per waiting request, and there are fewer of them.)
 */
export const WRITER_FROM_ENTRIES_PER_SECOND = 1000;

/**
 * Appends to the audit chain. `append` groups concurrent entries into one transaction (a response still waits for
 * its own entry to be committed); `appendIn` adds entries to the caller's transaction, so a write and its audit entry
 * commit or fail together. Both lock the chain head row, so several servers on one database extend one chain.
 */
export function createAuditLog({
  db,
  dialect,
  key,
  clock,
  headFile,
  sink,
  onSinkError,
  groupCommit: givenGroupCommit,
  writer = givenGroupCommit === undefined ? auditWriterOf(db) : undefined,
  writerFromEntriesPerSecond = WRITER_FROM_ENTRIES_PER_SECOND,
}: AuditLogDeps) {
  const groupCommit = givenGroupCommit ?? durableCommit(db);
  const genesis = genesisMac(key);
  let queue: { entry: AuditEntry; resolve: (r: AuditRecord) => void; reject: (e: unknown) => void }[] = [];
  let flushing = false;
  let publishedSeq = 0;
  const inserts = new Map<number, ReturnType<typeof compileInsert>>();
  const compileInsert = (rows: number) =>
    prepared(db.insertInto('audit_log').values(Array.from({ length: rows }, () => EMPTY_ROW)));
  // Lists this process saw committed need no new insert. A row already there under the same hash is written over:
  // the hash decides the content, so a row planted in the database ahead of the read is put right, not kept.
  const storedLists = new Set<string>();
  const STORED_LISTS_MAX = 10_000;
  const insertNames = prepared(
    db
      .insertInto('audit_names')
      .values({ hash: '', names: '' })
      .onConflict((oc) => oc.column('hash').doUpdateSet({ names: (eb) => eb.ref('excluded.names') })),
  );
  const insertRows = (rows: number) => {
    let query = inserts.get(rows);
    if (query === undefined) {
      query = compileInsert(rows);
      inserts.set(rows, query);
    }
    return query;
  };
  const insertHead = prepared(db.insertInto('audit_head').values({ id: 1, seq: 0, mac: '' }));
  const updateHead = prepared(db.updateTable('audit_head').set({ seq: 0, mac: '' }).where('id', '=', 1));
  // What the writer thread needs to chain and store groups itself, compiled once (the same SQL as on the loop).
  let writerSetup: AuditChainSetup | undefined;
  const setupForWriter = (): AuditChainSetup =>
    (writerSetup ??= {
      key,
      genesis,
      sql: {
        head: db.selectFrom('audit_head').select(['seq', 'mac']).where('id', '=', 1).compile().sql,
        insertHead: insertHead(1, 0, '').sql,
        updateHead: updateHead(0, '', 1).sql,
        insertNames: insertNames('', '').sql,
        insertRow: db.insertInto('audit_log').values(EMPTY_ROW).compile().sql,
      },
      rowsMax: INSERT_ROWS_MAX,
    });

  /** An entry's chained fields at `seq`, stamped with `time`. */
  function fieldsAt(seq: number, time: string, entry: AuditEntry): AuditFields {
    return {
      seq,
      time,
      actor: entry.actor,
      actorType: entry.actorType,
      sourceIp: entry.sourceIp,
      userAgent: entry.userAgent,
      action: entry.action,
      resource: entry.resource,
      outcome: entry.outcome,
      requestId: entry.requestId,
      details: entry.detailsJson ?? JSON.stringify(entry.details ?? {}),
    };
  }

  /** Chains `entries` onto `head` (undefined: the genesis). */
  function chained(entries: readonly AuditEntry[], head: AuditHead | undefined): AuditRecord[] {
    let seq = head?.seq ?? 0;
    let mac = head?.mac ?? genesis;
    const time = isoNow(clock);
    const records: AuditRecord[] = [];
    for (const entry of entries) {
      seq += 1;
      const fields = fieldsAt(seq, time, entry);
      mac = chainMac(key, mac, fields);
      records.push({ ...fields, mac });
    }
    return records;
  }

  /** The statements that store `records` (and the name lists they refer to) and move the head row. */
  function storing(records: readonly AuditRecord[], entries: readonly AuditEntry[], headExists: boolean) {
    const statements: CompiledQuery[] = [];
    // Each list the group refers to, unless stored already (by an earlier read, or another server).
    for (const [hash, names] of listsOf(entries)) {
      if (!storedLists.has(hash)) statements.push(insertNames(hash, names));
    }
    // Multi-row inserts for the whole group, compiled once per row count.
    for (let at = 0; at < records.length; at += INSERT_ROWS_MAX) {
      const chunk = records.slice(at, at + INSERT_ROWS_MAX);
      statements.push(insertRows(chunk.length)(...chunk.flatMap((r): unknown[] => Object.values(toRow(r, r.mac)))));
    }
    const last = records[records.length - 1] as AuditRecord;
    statements.push(headExists ? updateHead(last.seq, last.mac, 1) : insertHead(1, last.seq, last.mac));
    return statements;
  }

  async function appendIn(trx: Db, entries: readonly AuditEntry[]): Promise<AuditRecord[]> {
    let headQuery = trx.selectFrom('audit_head').select(['seq', 'mac']).where('id', '=', 1);
    if (dialect === 'postgres') headQuery = headQuery.forUpdate();
    const head = await headQuery.executeTakeFirst();
    const records = chained(entries, head);
    if (records.length === 0) return records;
    for (const statement of storing(records, entries, head !== undefined)) await trx.executeQuery(statement);
    return records;
  }

  /**
   * Commits a group through the writer, which chains it onto the head it finds in its transaction: the loop sends
   * the entries' fields, once each, and builds the records from the numbers and macs it gets back.
   */
  async function commitThroughWriter(
    w: AuditGroupWriter,
    entries: readonly AuditEntry[],
    onCommitted: (records: AuditRecord[]) => void,
  ): Promise<void> {
    const time = isoNow(clock);
    const fields = entries.map((entry) => fieldsAt(0, time, entry));
    const lists: [string, string][] = [];
    for (const [hash, names] of listsOf(entries)) if (!storedLists.has(hash)) lists.push([hash, names]);
    await w.write(setupForWriter(), { time, entries: fields.map(chainedFields), lists }, ({ first, macs }) => {
      onCommitted(fields.map((f, i) => ({ ...f, seq: first + i, mac: macs[i] as string })));
    });
  }

  // The head file is written off the event loop, one write at a time, always with the newest head, at most every
  // HEAD_WRITE_SPACING_MS: a burst of commits costs a few file replacements, not one each. It may lag the database
  // by that much (verify accepts a head behind the chain, never one past it); shutdown and verify wait for it.
  let headWriter: Promise<void> | undefined;
  let headPending: AuditHead | undefined;
  function writeHeadSoon(head: AuditHead): void {
    if (headFile === undefined) return;
    headPending = head;
    if (headWriter !== undefined) return;
    const file = headFile;
    headWriter = (async () => {
      try {
        while (headPending !== undefined) {
          const next = headPending;
          headPending = undefined;
          // A failed write leaves the previous head: still a true (older) anchor, and `verify` says if it is missing.
          await writeHead(file, next).catch(() => undefined);
          // Under load a group commits every few hundred µs: replacing the file that often cost ~3 % of the CPU.
          if (headPending !== undefined) await new Promise((r) => setTimeout(r, HEAD_WRITE_SPACING_MS));
        }
      } finally {
        headWriter = undefined;
      }
    })();
  }

  /** Resolves once the head file holds the newest committed head (at once when no write is under way). */
  async function headWritten(): Promise<void> {
    while (headWriter !== undefined) await headWriter;
  }

  /*
   * Committed entries wait here, in sequence order, until they are on disk; then they are streamed and the head
   * moves, strictly in that order: the stream never holds an entry a power cut could take back (after which the
   * restarted chain would reuse its number), nor one ahead of an earlier entry still syncing.
   */
  const unpublished: {
    records: readonly AuditRecord[];
    entries?: readonly AuditEntry[];
    state: 'syncing' | 'durable' | 'lost';
  }[] = [];

  function drain(): void {
    while (unpublished.length > 0 && unpublished[0]?.state !== 'syncing') {
      const item = unpublished.shift();
      // A group whose sync failed is committed but not known to be on disk: the server stops (see the store).
      if (item?.state === 'durable') {
        streamed(item.records, item.entries);
        anchored(item.records);
      }
    }
  }

  /** After a commit: stream the entries and move the head once `durable` says they are on disk, in order. */
  function publishedWhen(
    records: readonly AuditRecord[],
    durable: Promise<void>,
    entries?: readonly AuditEntry[],
  ): Promise<void> {
    const first = records[0];
    if (first === undefined) return durable;
    const item: (typeof unpublished)[number] = { records, entries, state: 'syncing' };
    let at = unpublished.length;
    while (at > 0 && (unpublished[at - 1]?.records[0]?.seq ?? 0) > first.seq) at -= 1;
    unpublished.splice(at, 0, item);
    return durable.then(
      () => {
        item.state = 'durable';
        drain();
      },
      (error: unknown) => {
        item.state = 'lost';
        drain();
        throw error;
      },
    );
  }

  /** Moves the external head forward: only to entries that are on disk, or a crash could leave it past the chain. */
  function anchored(records: readonly AuditRecord[]): void {
    const last = records[records.length - 1];
    if (last !== undefined && last.seq > publishedSeq) {
      publishedSeq = last.seq;
      writeHeadSoon({ seq: last.seq, mac: last.mac });
    }
  }

  /**
   * Streams committed entries, in the order they were committed (the chain's order), with the name lists they
   * refer to written out (`entries`, when given, hold them).
   */
  function streamed(records: readonly AuditRecord[], entries?: readonly AuditEntry[]): void {
    if (sink === undefined) return;
    const lists = listsOf(entries ?? []);
    // The entries are committed: a failing stream (a full disk, a closed pipe) is reported, never turned into a
    // failed request whose change did happen.
    try {
      for (const r of records) {
        const details = expandNames(JSON.parse(r.details) as unknown, (hash) => lists.get(hash));
        sink(`${JSON.stringify({ ...r, details })}\n`);
      }
    } catch (error) {
      onSinkError?.(error);
    }
  }

  let flushed: Promise<void> | undefined;
  /** The sync of the last group committed (settled either way). */
  let lastSync: Promise<void> | undefined;
  /** Committed groups waiting for their sync. */
  const syncing = new Set<Promise<void>>();
  /** Waits until every queued entry is committed and the head file has caught up (on shutdown). */
  async function settled(): Promise<void> {
    while (flushed !== undefined || scheduled || syncing.size > 0) {
      if (flushed !== undefined) await flushed;
      else if (syncing.size > 0) await Promise.all(syncing);
      else await new Promise((r) => setImmediate(r));
    }
    await headWritten();
  }

  async function flush(): Promise<void> {
    flushing = true;
    try {
      while (queue.length > 0) {
        // Entries that came in while the last group was syncing could not be answered before the next sync anyway:
        // they wait for it here and commit as one group. Committing each turn's entries at once instead cost one
        // COMMIT apiece (writing the same leaf pages to the WAL again), ~5 % of the throughput under load.
        if (lastSync !== undefined) await lastSync;
        const batch = queue;
        queue = [];
        const entries = batch.map((b) => b.entry);
        // Registered at the commit, before any other commit of the store: publication follows the chain's order.
        // Nobody is answered, nothing is streamed and the head does not move before the group is on disk; the
        // entries arriving meanwhile queue up for the next group.
        let done: Promise<void> | undefined;
        const committed = (records: readonly AuditRecord[], durable: Promise<void>) => {
          done = publishedWhen(records, durable, entries).then(
            () => batch.forEach((b, i) => b.resolve(records[i] as AuditRecord)),
            (error: unknown) => {
              for (const b of batch) b.reject(error);
            },
          );
          lastSync = durable.catch(() => undefined);
          syncing.add(done);
          const registered = done;
          void done.finally(() => syncing.delete(registered));
        };
        try {
          if (viaWriter(entries.length)) {
            await commitThroughWriter(writer as AuditGroupWriter, entries, (records) =>
              committed(records, Promise.resolve()),
            );
          } else {
            await groupCommit((trx) => appendIn(trx, entries), committed);
          }
          if (storedLists.size > STORED_LISTS_MAX) storedLists.clear();
          for (const hash of listsOf(entries).keys()) storedLists.add(hash);
        } catch (error) {
          // Committed or not, the entries' requests are refused (a group whose COMMIT was registered settles on its own).
          if (done === undefined) for (const b of batch) b.reject(error);
        }
      }
    } finally {
      flushing = false;
    }
  }

  // Entries in the current second, and whether the log has gone over to the writer (for good).
  let windowStart = 0;
  let windowEntries = 0;
  let writerOn = false;
  function viaWriter(entries: number): boolean {
    if (writer === undefined || !writer.usable()) return false;
    if (!writerOn) {
      const now = performance.now();
      if (now - windowStart >= 1000) {
        windowStart = now;
        windowEntries = 0;
      }
      windowEntries += entries;
      writerOn = windowEntries > writerFromEntriesPerSecond;
    }
    return writerOn;
  }

  /*
   * node:sqlite runs synchronously, so a flush started at once would always carry one entry. Starting it on the
   * next check phase lets every request that finished in this turn of the event loop join the same transaction:
   * one commit (one fsync) for the group, and each response still waits for its own entry.
   */
  let scheduled = false;
  function append(entry: AuditEntry): Promise<AuditRecord> {
    return new Promise((resolve, reject) => {
      queue.push({ entry, resolve, reject });
      if (!flushing && !scheduled) {
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          flushed = flush().finally(() => {
            flushed = undefined;
          });
        });
      }
    });
  }

  return { append, appendIn, publishedWhen, settled, headWritten, genesis };
}

export type AuditLog = ReturnType<typeof createAuditLog>;

/**
 * Replaces the head file atomically; it is 0600 like everything the server writes. The temp name carries the pid:
 * several servers may share a data dir, and one must never rename another's half-written file into place.
 */
export async function writeHead(path: string, head: AuditHead): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(head)}\n`, { mode: 0o600 });
  await rename(temp, path);
}

export function readHead(path: string): AuditHead | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<AuditHead>;
    if (typeof parsed.seq === 'number' && typeof parsed.mac === 'string') return { seq: parsed.seq, mac: parsed.mac };
  } catch {
    // fall through
  }
  return { seq: -1, mac: '' };
}
