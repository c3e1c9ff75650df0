import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTestApp, expectError, type ApiTestApp } from '../../test-support/api-test-app.js';

/*
 * The web UI's session: the token split between an HttpOnly cookie and a key the page keeps, honoured only together
 * and only from the UI's own page, ended by signing out.
 */

let t: ApiTestApp;
beforeEach(async () => {
  t = await createApiTestApp();
  await t.services.users.create({ name: 'alice', password: PASSWORD, policies: ['admin'] }, 'test');
});
afterEach(async () => {
  await t.close();
});

const PASSWORD = 'correct horse battery staple';
const START = { 'x-keybox-csrf': '1' };

function cookieOf(res: { headers: Headers }): string {
  const header = res.headers.get('set-cookie') ?? '';
  const pair = /^(keybox_session=[^;]*)/.exec(header)?.[1];
  expect(pair, `set-cookie: ${header}`).toBeDefined();
  return pair as string;
}

const start = (body: unknown, headers: Record<string, string> = START) =>
  t.call('POST', '/api/v1/auth/session', body, { token: null, headers });

interface Session {
  cookie: string;
  key: string;
}

async function signIn(body: unknown = { name: 'alice', password: PASSWORD }): Promise<Session> {
  const res = await start(body);
  expect(res.status, res.text).toBe(200);
  return { cookie: cookieOf(res), key: res.json['sessionKey'] as string };
}

/** A request as the UI's page sends it: the cookie and the key, no Authorization header. */
const asUi = (method: string, path: string, s: Session, headers: Record<string, string> = {}, body?: unknown) =>
  t.call(method, path, body, { token: null, headers: { cookie: s.cookie, 'x-keybox-session': s.key, ...headers } });
/** The cookie alone, as the browser sends it anywhere on the host. */
const cookieOnly = (path: string, s: Session, headers: Record<string, string> = {}) =>
  t.call('GET', path, undefined, { token: null, headers: { cookie: s.cookie, ...headers } });

describe('starting a session', () => {
  it('splits the token between an HttpOnly, SameSite=Strict cookie and a key for the page; neither holds it', async () => {
    const res = await start({ name: 'alice', password: PASSWORD });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const header = res.headers.get('set-cookie') ?? '';
    expect(header).toMatch(/HttpOnly/);
    expect(header).toMatch(/SameSite=Strict/);
    expect(header).toMatch(/Path=\//);
    expect(header).toMatch(/Max-Age=43200/);
    // Over plain HTTP a Secure cookie would not come back.
    expect(header).not.toMatch(/Secure/);
    expect(res.json).toEqual({
      sessionKey: expect.stringMatching(/^[\w-]{20,}$/),
      expiresAt: expect.any(String),
      principal: { type: 'user', name: 'alice' },
    });
    const session = { cookie: cookieOf(res), key: res.json['sessionKey'] as string };
    const me = await asUi('GET', '/api/v1/auth/token', session);
    expect(me.status, me.text).toBe(200);
    expect(me.json['principal']).toMatchObject({ type: 'user', name: 'alice', actor: 'user:alice' });
    expect(me.json['token']).toMatchObject({ kind: 'session' });
    // The token itself is in neither half.
    const tokens = await t.services.tokens.list();
    expect(tokens.some((tk) => tk.name === 'session:alice')).toBe(true);
    expect(session.cookie).not.toMatch(/kbx_/);
    expect(session.key).not.toMatch(/kbx_/);
  });

  it('marks the cookie Secure over HTTPS, and behind a TLS proxy that says so', async () => {
    const res = await t.app.request('https://keybox.example/api/v1/auth/session', {
      method: 'POST',
      headers: { ...START, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'alice', password: PASSWORD }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/; Secure/);
    const proxied = await start({ name: 'alice', password: PASSWORD }, { ...START, 'x-forwarded-proto': 'https' });
    expect(proxied.headers.get('set-cookie')).toMatch(/; Secure/);
  });

  it('refuses a start without the CSRF header, or from another site, and sets no cookie', async () => {
    const bare = await start({ name: 'alice', password: PASSWORD }, {});
    expectError(bare, 'UNAUTHENTICATED', /X-Keybox-CSRF/);
    expect(bare.headers.get('set-cookie')).toBeNull();
    const crossSite = await start({ name: 'alice', password: PASSWORD }, { ...START, 'sec-fetch-site': 'cross-site' });
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
    const session = await signIn({ token: t.token });
    const me = await asUi('GET', '/api/v1/auth/token', session);
    expect(me.json['principal']).toMatchObject({ type: 'token', name: 'admin' });
    expect((await asUi('GET', '/api/v1/projects', session)).status).toBe(200);

    const end = await asUi('DELETE', '/api/v1/auth/session', session);
    expect(end.status, end.text).toBe(200);
    expect(end.json).toEqual({ revoked: false });
    expect(end.headers.get('set-cookie')).toMatch(/keybox_session=;.*Max-Age=0/);
    // Signing out of the browser does not end the admin's token.
    expect((await t.call('GET', '/api/v1/projects')).status).toBe(200);
  });

  it('refuses a token that is not valid, audited without it, and counts each against the address', async () => {
    const res = await start({ token: 'kbx_not-a-real-token' });
    expectError(res, 'UNAUTHENTICATED', 'the token is not valid');
    expect(res.headers.get('set-cookie')).toBeNull();
    const entries = await t.services.audit.listAudit({ action: 'auth.session', limit: 5 });
    expect(entries[0]).toMatchObject({ outcome: 'failure', resource: 'token' });
    expect(JSON.stringify(entries)).not.toContain('kbx_not-a-real-token');
    let status = 0;
    // 60 failed authentications a minute per address (defaultLimits), then RATE_LIMITED.
    for (let i = 0; i < 60 && status !== 429; i++) status = (await start({ token: `kbx_guess-${i}` })).status;
    expect(status).toBe(429);
  });
});

describe('a session', () => {
  it('acts as its user, audited as the user', async () => {
    const session = await signIn();
    const created = await asUi('POST', '/api/v1/projects', session, {}, { slug: 'shop' });
    expect(created.status, created.text).toBe(201);
    const entries = await t.services.audit.listAudit({ action: 'project.create', limit: 1 });
    expect(entries[0]).toMatchObject({ actor: 'user:alice', outcome: 'success' });
  });

  it('is worth nothing as the cookie alone: what another service on this host, or a form on another page, sends', async () => {
    const session = await signIn();
    expectError(await cookieOnly('/api/v1/projects', session), 'UNAUTHENTICATED', /X-Keybox-Session/);
    // Even with the start's CSRF header, which any script on the host could add to a replayed cookie.
    expectError(await cookieOnly('/api/v1/projects', session, START), 'UNAUTHENTICATED', /X-Keybox-Session/);
    const post = await t.call(
      'POST',
      '/api/v1/projects',
      { slug: 'evil' },
      { token: null, headers: { cookie: session.cookie } },
    );
    expectError(post, 'UNAUTHENTICATED');
    expect((await t.call('GET', '/api/v1/projects/evil')).status).toBe(404);
  });

  it('is worth nothing as the key alone, or with a key of another session', async () => {
    const session = await signIn();
    const other = await signIn();
    const keyOnly = await t.call('GET', '/api/v1/projects', undefined, {
      token: null,
      headers: { 'x-keybox-session': session.key },
    });
    expectError(keyOnly, 'UNAUTHENTICATED', /missing Authorization/);
    const mixed = await asUi('GET', '/api/v1/projects', { cookie: session.cookie, key: other.key });
    expectError(mixed, 'UNAUTHENTICATED', 'the session has ended: sign in again');
    expectError(
      await asUi('GET', '/api/v1/projects', { ...session, key: 'AAAA' }),
      'UNAUTHENTICATED',
      /session has ended/,
    );
  });

  it('counts each refusal as a failed authentication, so a page firing requests with it is limited', async () => {
    const session = await signIn();
    let status = 0;
    for (let i = 0; i < 61 && status !== 429; i++) status = (await cookieOnly('/api/v1/projects', session)).status;
    expect(status).toBe(429);
  });

  it('is not honoured from a page of another origin, even with its key', async () => {
    const session = await signIn();
    for (const site of ['cross-site', 'same-site']) {
      const res = await asUi('GET', '/api/v1/projects', session, { 'sec-fetch-site': site });
      expectError(res, 'UNAUTHENTICATED', /web UI itself/);
    }
    expect((await asUi('GET', '/api/v1/projects', session, { 'sec-fetch-site': 'same-origin' })).status).toBe(200);
  });

  it('refuses several session cookies (one set by another site on the host) and asks the browser to drop its own', async () => {
    const session = await signIn();
    const res = await asUi('GET', '/api/v1/projects', {
      cookie: `keybox_session=t.c2hhZG93; ${session.cookie}`,
      key: session.key,
    });
    expectError(res, 'UNAUTHENTICATED', /several keybox_session cookies/);
    expect(res.headers.get('set-cookie')).toMatch(/keybox_session=;.*Max-Age=0/);
  });

  it('is ended by signing out: the token is revoked, the cookie cleared', async () => {
    const session = await signIn();
    const end = await asUi('DELETE', '/api/v1/auth/session', session);
    expect(end.status, end.text).toBe(200);
    expect(end.json).toEqual({ revoked: true });
    const after = await asUi('GET', '/api/v1/projects', session);
    expectError(after, 'UNAUTHENTICATED', 'the session has ended: sign in again');
    // An ended session's cookie is dropped too.
    expect(after.headers.get('set-cookie')).toMatch(/keybox_session=;.*Max-Age=0/);
    const entries = await t.services.audit.listAudit({ actor: 'user:alice', limit: 5 });
    expect(entries.map((e) => e.action)).toContain('auth.session-end');
  });

  it('ends when its user is disabled', async () => {
    const session = await signIn();
    await t.services.users.setDisabled('alice', true);
    expectError(await asUi('GET', '/api/v1/projects', session), 'UNAUTHENTICATED', /session has ended/);
  });

  it('gives way to an Authorization header, and a sign-out through one revokes nothing', async () => {
    const session = await signIn();
    const none = await t.tokenWith([]);
    const headers = { cookie: session.cookie, 'x-keybox-session': session.key };
    // The bearer token (allowed nothing) is the one used, not the admin session in the cookie.
    expectError(await t.call('POST', '/api/v1/projects', { slug: 'shop' }, { token: none, headers }), 'FORBIDDEN');
    const end = await t.call('DELETE', '/api/v1/auth/session', undefined, { token: none, headers });
    expect(end.json).toEqual({ revoked: false });
    expect((await t.call('GET', '/api/v1/auth/token', undefined, { token: none })).status).toBe(200);
    expect((await asUi('GET', '/api/v1/auth/token', session)).status).toBe(200);
  });
});
