import { sql } from 'kysely';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditListEntry } from '../../core/audit/audit-query.js';
import { createApiTestApp, expectError, listIn, type ApiTestApp } from '../../test-support/api-test-app.js';
import { createServices } from '../../services.js';
import { createApp } from '../app.js';
import { breakAuditLog } from '../../test-support/test-store.js';

/*
 * What the audit log records for each kind of request (through an app whose log lines are captured, standing in for
 * the server's stderr), and that the log fails closed: no entry, no response.
 */

let t: ApiTestApp;
let app: ReturnType<typeof createApp>;
let logged: string[];
let value: string;
let canaries: string[];
let admin: { id: string; token: string };
const PASSWORD = 'correct horse battery staple';
const UA = 'audit-test/1.0';

beforeEach(async () => {
  t = await createApiTestApp();
  logged = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logged.push(line) });
  app = createApp({ ...t.services, logger, clock: t.clock, version: 'test' });
  canaries = [];
  value = canary();
  await t.services.projects.create({ slug: 'shop' });
  await t.services.secrets.applyChanges(
    { project: 'shop', env: 'dev', path: '/api' },
    [
      { name: 'API_KEY', value },
      { name: 'OTHER', value: 'x' },
    ],
    { actor: 'test' },
  );
  admin = await t.services.tokens.create(
    { name: 'root', createdBy: 'test', policies: ['admin'] },
    { attach: t.services.policies.attach },
  );
});
afterEach(async () => {
  // Whatever a test did, no value it handed out is in the captured server log or in any audit row.
  const rows = await sql`SELECT * FROM audit_log`.execute(t.store.db).catch(() => ({ rows: [] }));
  const text = `${logged.join('')}\n${JSON.stringify(rows.rows)}`;
  for (const secret of canaries) expect(text).not.toContain(secret);
  await t.close();
});

function canary(): string {
  const secret = t.canary();
  canaries.push(secret);
  return secret;
}

let n = 0;
/** A request from 198.51.100.7 with a user agent and a request id; `token: null` for none. */
async function send(method: string, path: string, body?: unknown, token: string | null = admin.token) {
  const requestId = `req-audit-${String(++n).padStart(4, '0')}`;
  const headers: Record<string, string> = { 'user-agent': UA, 'x-request-id': requestId };
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const init = { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
  const res = await app.request(path, init, { incoming: { socket: { remoteAddress: '198.51.100.7' } } });
  return { status: res.status, text: await res.text(), requestId };
}

async function entryFor(requestId: string): Promise<AuditListEntry> {
  const entries = (await t.services.audit.listAudit({ limit: 1000 })).filter((e) => e.requestId === requestId);
  expect(entries, `one audit entry for ${requestId}`).toHaveLength(1);
  return entries[0] as AuditListEntry;
}

const env = '/api/v1/projects/shop/environments/dev';

describe('an audit entry per request', () => {
  it.each([
    ['a secret write', 'PUT', `${env}/secrets/NEW?path=/api`, { value: 'new' }, 'secrets.write', 'shop/dev:/api#NEW'],
    ['a secret read', 'GET', `${env}/secrets/API_KEY?path=/api`, undefined, 'secret.read', 'shop/dev:/api#API_KEY'],
    ['a listing', 'GET', `${env}/secrets?path=/api`, undefined, 'secrets.list', 'shop/dev:/api'],
    ['a project change', 'PATCH', '/api/v1/projects/shop', { name: 'Shop' }, 'project.update', 'project:shop'],
    ['a token creation', 'POST', '/api/v1/tokens', { name: 'ci' }, 'token.create', 'token:ci'],
    ['an audit query', 'GET', '/api/v1/audit?limit=1', undefined, 'audit.list', 'audit'],
  ])('records %s with who, from where, what and how it went', async (_kind, method, path, body, action, resource) => {
    const res = await send(method, path, body);
    expect(res.status).toBeLessThan(300);
    expect(await entryFor(res.requestId)).toEqual({
      seq: expect.any(Number),
      time: '2026-01-01T00:00:00.000Z',
      actor: 'token:root',
      actorType: 'token',
      sourceIp: '198.51.100.7',
      userAgent: UA,
      action,
      resource,
      outcome: 'success',
      requestId: res.requestId,
      details: expect.any(Object),
    });
  });

  it('records a bulk read with each folder, its revision, names and versions, and no value', async () => {
    await send('PUT', `${env}/secrets/API_KEY?path=/api`, { value: canary() });
    const res = await send('GET', '/api/v1/secrets?project=shop&env=dev&path=/api');
    expect(res.status).toBe(200);
    const entry = await entryFor(res.requestId);
    expect(entry).toMatchObject({ action: 'secrets.read', resource: 'shop/dev:/api', outcome: 'success' });
    expect(entry.details).toEqual({
      folders: [
        {
          path: '/api',
          revision: 2,
          secrets: [
            ['API_KEY', 2],
            ['OTHER', 1],
          ],
        },
      ],
    });
  });

  it('records a refused attempt as denied, with the capability it lacked', async () => {
    await t.services.policies.put('other', { rules: [{ projects: ['other'], capabilities: ['read'] }] }, 'test');
    const token = await t.tokenWith(['other'], 'outsider');
    const res = await send('GET', `${env}/secrets/API_KEY?path=/api`, undefined, token);
    expect(res.status).toBe(403);
    expect(await entryFor(res.requestId)).toMatchObject({
      actor: 'token:outsider',
      action: 'secret.read',
      outcome: 'denied',
      details: { status: 403, code: 'FORBIDDEN', reason: 'no-rule', capability: 'read' },
    });
  });

  it('records failed logins as failures with the cause, and a good one with the identity', async () => {
    await t.services.users.create({ name: 'alice', password: PASSWORD }, 'test');
    const ci = await t.services.identities.create('ci', {}, 'test');
    const wrong = await send('POST', '/api/v1/auth/user-login', { name: 'alice', password: 'wrong password' }, null);
    // A failed login is anonymous, like an identity's: the name it claimed is the resource.
    expect(await entryFor(wrong.requestId)).toMatchObject({
      actor: 'anonymous',
      actorType: 'anonymous',
      resource: 'user:alice',
      action: 'auth.user-login',
      outcome: 'failure',
      details: { status: 401, code: 'UNAUTHENTICATED', reason: 'wrong password' },
    });
    const bad = await send('POST', '/api/v1/auth/login', { clientId: ci.clientId, clientSecret: 'nope' }, null);
    expect(await entryFor(bad.requestId)).toMatchObject({
      actor: 'anonymous',
      resource: `identity:${ci.clientId}`,
      outcome: 'failure',
      details: { reason: 'unknown client id or secret' },
    });
    const good = await send(
      'POST',
      '/api/v1/auth/login',
      { clientId: ci.clientId, clientSecret: ci.clientSecret },
      null,
    );
    expect(await entryFor(good.requestId)).toMatchObject({
      actor: 'identity:ci',
      actorType: 'identity',
      outcome: 'success',
    });
  });

  it('records a request with a bad token as a failure with the reason', async () => {
    await t.services.tokens.revoke(admin.id);
    const res = await send('GET', '/api/v1/projects');
    expect(res.status).toBe(401);
    expect(await entryFor(res.requestId)).toMatchObject({
      actor: 'anonymous',
      outcome: 'failure',
      details: { status: 401, reason: 'revoked' },
    });
  });

  it('finds entries by actor, action prefix, outcome and folder', async () => {
    await send('GET', `${env}/secrets/API_KEY?path=/api`);
    await send('GET', '/api/v1/secrets?project=shop&env=dev&path=/api');
    await send('GET', `${env}/secrets/NOPE?path=/api`);
    const q = (query: string) => t.call('GET', `/api/v1/audit?${query}`);
    const actions = (res: Awaited<ReturnType<typeof q>>) => listIn<AuditListEntry>(res, 'entries').map((e) => e.action);
    expect(actions(await q('actor=token:root&action=secrets'))).toEqual(['secrets.read']);
    expect(actions(await q('actor=token:root&action=secret'))).toEqual(['secret.read', 'secret.read']);
    expect(actions(await q('actor=token:root&outcome=failure'))).toEqual(['secret.read']);
    expect(actions(await q('actor=token:root&path=/api'))).toEqual(['secret.read', 'secrets.read', 'secret.read']);
    expectError(await q('outcome=maybe'), 'INVALID_INPUT');
  });

  it('matches a folder with _ in its name as written, not as a wildcard', async () => {
    await send('GET', `${env}/secrets/X?path=/a_b`);
    await send('GET', `${env}/secrets/X?path=/axb`);
    const q = (path: string) => t.call('GET', `/api/v1/audit?actor=token:root&path=${encodeURIComponent(path)}`);
    const resources = async (path: string) => listIn<AuditListEntry>(await q(path), 'entries').map((e) => e.resource);
    expect(await resources('/a_b')).toEqual(['shop/dev:/a_b#X']);
    expect(await resources('/a%')).toEqual([]);
  });
});

describe('the audit stream', () => {
  it('streams every entry a request committed, also when one request made two changes', async () => {
    await t.services.users.create({ name: 'alice', password: PASSWORD }, 'test');
    const streamed: { seq: number; action: string }[] = [];
    const services = createServices({
      db: t.store.db,
      dialect: t.store.dialect,
      keyring: t.keyring,
      clock: t.clock,
      auditSink: (line) => void streamed.push(JSON.parse(line) as { seq: number; action: string }),
    });
    const streaming = createApp({ ...services, logger: pino({ level: 'silent' }), clock: t.clock, version: 'test' });
    const res = await streaming.request('/api/v1/users/alice', {
      method: 'PATCH',
      headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'a brand new passphrase', disabled: true }),
    });
    expect(res.status).toBe(200);
    const stored = await t.services.audit.listAudit({ action: 'user.update' });
    expect(stored).toHaveLength(2);
    expect(streamed.map((e) => e.seq).sort((a, b) => a - b)).toEqual(stored.map((e) => e.seq).sort((a, b) => a - b));
  });
});

describe('failing closed', () => {
  const breakAudit = () => breakAuditLog(t.store);

  it('refuses a write it cannot record, and the write does not happen', async () => {
    await breakAudit();
    const res = await send('PUT', `${env}/secrets/API_KEY?path=/api`, { value: canary() });
    expect(res.status).toBe(500);
    expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'INTERNAL', requestId: res.requestId } });
    const secret = await t.services.secrets.get({ project: 'shop', env: 'dev', path: '/api' }, 'API_KEY');
    expect(secret).toMatchObject({ version: 1, value });
  });

  it('refuses a read it cannot record, without the value', async () => {
    await breakAudit();
    for (const path of [`${env}/secrets/API_KEY?path=/api`, '/api/v1/secrets?project=shop&env=dev&path=/api']) {
      const res = await send('GET', path);
      expect(res.status).toBe(500);
      expect(res.text).toContain('could not be recorded in the audit log');
      expect(res.text).not.toContain(value);
    }
  });

  it('refuses everything when the audit table is gone, and logs why without any value', async () => {
    await sql`DROP TABLE audit_log`.execute(t.store.db);
    expect((await send('GET', `${env}/secrets/API_KEY?path=/api`)).status).toBe(500);
    expect((await send('PUT', `${env}/secrets/B?path=/api`, { value: canary() })).status).toBe(500);
    expect(logged.join('')).toContain('audit entry could not be stored');
  });
});
