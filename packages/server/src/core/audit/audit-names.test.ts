import { sql } from 'kysely';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../http/app.js';
import { hashNames } from './audit-names.js';
import { createServices } from '../../services.js';
import { createTestApp, type TestApp } from '../../test-support/test-app.js';

/*
 * A bulk read's entry names its names list by hash (audit-names.ts): stored once, written out again when listed or
 * streamed, and checked by verify like the chain itself.
 */

let t: TestApp;
const names = Array.from({ length: 50 }, (_, i) => ({ name: `SECRET_${i}`, value: `v-${i}` }));
const read = '/api/v1/secrets?project=app&env=dev&path=%2Fapi';
/** What the folder's index holds: names in order, each at version 1. */
const listed = names
  .map((n) => n.name)
  .sort()
  .map((name) => [name, 1]);

beforeEach(async () => {
  t = await createTestApp();
  await t.services.projects.create({ slug: 'app' });
  await t.services.secrets.applyChanges({ project: 'app', env: 'dev', path: '/api' }, names, { actor: 't' });
});
afterEach(async () => {
  await t.close();
});

const stored = () =>
  t.store.db.selectFrom('audit_log').select(['seq', 'details']).where('action', '=', 'secrets.read').execute();

describe('name lists in the audit log', () => {
  it('stores a list once, refers to it by hash, and lists entries with the names written out', async () => {
    for (let i = 0; i < 3; i++) expect((await t.call('GET', read)).status).toBe(200);
    const rows = await stored();
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row.details).toMatch(/"secrets":\{"sha256":"[A-Za-z0-9_-]{43}"\}/);
      expect(row.details).not.toContain('SECRET_1');
    }
    expect(await t.store.db.selectFrom('audit_names').selectAll().execute()).toHaveLength(1);

    const [entry] = await t.services.audit.listAudit({ action: 'secrets.read', limit: 1 });
    expect(entry?.details).toEqual({
      folders: [{ path: '/api', revision: 1, secrets: listed }],
    });
    expect(JSON.stringify(entry)).not.toContain('v-1');
    expect((await t.services.audit.verifyAudit()).ok).toBe(true);

    // A new revision is a new list.
    await t.services.secrets.applyChanges(
      { project: 'app', env: 'dev', path: '/api' },
      [{ name: 'SECRET_1', value: 'changed' }],
      { actor: 't' },
    );
    await t.call('GET', read);
    expect(await t.store.db.selectFrom('audit_names').selectAll().execute()).toHaveLength(2);
  });

  it('streams entries with the names written out', async () => {
    const lines: string[] = [];
    const services = createServices({
      db: t.store.db,
      dialect: t.store.dialect,
      keyring: t.keyring,
      clock: t.clock,
      auditSink: (line) => void lines.push(line),
    });
    const app = createApp({ ...services, logger: pino({ level: 'silent' }), clock: t.clock, version: 'test' });
    const res = await app.request(read, { headers: { authorization: `Bearer ${t.token}` } });
    expect(res.status).toBe(200);
    await services.auditLog.settled();
    const streamed = lines.map((l) => JSON.parse(l) as { action: string; details: unknown });
    expect(streamed.find((e) => e.action === 'secrets.read')?.details).toEqual({
      folders: [{ path: '/api', revision: 1, secrets: listed }],
    });
  });

  it('fails verification when a list is removed or altered', async () => {
    await t.call('GET', read);
    const [row] = await stored();
    await sql`update audit_names set names = '[["SECRET_0",1]]'`.execute(t.store.db);
    let result = await t.services.audit.verifyAudit();
    expect(result.ok).toBe(false);
    expect(result.problems).toContainEqual(
      expect.stringMatching(`entry ${row?.seq} refers to a names list .* was altered`),
    );

    const [altered] = await t.services.audit.listAudit({ action: 'secrets.read', limit: 1 });
    expect(altered?.details).toMatchObject({ folders: [{ secrets: { altered: true } }] });

    await sql`delete from audit_names`.execute(t.store.db);
    result = await t.services.audit.verifyAudit();
    expect(result.problems).toContainEqual(expect.stringMatching(/refers to a names list .* is missing/));
    const [entry] = await t.services.audit.listAudit({ action: 'secrets.read', limit: 1 });
    expect(entry?.details).toMatchObject({ folders: [{ secrets: { missing: true } }] });
  });

  it('puts the true list over one planted in the database before the read that needs it', async () => {
    await t.services.secrets.applyChanges(
      { project: 'app', env: 'dev', path: '/api' },
      [{ name: 'SECRET_1', value: 'changed' }],
      { actor: 't' },
    );
    const next = JSON.stringify(listed.map(([name]) => [name, name === 'SECRET_1' ? 2 : 1]));
    await sql`insert into audit_names (hash, names) values (${hashNames(next)}, '[["FAKE",1]]')`.execute(t.store.db);
    expect((await t.call('GET', read)).status).toBe(200);
    const [entry] = await t.services.audit.listAudit({ action: 'secrets.read', limit: 1 });
    expect(entry?.details).toEqual({ folders: [{ path: '/api', revision: 2, secrets: JSON.parse(next) as unknown }] });
    expect((await t.services.audit.verifyAudit()).ok).toBe(true);
  });

  it('reports an entry cut short as broken, and still lists it', async () => {
    await t.call('GET', read);
    const [row] = await stored();
    await sql`update audit_log set details = substr(details, 1, 63) where seq = ${row?.seq}`.execute(t.store.db);
    const result = await t.services.audit.verifyAudit();
    expect(result.ok).toBe(false);
    expect(result.problems).toContainEqual(expect.stringMatching(`entry ${row?.seq} does not match the chain`));
    const [entry] = await t.services.audit.listAudit({ action: 'secrets.read', limit: 1 });
    expect(entry?.details).toEqual({ unreadable: true });
  });
});
