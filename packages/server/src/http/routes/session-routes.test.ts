import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTestApp, expectError, type ApiTestApp } from '../../test-support/api-test-app.js';

/* The web UI's session: an HttpOnly cookie, honoured only with the CSRF header, ended by signing out. */

let t: ApiTestApp;
beforeEach(async () => {
  t = await createApiTestApp();
  await t.services.users.create({ name: 'alice', password: PASSWORD, policies: ['admin'] }, 'test');
});
afterEach(async () => {
  await t.close();
});

const PASSWORD = 'correct horse battery staple';
const UI = { 'x-keybox-csrf': '1' };

function cookieOf(res: { headers: Headers }): string {
  const header = res.headers.get('set-cookie') ?? '';
  const pair = /^(keybox_session=[^;]*)/.exec(header)?.[1];
  expect(pair, `set-cookie: ${header}`).toBeDefined();
  return pair as string;
}

const start = (body: unknown, headers: Record<string, string> = UI) =>
  t.call('POST', '/api/v1/auth/session', body, { token: null, headers });
/** A request as the browser sends it: the cookie, no Authorization header. */
const asBrowser = (method: string, path: string, cookie: string, headers: Record<string, string> = UI) =>
  t.call(method, path, undefined, { token: null, headers: { cookie, ...headers } });

describe('starting a session', () => {
  it('sets an HttpOnly, SameSite=Strict cookie for a password and never answers the token', async () => {
    const res = await start({ name: 'alice', password: PASSWORD });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const header = res.headers.get('set-cookie') ?? '';
    expect(header).toMatch(/HttpOnly/);
    expect(header).toMatch(/SameSite=Strict/);
    expect(header).toMatch(/Path=\//);
    expect(header).not.toMatch(/Max-Age|Expires/);
    // Over plain HTTP a Secure cookie would not come back.
    expect(header).not.toMatch(/Secure/);
    expect(res.json).toEqual({ expiresAt: expect.any(String), principal: { type: 'user', name: 'alice' } });
    const token = cookieOf(res).slice('keybox_session=l.'.length);
    expect(res.text).not.toContain(token);

    const me = await asBrowser('GET', '/api/v1/auth/token', cookieOf(res));
    expect(me.status, me.text).toBe(200);
    expect(me.json['principal']).toMatchObject({ type: 'user', name: 'alice', actor: 'user:alice' });
    expect(me.json['token']).toMatchObject({ kind: 'session' });
  });

  it('marks the cookie Secure over HTTPS, and behind a TLS proxy that says so', async () => {
    const res = await t.app.request('https://keybox.example/api/v1/auth/session', {
      method: 'POST',
      headers: { ...UI, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'alice', password: PASSWORD }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/; Secure/);
    const proxied = await start({ name: 'alice', password: PASSWORD }, { ...UI, 'x-forwarded-proto': 'https' });
    expect(proxied.headers.get('set-cookie')).toMatch(/; Secure/);
  });

  it('refuses a start without the CSRF header, or from another site, and sets no cookie', async () => {
    const bare = await start({ name: 'alice', password: PASSWORD }, {});
    expectError(bare, 'UNAUTHENTICATED', /X-Keybox-CSRF/);
    expect(bare.headers.get('set-cookie')).toBeNull();
    const crossSite = await start({ name: 'alice', password: PASSWORD }, { ...UI, 'sec-fetch-site': 'cross-site' });
    expectError(crossSite, 'UNAUTHENTICATED', /web UI itself/);
    expect(crossSite.headers.get('set-cookie')).toBeNull();
  });

  it('refuses a wrong password as a login does, audited, and limits attempts per user name', async () => {
    const res = await start({ name: 'alice', password: 'not the password at all' });
    expectError(res, 'UNAUTHENTICATED', 'invalid user name or password');
    expect(res.headers.get('set-cookie')).toBeNull();
    for (let i = 0; i < 9; i++) await start({ name: 'alice', password: 'still not the password' });
    const limited = await start({ name: 'alice', password: PASSWORD });
    expectError(limited, 'RATE_LIMITED');
    const entries = await t.services.audit.listAudit({ action: 'auth.session', limit: 20 });
    expect(entries[0]).toMatchObject({ outcome: 'failure', resource: 'user:alice' });
    expect(JSON.stringify(entries)).not.toContain('not the password');
  });

  it('takes a token instead of a password, and keeps it on sign-out', async () => {
    const res = await start({ token: t.token });
    expect(res.status, res.text).toBe(200);
    expect(res.json['principal']).toEqual({ type: 'token', name: 'admin' });
    const cookie = cookieOf(res);
    expect((await asBrowser('GET', '/api/v1/projects', cookie)).status).toBe(200);

    const end = await asBrowser('DELETE', '/api/v1/auth/session', cookie);
    expect(end.status, end.text).toBe(200);
    expect(end.json).toEqual({ revoked: false });
    expect(end.headers.get('set-cookie')).toMatch(/keybox_session=;.*Max-Age=0/);
    // Signing out of the browser does not end the admin's token.
    expect((await t.call('GET', '/api/v1/projects')).status).toBe(200);
  });

  it('refuses a token that is not valid, and counts it against the address', async () => {
    const res = await start({ token: 'kbx_not-a-real-token' });
    expectError(res, 'UNAUTHENTICATED', 'the token is not valid');
    expect(res.headers.get('set-cookie')).toBeNull();
    const entries = await t.services.audit.listAudit({ action: 'auth.session', limit: 5 });
    expect(entries[0]).toMatchObject({ outcome: 'failure', resource: 'token' });
    expect(JSON.stringify(entries)).not.toContain('kbx_not-a-real-token');
  });
});

describe('a session cookie', () => {
  async function session(): Promise<string> {
    return cookieOf(await start({ name: 'alice', password: PASSWORD }));
  }

  it('acts as its user, audited as the user', async () => {
    const cookie = await session();
    const created = await t.call(
      'POST',
      '/api/v1/projects',
      { slug: 'shop' },
      { token: null, headers: { ...UI, cookie } },
    );
    expect(created.status, created.text).toBe(201);
    const entries = await t.services.audit.listAudit({ action: 'project.create', limit: 1 });
    expect(entries[0]).toMatchObject({ actor: 'user:alice', outcome: 'success' });
  });

  it('is not honoured without the CSRF header (a form or an image on another page)', async () => {
    const cookie = await session();
    const res = await asBrowser('GET', '/api/v1/projects', cookie, {});
    expectError(res, 'UNAUTHENTICATED', /X-Keybox-CSRF/);
    const post = await t.call('POST', '/api/v1/projects', { slug: 'evil' }, { token: null, headers: { cookie } });
    expectError(post, 'UNAUTHENTICATED');
    expect((await t.call('GET', '/api/v1/projects/evil')).status).toBe(404);
  });

  it('counts each refusal as a failed authentication, so a page firing requests with it is limited', async () => {
    const cookie = await session();
    let status = 0;
    // 60 failed authentications a minute per address (defaultLimits), then RATE_LIMITED, not another audit entry.
    for (let i = 0; i < 61 && status !== 429; i++)
      status = (await asBrowser('GET', '/api/v1/projects', cookie, {})).status;
    expect(status).toBe(429);
  });

  it('is not honoured from a page of another origin, even with the header', async () => {
    const cookie = await session();
    for (const site of ['cross-site', 'same-site']) {
      const res = await asBrowser('GET', '/api/v1/projects', cookie, { ...UI, 'sec-fetch-site': site });
      expectError(res, 'UNAUTHENTICATED', /web UI itself/);
    }
    expect(
      (await asBrowser('GET', '/api/v1/projects', cookie, { ...UI, 'sec-fetch-site': 'same-origin' })).status,
    ).toBe(200);
  });

  it('is ended by signing out: the token is revoked, the cookie cleared', async () => {
    const cookie = await session();
    const end = await asBrowser('DELETE', '/api/v1/auth/session', cookie);
    expect(end.status, end.text).toBe(200);
    expect(end.json).toEqual({ revoked: true });
    const after = await asBrowser('GET', '/api/v1/projects', cookie);
    expectError(after, 'UNAUTHENTICATED', 'the session has ended: sign in again');
    const entries = await t.services.audit.listAudit({ actor: 'user:alice', limit: 5 });
    expect(entries.map((e) => e.action)).toContain('auth.session-end');
  });

  it('ends when its user is disabled', async () => {
    const cookie = await session();
    await t.services.users.setDisabled('alice', true);
    expectError(await asBrowser('GET', '/api/v1/projects', cookie), 'UNAUTHENTICATED', /session has ended/);
  });

  it('gives way to an Authorization header', async () => {
    const cookie = await session();
    const none = await t.tokenWith([]);
    // The bearer token (allowed nothing) is the one used, not the admin session in the cookie.
    const res = await t.call('POST', '/api/v1/projects', { slug: 'shop' }, { token: none, headers: { ...UI, cookie } });
    expectError(res, 'FORBIDDEN');
  });
});
