import { execFileSync } from 'node:child_process';
import { createSecretKey, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog, readHead } from '../audit/audit-log.js';
import { verifyAuditChain } from '../audit/audit-verify.js';
import { audited, type TxAudit } from '../audit/tx-audit.js';
import { createTempDir } from '../../test-support/temp-store.js';
import { createTestClock } from '../../test-support/test-app.js';
import { openSqliteStore } from './open-sqlite-store.js';
import { commitLock, sqliteAuditWriter } from './sqlite-audit-writer.js';
import { auditWriterOf, type AuditGroupWriter, type Store } from './store.js';
import { testAuditEntry } from '../../test-support/audit-entry.js';

/*
 * The audit log's groups committed by the SQLite store's writer thread (sqlite-audit-writer.ts): the same chain,
 * order and durability as groups committed on the loop, with changes committed on the loop in between, and with
 * another connection moving the head. The thread chains the entries itself: verifyAuditChain recomputes every MAC
 * with audit-chain.ts, so the two computations are checked against each other.
 */

const key = createSecretKey(randomBytes(32));
let dir: ReturnType<typeof createTempDir>;
let store: Store;
let lines: string[];
const headFile = () => join(dir.path, 'audit.head');

beforeEach(async () => {
  dir = createTempDir();
  store = await openSqliteStore(dir.path);
  lines = [];
});
afterEach(async () => {
  await store.close();
  dir.remove();
});

const entry = testAuditEntry;

/** The store's writer, noting how many entries each group it committed had. */
function countingWriter(on: Store = store) {
  const writer = auditWriterOf(on.db) as AuditGroupWriter;
  const calls: number[] = [];
  const counted: AuditGroupWriter = {
    usable: () => writer.usable(),
    write: async (setup, group, onCommitted) => {
      const answer = await writer.write(setup, group, onCommitted);
      calls.push(answer.macs.length);
      return answer;
    },
  };
  return { writer: counted, calls };
}

function openLog(
  writer: AuditGroupWriter | undefined,
  on: Store = store,
  file: string | undefined = headFile(),
  writerFromEntriesPerSecond = 0,
) {
  return createAuditLog({
    db: on.db,
    dialect: 'sqlite',
    key,
    clock: createTestClock(),
    headFile: file,
    sink: (line) => lines.push(line),
    writer,
    writerFromEntriesPerSecond,
  });
}

const streamedSeqs = () => lines.map((l) => (JSON.parse(l) as { seq: number }).seq);

/** Whether this test can mark a file immutable (root, `chattr`, a file system that has the flag). */
function canMakeImmutable(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = createTempDir();
  const file = join(probe.path, 'probe');
  try {
    writeFileSync(file, '');
    execFileSync('chattr', ['+i', file], { stdio: 'ignore' });
    execFileSync('chattr', ['-i', file], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    probe.remove();
  }
}

describe('the audit writer thread', () => {
  it('commits the groups: consecutive numbers on one verifiable chain, streamed and anchored in order', async () => {
    const { writer, calls } = countingWriter();
    const log = openLog(writer);
    const records = [];
    // The last wave is one group of more rows than one insert statement carries (64).
    for (const [wave, size] of [20, 20, 20, 150].entries()) {
      records.push(...(await Promise.all(Array.from({ length: size }, (_, i) => log.append(entry(`w${wave}-${i}`))))));
    }
    await log.settled();
    const all = Array.from({ length: 210 }, (_, i) => i + 1);
    expect(records.map((r) => r.seq).sort((a, b) => a - b)).toEqual(all);
    expect(calls.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...calls)).toBeGreaterThan(64);
    expect(calls.reduce((a, b) => a + b)).toBe(210);
    expect(streamedSeqs()).toEqual(all);
    // What each request got back is the stored row, its MAC included.
    const stored = await store.db.selectFrom('audit_log').select(['seq', 'mac', 'request_id']).orderBy('seq').execute();
    const bySeq = new Map(records.map((r) => [r.seq, r]));
    expect(stored.every((row) => bySeq.get(row.seq)?.mac === row.mac)).toBe(true);
    expect(stored.every((row) => bySeq.get(row.seq)?.requestId === row.request_id)).toBe(true);
    expect(readHead(headFile())).toMatchObject({ seq: 210 });
    const verified = await verifyAuditChain(store.db, key, { headFile: headFile() });
    expect(verified).toMatchObject({ ok: true, count: 210 });
  });

  it('takes the groups only once entries come faster than the threshold, and then for good', async () => {
    const { writer, calls } = countingWriter();
    const log = openLog(writer, store, headFile(), 30);
    for (let i = 0; i < 10; i++) await log.append(entry(`slow-${i}`));
    expect(calls).toEqual([]); // committed on the loop: no thread for a quiet server
    await Promise.all(Array.from({ length: 40 }, (_, i) => log.append(entry(`burst-${i}`))));
    expect(calls.length).toBeGreaterThan(0);
    const after = calls.length;
    await log.append(entry('quiet-again'));
    expect(calls.length).toBe(after + 1);
    await log.settled();
    expect((await verifyAuditChain(store.db, key, { headFile: headFile() })).ok).toBe(true);
  });

  it('keeps one chain in commit order with changes committed on the loop in between', async () => {
    const { writer, calls } = countingWriter();
    const log = openLog(writer);
    const change = (i: number) => {
      const audit: TxAudit = async (trx) => {
        const written = [entry(`change-${i}`)];
        const recorded = await log.appendIn(trx, written);
        return (durable) => void log.publishedWhen(recorded, durable, written).catch(() => undefined);
      };
      return audited(store.db, audit, async (trx) => {
        await trx
          .insertInto('projects')
          .values({ id: `p${i}`, slug: `p${i}`, name: `p${i}`, created_at: '', updated_at: '' })
          .execute();
      });
    };
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) {
      work.push(change(i));
      for (let j = 0; j < 3; j++) work.push(log.append(entry(`read-${i}-${j}`)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(work);
    await log.settled();
    expect(calls.length).toBeGreaterThan(0);
    // The changes moved the head between the writer's groups: each group extended the head it found, never forked.
    expect(streamedSeqs()).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const verified = await verifyAuditChain(store.db, key, { headFile: headFile() });
    expect(verified).toMatchObject({ ok: true, count: 40 });
    expect(await store.db.selectFrom('projects').select('id').execute()).toHaveLength(10);
  });

  it('extends the head another connection moved: one chain, nothing forked', async () => {
    const { writer, calls } = countingWriter();
    const log = openLog(writer);
    const other = await openSqliteStore(dir.path);
    try {
      // Another server on the same file, committing on its own loop.
      const otherLog = openLog(undefined, other, undefined);
      await log.append(entry('first'));
      await otherLog.append(entry('elsewhere'));
      await otherLog.settled();
      const third = await log.append(entry('third'));
      await log.settled();
      expect(third.seq).toBe(3);
      expect(calls).toEqual([1, 1]);
      const verified = await verifyAuditChain(store.db, key);
      expect(verified).toMatchObject({ ok: true, count: 3 });
    } finally {
      await other.close();
    }
  });

  it('refuses a group that fails, stores none of it, and goes on with the next', async () => {
    const real = auditWriterOf(store.db) as AuditGroupWriter;
    let breakNext = false;
    const log = openLog({
      usable: () => real.usable(),
      write: (setup, group, onCommitted) => {
        if (!breakNext) return real.write(setup, group, onCommitted);
        breakNext = false;
        // Its last row cannot be stored (a NOT NULL column): the name list and the rows stored before it must go too.
        const entries = group.entries.map((fields, i) =>
          i === group.entries.length - 1 ? [null as unknown as string, ...fields.slice(1)] : fields,
        );
        return real.write(setup, { ...group, entries }, onCommitted);
      },
    });
    await log.append(entry('one'));
    breakNext = true;
    const listed = { ...entry('listed'), namesLists: [{ hash: 'h-broken', names: '["A"]' }] };
    await expect(Promise.all([log.append(listed), log.append(entry('broken'))])).rejects.toThrow(
      /could not be committed/,
    );
    expect(await store.db.selectFrom('audit_names').select('hash').execute()).toEqual([]);
    const next = await log.append(entry('two'));
    await log.settled();
    expect(next.seq).toBe(2);
    const rows = await store.db.selectFrom('audit_log').select(['seq', 'action']).orderBy('seq').execute();
    expect(rows).toEqual([
      { seq: 1, action: 'one' },
      { seq: 2, action: 'two' },
    ]);
    expect((await verifyAuditChain(store.db, key, { headFile: headFile() })).ok).toBe(true);
    expect(real.usable()).toBe(true);
  });

  // An immutable WAL (chattr +i, root on ext4 and the like) makes SQLite's writes to it fail with EPERM, which
  // SQLite reports as an I/O error: the real failure, not a stand-in.
  it.skipIf(!canMakeImmutable())(
    'counts a COMMIT that fails with an I/O error as lost durability: the store refuses everything after',
    async () => {
      const lost: unknown[] = [];
      await store.close();
      store = await openSqliteStore(dir.path, { onDurabilityLost: (error) => lost.push(error) });
      const log = openLog(auditWriterOf(store.db));
      await log.append(entry('before'));
      const wal = join(dir.path, 'keybox.db-wal');
      execFileSync('chattr', ['+i', wal]);
      try {
        await expect(log.append(entry('during'))).rejects.toThrow(/can no longer be synced to disk/);
        expect(lost).toHaveLength(1);
        // Fail closed: nothing more runs on this store, reads included.
        await expect(store.db.selectFrom('audit_log').select('seq').execute()).rejects.toThrow(
          /can no longer be synced to disk/,
        );
        await expect(log.append(entry('after'))).rejects.toThrow(/can no longer be synced to disk/);
      } finally {
        execFileSync('chattr', ['-i', wal]);
      }
      // What was committed before is all there is.
      await store.close();
      store = await openSqliteStore(dir.path);
      const rows = await store.db.selectFrom('audit_log').select(['seq', 'action']).orderBy('seq').execute();
      expect(rows).toEqual([{ seq: 1, action: 'before' }]);
    },
  );

  it('commits on the loop again once its thread stops, refusing only the group it had', async () => {
    // A directory for a database file: the thread cannot open it, and stops.
    const broken = sqliteAuditWriter({ file: dir.path, lock: commitLock(), check: () => undefined, lost: (e) => e });
    try {
      const log = openLog(broken);
      await expect(log.append(entry('lost'))).rejects.toThrow(/audit writer stopped/);
      expect(broken.usable()).toBe(false);
      const next = await log.append(entry('on the loop'));
      await log.settled();
      expect(next.seq).toBe(1);
      expect(await verifyAuditChain(store.db, key, { headFile: headFile() })).toMatchObject({ ok: true, count: 1 });
    } finally {
      await broken.close();
    }
  });
});
