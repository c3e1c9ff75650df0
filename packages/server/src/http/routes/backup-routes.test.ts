import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTestApp, expectError, type ApiTestApp } from '../../test-support/api-test-app.js';

/* `POST /api/v1/sys/backup`: a consistent SQLite copy of the store (on SQLite and on PostgreSQL alike). */

let t: ApiTestApp;
let value: string;
const scratch: string[] = [];
beforeEach(async () => {
  t = await createApiTestApp();
  value = t.canary();
  await t.services.projects.create({ slug: 'shop' });
  await t.services.secrets.applyChanges(
    { project: 'shop', env: 'dev', path: '/api' },
    [
      { name: 'API_KEY', value },
      { name: 'OTHER', value: 'x' },
    ],
    { actor: 'test' },
  );
});
afterEach(async () => {
  await t.close();
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function backup(token: string) {
  const res = await t.app.request('/api/v1/sys/backup', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

function openCopy(bytes: Buffer): DatabaseSync {
  const dir = mkdtempSync(join(tmpdir(), 'keybox-backup-test-'));
  scratch.push(dir);
  writeFileSync(join(dir, 'copy.db'), bytes);
  return new DatabaseSync(join(dir, 'copy.db'), { readOnly: true });
}

describe('POST /api/v1/sys/backup', () => {
  it('answers a SQLite file holding the store, checked by the headers, values still encrypted', async () => {
    await t.call('GET', '/api/v1/projects'); // an audit entry for the copy to hold
    const { res, bytes } = await backup(t.token);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.sqlite3');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="keybox-backup-\d{8}T\d{6}Z\.db"$/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    expect(res.headers.get('x-keybox-backup-sha256')).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(res.headers.get('x-keybox-root-key-id')).toBe(t.keyring.rootKeyId);
    expect(bytes.subarray(0, 16).toString('latin1')).toBe('SQLite format 3\0');
    expect(bytes.includes(Buffer.from(value))).toBe(false);

    const copy = openCopy(bytes);
    try {
      expect(copy.prepare('pragma integrity_check').get()).toEqual({ integrity_check: 'ok' });
      // A standalone file: no WAL beside it to carry along.
      expect(copy.prepare('pragma journal_mode').get()).toEqual({ journal_mode: 'delete' });
      const names = copy.prepare('select name from secrets order by name').all();
      expect(names).toEqual([{ name: 'API_KEY' }, { name: 'OTHER' }]);
      const head = copy.prepare('select max(seq) as seq from audit_log').get() as { seq: number };
      expect(head.seq).toBeGreaterThan(0);
      expect(Number(res.headers.get('x-keybox-backup-audit-seq'))).toBe(head.seq);
    } finally {
      copy.close();
    }
    // Nothing left beside the store.
    expect(readdirSync(t.dataDir).filter((f) => f.startsWith('.backup-'))).toEqual([]);
  });

  it('is recorded: in the audit log (size and digest) and in /api/secrets/status', async () => {
    const before = await t.call('GET', '/api/secrets/status');
    expect(before.json['backup']).toMatchObject({ last: null });
    const { res } = await backup(t.token);
    const sha256 = res.headers.get('x-keybox-backup-sha256');
    const audit = await t.call('GET', '/api/v1/audit?action=backup.create');
    expect(audit.json['entries']).toEqual([
      expect.objectContaining({
        action: 'backup.create',
        outcome: 'success',
        details: expect.objectContaining({ sha256, bytes: Number(res.headers.get('content-length')) }),
      }),
    ]);
    t.clock.tick(2000);
    const after = await t.call('GET', '/api/secrets/status');
    expect(after.json['backup']).toEqual({
      last: {
        createdAt: res.headers.get('x-keybox-backup-created-at'),
        ageDays: 0,
        bytes: Number(res.headers.get('content-length')),
        auditSeq: Number(res.headers.get('x-keybox-backup-audit-seq')),
      },
    });
  });

  it('needs admin on everything; a refused request makes no copy and records none', async () => {
    const reader = await t.tokenWith(['developer']);
    const res = await t.call('POST', '/api/v1/sys/backup', undefined, { token: reader });
    expectError(res, 'FORBIDDEN');
    const status = await t.call('GET', '/api/secrets/status');
    expect(status.json['backup']).toMatchObject({ last: null });
    expect(readdirSync(t.dataDir).filter((f) => f.startsWith('.backup-'))).toEqual([]);
  });

  it('the copy does not wait for a writer holding the write lock (a read-only snapshot on PostgreSQL too)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybox-backup-test-'));
    scratch.push(dir);
    const release = await t.holdWriteLock();
    try {
      const made = t.store.snapshot!(join(dir, 'copy.db')).then(() => 'copied');
      const stuck = new Promise((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000).unref());
      expect(await Promise.race([made, stuck])).toBe('copied');
    } finally {
      await release();
    }
  });

  it('two backups at once each get a whole copy', async () => {
    const [a, b] = await Promise.all([backup(t.token), backup(t.token)]);
    for (const { res, bytes } of [a, b]) {
      expect(res.status).toBe(200);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(res.headers.get('x-keybox-backup-sha256'));
    }
  });
});
