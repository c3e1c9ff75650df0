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
 * another connection moving the head.
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

/** The store's writer, counting the groups handed to it (and whether each was refused as stale). */
function countingWriter(on: Store = store) {
  const writer = auditWriterOf(on.db) as AuditGroupWriter;
  const calls: ('committed' | 'stale')[] = [];
  const counted: AuditGroupWriter = {
    usable: () => writer.usable(),
    write: async (group, onCommitted) => {
      const answer = await writer.write(group, onCommitted);
      calls.push('stale' in answer ? 'stale' : 'committed');
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
    for (let wave = 0; wave < 3; wave++) {
      records.push(...(await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(entry(`w${wave}-${i}`))))));
    }
    await log.settled();
    expect(records.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(calls.length).toBeGreaterThanOrEqual(3);
    expect(calls.every((c) => c === 'committed')).toBe(true);
    expect(streamedSeqs()).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(readHead(headFile())).toMatchObject({ seq: 60 });
    const verified = await verifyAuditChain(store.db, key, { headFile: headFile() });
    expect(verified).toMatchObject({ ok: true, count: 60 });
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
    expect(calls.filter((c) => c === 'committed').length).toBeGreaterThan(0);
    // The changes moved the head under the writer's feet: its groups were chained again, never forked.
    expect(streamedSeqs()).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const verified = await verifyAuditChain(store.db, key, { headFile: headFile() });
    expect(verified).toMatchObject({ ok: true, count: 40 });
    expect(await store.db.selectFrom('projects').select('id').execute()).toHaveLength(10);
  });

  it('chains a group again onto the head another connection moved, and writes nothing of the stale one', async () => {
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
      expect(calls).toEqual(['committed', 'stale', 'committed']);
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
      write: (group, onCommitted) => {
        if (!breakNext) return real.write(group, onCommitted);
        breakNext = false;
        // Its last statement (the head's) fails: the rows inserted before it in the group must go too.
        const statements = group.statements.map((s, i) =>
          i === group.statements.length - 1 ? { ...s, sql: 'update no_such_table set x = 1' } : s,
        );
        return real.write({ ...group, statements }, onCommitted);
      },
    });
    await log.append(entry('one'));
    breakNext = true;
    await expect(log.append(entry('broken'))).rejects.toThrow(/could not be committed/);
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
