import { createSecretKey, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openTempStore } from '../../test-support/temp-store.js';
import { createTestClock } from '../../test-support/test-app.js';
import { createAuditLog, readHead } from './audit-log.js';
import { verifyAuditChain } from './audit-verify.js';
import { testAuditEntry } from '../../test-support/audit-entry.js';
import type { GroupCommit } from '../store/store.js';

let temp: Awaited<ReturnType<typeof openTempStore>>;
let lines: string[];
let log: ReturnType<typeof createAuditLog>;
const key = createSecretKey(randomBytes(32));
const headFile = () => join(temp.dataDir, 'audit.head');

/** The log under test, on the temp store, streaming into `lines`. */
function openLog(options: Partial<Parameters<typeof createAuditLog>[0]> = {}) {
  return createAuditLog({
    db: temp.db,
    dialect: 'sqlite',
    key,
    clock: createTestClock(),
    headFile: headFile(),
    sink: (line) => lines.push(line),
    ...options,
  });
}

beforeEach(async () => {
  temp = await openTempStore();
  lines = [];
  log = openLog();
});
afterEach(async () => {
  await temp.close();
});

const entry = testAuditEntry;

describe('append', () => {
  it('gives concurrent entries consecutive sequence numbers on one verifiable chain', async () => {
    const records = await Promise.all(Array.from({ length: 25 }, (_, i) => log.append(entry(`a${i}`))));
    expect(records.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    await log.headWritten();
    const result = await verifyAuditChain(temp.db, key, { headFile: headFile() });
    expect(result).toMatchObject({ ok: true, count: 25, head: { seq: 25 } });
  });

  it('moves the head file forward after each commit, readable by the server only', async () => {
    const first = await log.append(entry('a'));
    await log.headWritten();
    expect(readHead(headFile())).toEqual({ seq: 1, mac: first.mac });
    const second = await log.append(entry('b'));
    await log.headWritten();
    expect(readHead(headFile())).toEqual({ seq: 2, mac: second.mac });
    expect(statSync(headFile()).mode & 0o777).toBe(0o600);
  });

  it('streams each committed entry to the sink as one JSON line', async () => {
    await log.append(entry('a'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ seq: 1, action: 'a', details: { n: 'a' } });
  });

  it('still answers for a committed entry when the sink fails, and says so', async () => {
    const errors: unknown[] = [];
    const failing = openLog({
      sink: () => {
        throw new Error('ENOSPC');
      },
      onSinkError: (error) => errors.push(error),
    });
    const record = await failing.append(entry('a'));
    await failing.headWritten();
    expect(errors).toHaveLength(1);
    expect(readHead(headFile())).toEqual({ seq: 1, mac: record.mac });
    expect(await verifyAuditChain(temp.db, key, { headFile: headFile() })).toMatchObject({ ok: true, count: 1 });
  });

  it('verifies only with its own key', async () => {
    await log.append(entry('a'));
    const other = createSecretKey(randomBytes(32));
    expect((await verifyAuditChain(temp.db, other)).problems[0]).toMatch(/^entry 1 does not match/);
  });
});

describe('appendIn', () => {
  it('leaves no entry, and the head where it was, when the transaction it joined rolls back', async () => {
    await log.append(entry('before'));
    await expect(
      temp.db.transaction().execute(async (trx) => {
        await log.appendIn(trx, [entry('lost')]);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    const next = await log.append(entry('after'));
    expect(next.seq).toBe(2);
    await log.headWritten();
    expect(await verifyAuditChain(temp.db, key, { headFile: headFile() })).toMatchObject({ ok: true, count: 2 });
  });

  it('publishes to the head file and sink only when told the transaction committed', async () => {
    const records = await temp.db.transaction().execute((trx) => log.appendIn(trx, [entry('w')]));
    expect(lines).toEqual([]);
    expect(readHead(headFile())).toBeUndefined();
    await log.publishedWhen(records, Promise.resolve());
    await log.headWritten();
    expect(readHead(headFile())).toEqual({ seq: 1, mac: records[0]?.mac });
    expect(lines).toHaveLength(1);
  });
});

/**
 * The store's group commit, each group's sync also waiting for what `hold` returns at its commit (made then, so a
 * test can release or fail it); every group fails at once while `failing()` says so.
 */
function holdingSync(hold: (result: unknown) => Promise<void>, failing = () => false): GroupCommit {
  return async (work, onCommitted) => {
    if (failing()) throw new Error('the database can no longer be synced to disk');
    const { result, durable } = await temp.store.groupCommit(work);
    const held = hold(result);
    const synced = durable.then(() => held);
    onCommitted?.(result, synced);
    return { result, durable: synced };
  };
}

describe('with the store group commit (synced after commit)', () => {
  it('answers a read only once its group is on disk, and streams and anchors entries only then, in order', async () => {
    let releaseSync = () => undefined as void;
    const held = new Promise<void>((resolve) => (releaseSync = resolve));
    let committed = 0;
    const slow = openLog({
      groupCommit: holdingSync(() => {
        committed += 1;
        return held;
      }),
    });
    let answered = false;
    const read = slow.append(entry('read')).then(() => (answered = true));
    await vi.waitFor(() => expect(committed).toBe(1)); // committed, its sync held back
    // A write commits (synchronous=FULL: on disk at once) while the read's group waits for its sync.
    const records = await temp.db.transaction().execute((trx) => slow.appendIn(trx, [entry('write')]));
    const written = slow.publishedWhen(records, Promise.resolve());
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Neither is streamed nor anchored while the earlier entry is not on disk.
    expect(answered).toBe(false);
    expect(lines).toEqual([]);
    expect(readHead(headFile())).toBeUndefined();

    releaseSync();
    await read;
    await written;
    await slow.settled();
    expect(lines.map((l) => (JSON.parse(l) as { action: string }).action)).toEqual(['read', 'write']);
    expect(readHead(headFile())).toMatchObject({ seq: 2 });
    expect((await verifyAuditChain(temp.db, key, { headFile: headFile() })).ok).toBe(true);
  });

  it('commits the entries that arrive while a group syncs as one group, once that sync is done', async () => {
    const syncs: (() => void)[] = [];
    const groups: number[] = [];
    const slow = openLog({
      groupCommit: holdingSync((result) => {
        groups.push((result as unknown[]).length);
        return new Promise<void>((resolve) => syncs.push(resolve));
      }),
    });
    const first = slow.append(entry('first'));
    await vi.waitFor(() => expect(groups).toEqual([1])); // committed, its sync held back
    // Three more, each in a turn of its own, while the first group's sync is under way.
    const later: Promise<unknown>[] = [];
    for (const name of ['b', 'c', 'd']) {
      later.push(slow.append(entry(name)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(groups).toEqual([1]);

    syncs[0]?.();
    await first;
    // However slow the database, the three go in the next group, and together.
    await vi.waitFor(() => expect(groups.length).toBe(2));
    expect(groups).toEqual([1, 3]);
    syncs[1]?.();
    expect((await Promise.all(later)).map((r) => (r as { seq: number }).seq)).toEqual([2, 3, 4]);
    await slow.settled();
    expect((await verifyAuditChain(temp.db, key, { headFile: headFile() })).ok).toBe(true);
  });

  it('fails the entries queued behind a group whose sync failed, and streams none of them', async () => {
    let failSync: (() => void) | undefined;
    let lost = false;
    const failing = openLog({
      groupCommit: holdingSync(
        () =>
          new Promise<void>((_, reject) => {
            failSync = () => {
              lost = true;
              reject(new Error('EIO'));
            };
          }),
        () => lost, // what the store does once a sync failed: every later group fails
      ),
    });
    const first = failing.append(entry('first'));
    first.catch(() => undefined);
    await vi.waitFor(() => expect(failSync).toBeDefined()); // committed, its sync under way
    const queued = [failing.append(entry('b')), failing.append(entry('c'))];
    for (const q of queued) q.catch(() => undefined);
    failSync?.();
    await expect(first).rejects.toThrow('EIO');
    for (const q of queued) await expect(q).rejects.toThrow('can no longer be synced');
    await failing.settled();
    expect(lines).toEqual([]);
  });
});
