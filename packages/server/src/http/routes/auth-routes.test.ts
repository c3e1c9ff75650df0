import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTestApp, expectError, type ApiTestApp } from '../../test-support/api-test-app.js';
import { breakAuditLog, mendAuditLog } from '../../test-support/test-store.js';

/* Logins, a token's life (TTL, renewal, uses, address binding, self-revocation) and the login rate limits. */

let t: ApiTestApp;
beforeEach(async () => {
  t = await createApiTestApp();
});
afterEach(async () => {
  await t.close();
});

const PASSWORD = 'correct horse battery staple';

/** A request from a given client address (what @hono/node-server passes as the env). */
async function from(ip: string, method: string, path: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const init = { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
  const res = await t.app.request(path, init, { incoming: { socket: { remoteAddress: ip } } });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    json: (text === '' ? {} : JSON.parse(text)) as Record<string, any>,
  };
}

async function identity(name: string, settings: Record<string, unknown> = {}) {
  const res = await t.call('POST', '/api/v1/identities', { name, ...settings });
  expect(res.status, res.text).toBe(201);
  return { clientId: res.json['clientId'] as string, clientSecret: res.json['clientSecret'] as string };
}

const login = (id: { clientId: string; clientSecret: string }) =>
  t.call('POST', '/api/v1/auth/login', id, { token: null });
const self = (token: string) => t.call('GET', '/api/v1/auth/token', undefined, { token });

describe('identity login', () => {
  it("answers an access token that expires after the identity's TTL", async () => {
    const res = await login(await identity('ci', { tokenTtl: 300, tokenMaxTtl: 600 }));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json).toMatchObject({ tokenType: 'Bearer', expiresIn: 300, maxTtl: 600, uses: 0, identity: 'ci' });
    const token = res.json['accessToken'] as string;
    t.clock.tick(299_000);
    expect((await self(token)).status).toBe(200);
    t.clock.tick(1_000);
    expectError(await self(token), 'UNAUTHENTICATED', 'the token is expired');
  });

  it('renews a token by its TTL, never past its max TTL', async () => {
    const token = (await login(await identity('ci', { tokenTtl: 300, tokenMaxTtl: 600 }))).json[
      'accessToken'
    ] as string;
    t.clock.tick(200_000);
    const renew = () => t.call('POST', '/api/v1/auth/token/renew', undefined, { token });
    expect((await renew()).json).toEqual({ expiresAt: '2026-01-01T00:08:20.000Z', capped: false });
    t.clock.tick(200_000);
    expect((await renew()).json).toEqual({ expiresAt: '2026-01-01T00:10:00.000Z', capped: true });
    t.clock.tick(199_000);
    expect((await self(token)).status).toBe(200);
    t.clock.tick(1_000);
    expectError(await renew(), 'UNAUTHENTICATED', 'the token is expired');
  });

  it('stops a use-counted token after its uses, whatever the request', async () => {
    const token = (await login(await identity('ci', { tokenUses: 2 }))).json['accessToken'] as string;
    expect((await self(token)).json['token']['usesRemaining']).toBe(1);
    expect((await t.call('GET', '/api/v1/projects', undefined, { token })).status).toBe(200);
    expectError(await self(token), 'UNAUTHENTICATED', 'the token is expired');
  });

  it('refuses logins and token use from outside the trusted CIDRs', async () => {
    const id = await identity('ci', { trustedCidrs: ['10.1.0.0/16'] });
    expectError(await t.call('POST', '/api/v1/auth/login', id, { token: null }), 'UNAUTHENTICATED');
    const outside = await from('192.0.2.7', 'POST', '/api/v1/auth/login', id);
    expect(outside.status).toBe(401);
    expect(outside.json['error']['message']).toBe('invalid client id or secret');
    const inside = await from('10.1.2.3', 'POST', '/api/v1/auth/login', id);
    expect(inside.status).toBe(200);
    const token = inside.json['accessToken'] as string;
    expect((await from('10.1.9.9', 'GET', '/api/v1/auth/token', undefined, token)).status).toBe(200);
    const stolen = await from('192.0.2.7', 'GET', '/api/v1/auth/token', undefined, token);
    expect(stolen.status).toBe(401);
    expect(stolen.json['error']['message']).toBe('the token may not be used from this address');
  });
});

describe('user login', () => {
  beforeEach(async () => {
    await t.services.users.create({ name: 'alice', password: PASSWORD }, 'admin');
  });
  const userLogin = (name: string, password: string) =>
    t.call('POST', '/api/v1/auth/user-login', { name, password }, { token: null });

  it('answers a wrong password and an unknown user with the same error', async () => {
    const wrong = await userLogin('alice', 'not the password');
    const unknown = await userLogin('mallory', PASSWORD);
    expectError(wrong, 'UNAUTHENTICATED', 'invalid user name or password');
    expect({ ...wrong.json['error'], requestId: '' }).toEqual({ ...unknown.json['error'], requestId: '' });
  });

  it('ends every session of a user who changes their own password', async () => {
    const session = (await userLogin('alice', PASSWORD)).json['token'] as string;
    const other = (await userLogin('alice', PASSWORD)).json['token'] as string;
    const res = await t.call(
      'PATCH',
      '/api/v1/users/alice',
      { password: 'a brand new passphrase', currentPassword: PASSWORD },
      { token: session },
    );
    expect(res.status, res.text).toBe(200);
    expectError(await self(session), 'UNAUTHENTICATED', 'the token is revoked');
    expectError(await self(other), 'UNAUTHENTICATED', 'the token is revoked');
    expect((await userLogin('alice', 'a brand new passphrase')).status).toBe(200);
  });
});

describe('a token about itself', () => {
  it('looks itself up: kind, expiry, principal and policies, never the token', async () => {
    await t.services.users.create({ name: 'alice', password: PASSWORD, policies: ['developer'] }, 'admin');
    const signedIn = await t.call('POST', '/api/v1/auth/user-login', { name: 'alice', password: PASSWORD });
    const session = signedIn.json['token'] as string;
    const res = await self(session);
    expect(res.json).toMatchObject({
      token: { kind: 'session', expiresAt: '2026-01-01T12:00:00.000Z', principalType: 'user' },
      principal: { type: 'user', name: 'alice', actor: 'user:alice', policies: ['developer'] },
    });
    expect(res.text).not.toContain(session.split('.')[1]);
  });

  it('revokes itself, and only itself', async () => {
    const id = await identity('ci');
    const a = (await login(id)).json['accessToken'] as string;
    const b = (await login(id)).json['accessToken'] as string;
    expect((await t.call('POST', '/api/v1/auth/token/revoke', undefined, { token: a })).status).toBe(204);
    expectError(await self(a), 'UNAUTHENTICATED', 'the token is revoked');
    expect((await self(b)).status).toBe(200);
  });
});

describe('rate limits', () => {
  const unknownId = () => `kbi_${randomBytes(8).toString('hex')}`;
  const badSecret = `kbs_${'0'.repeat(16)}.${'A'.repeat(43)}`;
  const rateLimitedEntries = async () =>
    (await t.services.audit.listAudit({ limit: 1000 })).filter(
      (e) => (e.details as { status?: number }).status === 429,
    );

  it('refuses the 31st login a minute from one address with 429 and Retry-After, then recovers', async () => {
    for (let i = 0; i < 30; i++) {
      expect(
        (await from('10.0.0.1', 'POST', '/api/v1/auth/login', { clientId: unknownId(), clientSecret: badSecret }))
          .status,
      ).toBe(401);
    }
    const limited = await from('10.0.0.1', 'POST', '/api/v1/auth/login', {
      clientId: unknownId(),
      clientSecret: badSecret,
    });
    expect(limited.status).toBe(429);
    expect(limited.json['error']).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfter: 2 } });
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(
      (await from('10.0.0.2', 'POST', '/api/v1/auth/login', { clientId: unknownId(), clientSecret: badSecret })).status,
    ).toBe(401);
    t.clock.tick(2_000);
    expect(
      (await from('10.0.0.1', 'POST', '/api/v1/auth/login', { clientId: unknownId(), clientSecret: badSecret })).status,
    ).toBe(401);
    expect(await rateLimitedEntries()).toEqual([]);
    expect(await t.services.audit.listAudit({ action: 'auth.login', limit: 1000 })).toHaveLength(32);
  });

  it('refuses the 11th login a minute for one identity from any address, even with the right secret', async () => {
    const id = await identity('ci');
    for (let i = 1; i <= 10; i++) {
      const res = await from(`10.0.1.${i}`, 'POST', '/api/v1/auth/login', { ...id, clientSecret: badSecret });
      expect(res.status).toBe(401);
    }
    const limited = await from('10.0.1.99', 'POST', '/api/v1/auth/login', id);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('6');
    t.clock.tick(6_000);
    expect((await from('10.0.1.99', 'POST', '/api/v1/auth/login', id)).status).toBe(200);
    expect(await rateLimitedEntries()).toEqual([]);
  });

  it('refuses bad bearer tokens from one address after 60 a minute, still serving valid tokens there', async () => {
    const forged = `kbx_${'0'.repeat(16)}.${'A'.repeat(43)}`;
    for (let i = 0; i < 60; i++)
      expect((await from('10.0.2.1', 'GET', '/api/v1/projects', undefined, forged)).status).toBe(401);
    const limited = await from('10.0.2.1', 'GET', '/api/v1/projects', undefined, forged);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect((await from('10.0.2.1', 'GET', '/api/v1/projects', undefined)).status).toBe(429);
    expect((await from('10.0.2.1', 'GET', '/api/v1/projects', undefined, t.token)).status).toBe(200);
    expect((await from('10.0.2.2', 'GET', '/api/v1/projects', undefined, forged)).status).toBe(401);
    expect(await rateLimitedEntries()).toEqual([]);
    t.clock.tick(1_000);
    expect((await from('10.0.2.1', 'GET', '/api/v1/projects', undefined, forged)).status).toBe(401);
  });
});

describe('recorded together with what it changes', () => {
  const breakAudit = () => breakAuditLog(t.store);
  const mendAudit = () => mendAuditLog(t.store);
  const tokenRows = () => t.store.db.selectFrom('api_tokens').select(['id', 'expires_at', 'revoked_at']).execute();
  const entries = (action: string) => t.services.audit.listAudit({ action });

  it('records a login once, as the identity, with its token id; a login it cannot record issues no token', async () => {
    const id = await identity('ci');
    const res = await login(id);
    const tokenId = /^kbx_([0-9a-f]{16})\./.exec(res.json['accessToken'] as string)?.[1];
    const recorded = await entries('auth.login');
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ actor: 'identity:ci', outcome: 'success', details: { tokenId } });

    const secretUse = () => t.store.db.selectFrom('identity_secrets').select('last_used_at').executeTakeFirstOrThrow();
    const before = { tokens: await tokenRows(), secret: await secretUse() };
    t.clock.tick(1_000);
    await breakAudit();
    const refused = await login(id);
    expect(refused.status).toBe(500);
    expect(refused.text).not.toContain('kbx_');
    expect({ tokens: await tokenRows(), secret: await secretUse() }).toEqual(before);
  });

  it('records a user login once, as the user; a login it cannot record starts no session', async () => {
    await t.services.users.create({ name: 'alice', password: PASSWORD }, 'admin');
    expect((await t.call('POST', '/api/v1/auth/user-login', { name: 'alice', password: PASSWORD })).status).toBe(200);
    expect(await entries('auth.user-login')).toMatchObject([{ actor: 'user:alice', outcome: 'success' }]);

    const lastLogin = () =>
      t.store.db.selectFrom('users').select('last_login_at').where('name', '=', 'alice').execute();
    const before = { tokens: await tokenRows(), user: await lastLogin() };
    t.clock.tick(1_000);
    await breakAudit();
    expect((await t.call('POST', '/api/v1/auth/user-login', { name: 'alice', password: PASSWORD })).status).toBe(500);
    expect({ tokens: await tokenRows(), user: await lastLogin() }).toEqual(before);
  });

  it('keeps the expiry when a renewal cannot be recorded, and the token when a self-revocation cannot', async () => {
    const token = (await login(await identity('ci', { tokenTtl: 300, tokenMaxTtl: 600 }))).json[
      'accessToken'
    ] as string;
    t.clock.tick(200_000);
    const before = await tokenRows();
    await breakAudit();
    expect((await t.call('POST', '/api/v1/auth/token/renew', undefined, { token })).status).toBe(500);
    expect((await t.call('POST', '/api/v1/auth/token/revoke', undefined, { token })).status).toBe(500);
    expect(await tokenRows()).toEqual(before);

    await mendAudit();
    const renewed = await t.call('POST', '/api/v1/auth/token/renew', undefined, { token });
    expect(renewed.json).toEqual({ expiresAt: '2026-01-01T00:08:20.000Z', capped: false });
    expect((await t.call('POST', '/api/v1/auth/token/revoke', undefined, { token })).status).toBe(204);
    expect(await entries('auth.renew')).toMatchObject([{ outcome: 'success', details: renewed.json }]);
    expect(await entries('auth.revoke-self')).toMatchObject([{ outcome: 'success' }]);
  });
});
