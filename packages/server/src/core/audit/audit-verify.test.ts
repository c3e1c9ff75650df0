import { createSecretKey, randomBytes } from 'node:crypto';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTestApp, type ApiTestApp } from '../../test-support/api-test-app.js';
import { chainMac, fromRow, genesisMac, type AuditFields } from './audit-chain.js';
import { readHead, writeHead, type AuditHead } from './audit-log.js';
import { verifyAuditChain } from './audit-verify.js';

/*
 * Tampering with the audit log through the database, as someone with write access to it but not the root key would,
 * and what verification (directly and through GET /api/v1/audit/verify) makes of it.
 */

let t: ApiTestApp;
let headFile: string;
beforeEach(async () => {
  t = await createApiTestApp();
  headFile = join(t.dataDir, 'audit.head');
  await t.call('POST', '/api/v1/projects', { slug: 'shop' });
  await t.call('PUT', '/api/v1/projects/shop/environments/dev/secrets/API_KEY', { value: t.canary() });
  await t.call('GET', '/api/v1/projects/shop/environments/dev/secrets/API_KEY');
  await t.call('GET', '/api/v1/projects', undefined, { token: 'bad' });
  for (let i = 0; i < 4; i++) await t.call('GET', '/api/v1/projects');
  await t.services.auditLog.settled();
});
afterEach(async () => {
  await t.close();
});

const db = () => t.store.db;
const verify = (anchor?: AuditHead) => verifyAuditChain(db(), t.keyring.auditKey, { headFile, expect: anchor });
const run = (query: ReturnType<typeof sql>) => query.execute(db());

async function verifyOverHttp(anchor?: AuditHead) {
  const query = anchor === undefined ? '' : `?expectSeq=${anchor.seq}&expectMac=${anchor.mac}`;
  const res = await t.call('GET', `/api/v1/audit/verify${query}`);
  expect(res.status).toBe(200);
  return res.json as { ok: boolean; count: number; head: AuditHead; problems: string[] };
}

/** Drops every entry after `seq` and moves the head row back to it, as a careful intruder would. */
async function cutBackTo(seq: number) {
  await run(sql`DELETE FROM audit_log WHERE seq > ${seq}`);
  await run(sql`UPDATE audit_head SET seq = ${seq}, mac = (SELECT mac FROM audit_log WHERE seq = ${seq}) WHERE id = 1`);
}

describe('an untouched log', () => {
  it('verifies, and its head matches the head row and the head file', async () => {
    const result = await verify();
    expect(result).toMatchObject({ ok: true, count: 8, problems: [] });
    const row = await db().selectFrom('audit_head').select(['seq', 'mac']).executeTakeFirstOrThrow();
    expect(result.head).toEqual(row);
    expect(readHead(headFile)).toEqual(row);
    expect(await verifyOverHttp(result.head)).toMatchObject({ ok: true, count: 8, head: result.head });
  });
});

describe('tampering found', () => {
  it('an edited entry', async () => {
    await run(sql`UPDATE audit_log SET outcome = 'success' WHERE seq = 4`);
    const result = await verifyOverHttp();
    expect(result.ok).toBe(false);
    expect(result.problems).toContain('entry 4 does not match the chain (edited, moved, or written without the key)');
  });

  it("an edited entry's details, down to one character", async () => {
    await run(sql`UPDATE audit_log SET details = replace(details, 'revoked', 'revokeD') WHERE seq = 4`);
    await run(sql`UPDATE audit_log SET user_agent = 'x' WHERE seq = 2`);
    expect((await verify()).problems[0]).toMatch(/^entry 2 does not match/);
  });

  it('a deleted entry', async () => {
    await run(sql`DELETE FROM audit_log WHERE seq = 3`);
    const result = await verify();
    expect(result.ok).toBe(false);
    expect(result.problems).toContain('entry 3 is missing (next entry is 4)');
  });

  it('two swapped entries', async () => {
    await run(sql`UPDATE audit_log SET seq = -1 WHERE seq = 3`);
    await run(sql`UPDATE audit_log SET seq = 3 WHERE seq = 4`);
    await run(sql`UPDATE audit_log SET seq = 4 WHERE seq = -1`);
    const result = await verifyOverHttp();
    expect(result.ok).toBe(false);
    expect(result.problems[0]).toMatch(/^entry 3 does not match the chain/);
  });

  it('an entry moved to the end with its mac', async () => {
    await run(sql`UPDATE audit_log SET seq = 100 WHERE seq = 2`);
    expect((await verify()).problems[0]).toBe('entry 2 is missing (next entry is 3)');
  });

  it('a whole chain recomputed with another key, head row included', async () => {
    const key = createSecretKey(randomBytes(32));
    const rows = await db().selectFrom('audit_log').selectAll().orderBy('seq').execute();
    let mac = genesisMac(key);
    for (const row of rows) {
      const fields: AuditFields = { ...fromRow(row), outcome: row.outcome === 'denied' ? 'success' : row.outcome };
      mac = chainMac(key, mac, fields);
      await run(sql`UPDATE audit_log SET outcome = ${fields.outcome}, mac = ${mac} WHERE seq = ${row.seq}`);
    }
    await run(sql`UPDATE audit_head SET mac = ${mac} WHERE id = 1`);
    const result = await verifyOverHttp();
    expect(result.ok).toBe(false);
    expect(result.problems[0]).toMatch(/^entry 1 does not match the chain/);
    expect(result.problems).toContain('the head file does not match entry 8: the chain was rewritten');
  });

  it('a dropped tail, through the head file outside the database', async () => {
    await cutBackTo(5);
    const result = await verifyOverHttp();
    expect(result).toMatchObject({ ok: false, count: 5 });
    expect(result.problems).toEqual(['the head file records entry 8, but the chain ends at 5: entries were removed']);
  });

  it('a dropped tail with the head file rewritten too, through the anchor kept elsewhere', async () => {
    const anchor = (await verify()).head;
    await cutBackTo(5);
    const row = await db().selectFrom('audit_head').select(['seq', 'mac']).executeTakeFirstOrThrow();
    await writeHead(headFile, row);
    expect((await verify()).ok).toBe(true);
    const result = await verifyOverHttp(anchor);
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([
      'the expected head records entry 8, but the chain ends at 5: entries were removed',
    ]);
  });

  it('a dropped tail with the head file deleted, through the anchor', async () => {
    const anchor = (await verify()).head;
    await cutBackTo(6);
    unlinkSync(headFile);
    expect((await verify(anchor)).problems).toEqual([
      'the head file is missing: a cut-off tail could not be detected',
      'the expected head records entry 8, but the chain ends at 6: entries were removed',
    ]);
  });

  it('a dropped tail whose head row was left behind', async () => {
    await run(sql`DELETE FROM audit_log WHERE seq > 6`);
    expect((await verify()).problems).toContain('the head row says entry 8 but the chain ends at 6');
  });

  it('an anchor that names a real entry but another mac', async () => {
    const result = await verify({ seq: 3, mac: 'ab'.repeat(32) });
    expect(result.problems).toEqual(['the expected head does not match entry 3: the chain was rewritten']);
  });

  it('an unreadable head file', async () => {
    writeFileSync(headFile, 'not json');
    expect((await verify()).problems).toEqual(['the head file is unreadable']);
  });
});
