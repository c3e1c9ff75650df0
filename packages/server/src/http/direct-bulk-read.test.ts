import { connect } from 'node:net';
import { createKeyboxClient } from '@keybox/sdk';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { createApiTestApp, expectError, type ApiTestApp } from '../test-support/api-test-app.js';
import { OTHERS_POLL_MS } from '../core/store/node-sqlite-dialect.js';
import { breakAuditLog } from '../test-support/test-store.js';

/*
 * The bulk read is answered straight from node:http (direct-bulk-read.ts) when it succeeds, and by the Hono app
 * otherwise. Both must be indistinguishable to a client and to the audit log: the same status, body, headers and
 * audit entry for the same request. And what the direct path reuses between requests (token checks, folder rows,
 * decrypted bundles) must never outlive a change, made here or by another process on the same database.
 */

let t: ApiTestApp;
/** Calls into the Hono app: the listener reaches it only for what it does not answer itself. */
let appFetch: MockInstance;
const read = (query: string) => `/api/v1/secrets?${query}`;

beforeEach(async () => {
  t = await createApiTestApp();
  appFetch = vi.spyOn(t.app, 'fetch'); // before the listener takes hold of it
  await t.services.projects.create({ slug: 'app' });
  const dev = { project: 'app', env: 'dev' };
  await t.services.secrets.applyChanges({ ...dev, path: '/' }, [{ name: 'ROOT', value: 'root-1' }], { actor: 't' });
  await t.services.secrets.applyChanges(
    { ...dev, path: '/api' },
    [
      { name: 'DB_URL', value: 'postgres://db/1' },
      { name: 'TOKEN', value: 't-1' },
    ],
    { actor: 't' },
  );
  await t.services.secrets.applyChanges({ ...dev, path: '/web' }, [{ name: 'UI', value: 'ui-1' }], { actor: 't' });
});
afterEach(async () => {
  await t.close();
});

/** The last audit entry, without what differs by transport (address, agent) or by time. */
async function lastEntry() {
  const [entry] = await t.services.audit.listAudit({ limit: 1 });
  expect(entry).toBeDefined();
  const { actor, action, resource, outcome, details } = entry as NonNullable<typeof entry>;
  return { actor, action, resource, outcome, details };
}

/** Headers a client sees, without those of the transport or of the moment. */
function visibleHeaders(headers: Headers) {
  const skip = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'x-request-id']);
  return Object.fromEntries([...headers].filter(([name]) => !skip.has(name)));
}

async function both(path: string, init: { token?: string | null; headers?: Record<string, string> } = {}) {
  const listener = await t.listen();
  const viaApp = await t.call('GET', path, undefined, init);
  const appEntry = await lastEntry();
  const before = appFetch.mock.calls.length;
  const viaListener = await listener.call('GET', path, undefined, init);
  const byApp = appFetch.mock.calls.length > before;
  const listenerEntry = await lastEntry();
  return { viaApp, viaListener, appEntry, listenerEntry, byApp };
}

/** Sends raw bytes (repeated headers, no Host) and returns the whole answer. */
function rawRequest(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Written, not ended: the server closes after answering (connection: close).
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

/** `both` for when no entry can be stored. */
async function bothWithoutEntries(path: string) {
  const listener = await t.listen();
  const viaApp = await t.call('GET', path);
  const before = appFetch.mock.calls.length;
  const viaListener = await listener.call('GET', path);
  return { viaApp, viaListener, byApp: appFetch.mock.calls.length > before };
}

/** Commits by another process are seen within OTHERS_POLL_MS (docs/access.md); this waits a little longer. */
const afterPoll = () => new Promise((resolve) => setTimeout(resolve, OTHERS_POLL_MS + 2));

describe('the direct health check', () => {
  it.each(['GET', 'HEAD'])('answers %s /healthz exactly as the app does, without the app', async (method) => {
    const listener = await t.listen();
    const viaApp = await t.call(method, '/healthz?probe=1', undefined, { token: null });
    const before = appFetch.mock.calls.length;
    const viaListener = await listener.call(method, '/healthz?probe=1', undefined, { token: null });
    expect(appFetch.mock.calls.length, 'answered by the app, not directly').toBe(before);
    expect(viaListener.status).toBe(200);
    expect(viaListener.text).toBe(viaApp.text);
    expect(visibleHeaders(viaListener.headers)).toEqual(visibleHeaders(viaApp.headers));
    expect(viaListener.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    if (method === 'GET') {
      expect(viaListener.json).toEqual({ status: 'ok', version: 'test' });
      expect(viaListener.headers.get('content-length')).toBe(String(Buffer.byteLength(viaListener.text)));
    }
  });

  it('leaves other methods and paths to the app, which loads its adapter for them', async () => {
    const listener = await t.listen();
    for (const [method, path] of [
      ['POST', '/healthz'],
      ['GET', '/healthz/'],
      ['GET', '/healthzz'],
    ] as const) {
      const viaApp = await t.call(method, path, undefined, { token: null });
      const before = appFetch.mock.calls.length;
      const viaListener = await listener.call(method, path, undefined, { token: null });
      expect(appFetch.mock.calls.length, `${method} ${path} answered by the app`).toBe(before + 1);
      expect(viaListener.status).toBe(viaApp.status);
      expect(viaListener.json).toEqual({
        ...viaApp.json,
        error: { ...viaApp.json['error'], requestId: expect.any(String) },
      });
    }
  });
});

describe('the direct bulk read', () => {
  it.each([
    ['one folder', 'project=app&env=dev&path=/api'],
    ['one folder, as clients encode it', 'project=app&env=dev&path=%2Fapi'],
    ['one folder, with a lower-case escape', 'project=app&env=dev&path=%2fapi'],
    ['several folders in precedence order', 'project=app&env=dev&path=/&path=/api'],
    ['everything below a folder', 'project=app&env=dev&path=/&recursive=true'],
    ['an empty recursive flag', 'project=app&env=dev&recursive'],
  ])('answers %s exactly as the app does, and records the same entry', async (_title, query) => {
    const { viaApp, viaListener, appEntry, listenerEntry, byApp } = await both(read(query));
    expect(byApp, 'answered by the app, not directly').toBe(false);
    expect(viaListener.status).toBe(200);
    expect(viaListener.text).toBe(viaApp.text);
    expect(visibleHeaders(viaListener.headers)).toEqual(visibleHeaders(viaApp.headers));
    expect(viaListener.headers.get('content-length')).toBe(String(Buffer.byteLength(viaListener.text)));
    expect(listenerEntry).toEqual(appEntry);
    expect(listenerEntry.action).toBe('secrets.read');
    expect(JSON.stringify(listenerEntry)).not.toMatch(/root-1|postgres:\/\/db|t-1|ui-1/);
  });

  it('answers the requests `keybox run` and the SDK make (their client, their encoding)', async () => {
    const { url } = await t.listen();
    const client = createKeyboxClient({ addr: url, token: t.token });
    const before = appFetch.mock.calls.length;
    const scope = { project: 'app', env: 'dev', paths: ['/', '/api'], recursive: false };
    const first = await client.bulkRead(scope);
    expect(first.notModified).toBe(false);
    const again = await client.bulkRead(scope, { etag: first.etag });
    expect(again.notModified).toBe(true);
    const recursive = await client.bulkRead({ ...scope, paths: ['/'], recursive: true });
    expect(recursive.notModified === false && recursive.data.folders.map((f) => f.path)).toEqual(['/', '/api', '/web']);
    expect(appFetch.mock.calls.length, 'answered by the app, not directly').toBe(before);
  });

  it('answers 304 for a matching If-None-Match, as the app does', async () => {
    const first = await t.call('GET', read('project=app&env=dev&path=/api'));
    const etag = first.headers.get('etag') as string;
    for (const tag of [etag, `W/${etag}`, `"other", ${etag}`]) {
      const { viaApp, viaListener, appEntry, listenerEntry, byApp } = await both(
        read('project=app&env=dev&path=/api'),
        { headers: { 'if-none-match': tag } },
      );
      expect(byApp).toBe(false);
      expect(viaListener.status).toBe(304);
      expect(viaApp.status).toBe(304);
      expect(viaListener.text).toBe('');
      expect(visibleHeaders(viaListener.headers)).toEqual(visibleHeaders(viaApp.headers));
      expect(listenerEntry).toEqual(appEntry);
      expect(listenerEntry.details).toMatchObject({ notModified: true });
    }
  });

  it('keeps a well-formed x-request-id, replaces any other, and records it', async () => {
    const { call } = await t.listen();
    const kept = await call('GET', read('project=app&env=dev&path=/api'), undefined, {
      headers: { 'x-request-id': 'deploy-4711-abc' },
    });
    expect(kept.headers.get('x-request-id')).toBe('deploy-4711-abc');
    const [entry] = await t.services.audit.listAudit({ limit: 1 });
    expect(entry?.requestId).toBe('deploy-4711-abc');
    const replaced = await call('GET', read('project=app&env=dev&path=/api'), undefined, {
      headers: { 'x-request-id': 'bad id' },
    });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    ['a missing environment', 'project=app&path=/api', 'INVALID_INPUT', null],
    ['an unknown folder', 'project=app&env=dev&path=/nope', 'NOT_FOUND', null],
    ['a folder the token may not read', 'project=app&env=dev&path=/web', 'FORBIDDEN', 'reader'],
    ['a malformed path', 'project=app&env=dev&path=no-slash', 'INVALID_INPUT', null],
  ] as const)('leaves %s to the app, with the same error and entry', async (_title, query, code, who) => {
    const init =
      who === 'reader'
        ? { token: await t.tokenWith([await readerPolicy(['/api/**'])]) }
        : ({} as { token?: string | null });
    const { viaApp, viaListener, appEntry, listenerEntry, byApp } = await both(read(query), init);
    expect(byApp).toBe(true);
    expectError(viaListener, code);
    expect(viaListener.json['error']['message']).toBe(viaApp.json['error']['message']);
    expect(visibleHeaders(viaListener.headers)).toEqual(visibleHeaders(viaApp.headers));
    expect(listenerEntry).toEqual(appEntry);
  });

  it('refuses a read it cannot record, as the app does, without the value', async () => {
    await breakAuditLog(t.store, 'no');
    const { viaApp, viaListener, byApp } = await bothWithoutEntries(read('project=app&env=dev&path=/api'));
    expect(byApp).toBe(false);
    expectError(viaListener, 'INTERNAL', /could not be recorded in the audit log/);
    expect(viaListener.json['error']['message']).toBe(viaApp.json['error']['message']);
    expect(viaListener.text).not.toContain('postgres://db');
    expect(viaListener.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('leaves to the app what its adapter would refuse or read otherwise: repeated credentials, odd hosts', async () => {
    const { url } = await t.listen();
    const port = new URL(url).port;
    const target = read('project=app&env=dev&path=/api');
    const auth = `authorization: Bearer ${t.token}`;
    const status = async (head: string[]) => {
      const before = appFetch.mock.calls.length;
      const answer = await rawRequest(Number(port), [...head, 'connection: close', '', ''].join('\r\n'));
      return { status: Number(answer.slice(9, 12)), byApp: appFetch.mock.calls.length > before };
    };
    expect(await status([`GET ${target} HTTP/1.1`, `host: 127.0.0.1:${port}`, auth])).toEqual({
      status: 200,
      byApp: false,
    });
    // node:http keeps the first Authorization, the adapter joins both: the app's reading wins.
    expect(
      await status([`GET ${target} HTTP/1.1`, `host: 127.0.0.1:${port}`, auth, 'authorization: Bearer x']),
    ).toEqual({ status: 401, byApp: true });
    expect(
      (await status([`GET ${target} HTTP/1.1`, `host: 127.0.0.1:${port}`, auth, 'user-agent: a', 'user-agent: b']))
        .byApp,
    ).toBe(true);
    expect(await status([`GET ${target} HTTP/1.1`, 'host: a b@c', auth])).toEqual({ status: 400, byApp: false });
    expect(await status([`GET ${target} HTTP/1.0`, auth])).toMatchObject({ status: 400 });
  });

  it('leaves refused tokens to the app', async () => {
    const { call } = await t.listen();
    expectError(await call('GET', read('project=app&env=dev'), undefined, { token: null }), 'UNAUTHENTICATED');
    const unknown = 'kbx_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    expectError(await call('GET', read('project=app&env=dev'), undefined, { token: unknown }), 'UNAUTHENTICATED');
    expect((await lastEntry()).outcome).toBe('failure');
  });

  it('counts one use of a use-limited token per request, also when the app answers', async () => {
    const { call } = await t.listen();
    const ci = await t.services.identities.create(
      'ci',
      { tokenUses: 2, policies: [await readerPolicy(['/api/**'])] },
      'admin',
    );
    const limited = await t.services.identities.login(ci.clientId, ci.clientSecret, '127.0.0.1');
    const ok = await call('GET', read('project=app&env=dev&path=/api'), undefined, { token: limited.accessToken });
    expect(ok.status).toBe(200);
    // Checked (one use) by the direct path, refused by policy in the app: not counted a second time there.
    const refused = await call('GET', read('project=app&env=dev&path=/web'), undefined, { token: limited.accessToken });
    expectError(refused, 'FORBIDDEN');
    const spent = await call('GET', read('project=app&env=dev&path=/api'), undefined, { token: limited.accessToken });
    expectError(spent, 'UNAUTHENTICATED');
  });

  it('serves no value, token or policy after it changed', async () => {
    const { call } = await t.listen();
    const policy = await readerPolicy(['/api/**']);
    const created = await t.services.tokens.create(
      { name: 'reader', createdBy: 't', policies: [policy] },
      { attach: t.services.policies.attach },
    );
    const get = () => call('GET', read('project=app&env=dev&path=/api'), undefined, { token: created.token });
    expect((await get()).json['folders'][0]['secrets']).toContainEqual({ name: 'TOKEN', value: 't-1', version: 1 });
    expect((await get()).status).toBe(200); // now from what the first read kept

    await t.services.secrets.applyChanges(
      { project: 'app', env: 'dev', path: '/api' },
      [{ name: 'TOKEN', value: 't-2' }],
      { actor: 't' },
    );
    expect((await get()).json['folders'][0]['secrets']).toContainEqual({ name: 'TOKEN', value: 't-2', version: 2 });

    await t.services.policies.put(policy, { rules: [rule(['/web/**'])] }, 't');
    expectError(await get(), 'FORBIDDEN');
    await t.services.policies.put(policy, { rules: [rule(['/api/**'])] }, 't');
    expect((await get()).status).toBe(200);

    await t.services.tokens.revoke(created.id);
    expectError(await get(), 'UNAUTHENTICATED', /revoked/);
  });

  it('sees a revocation committed by another process on the same database', async () => {
    const { call } = await t.listen();
    const created = await t.services.tokens.create(
      { name: 'reader', createdBy: 't', policies: [await readerPolicy(['/api/**'])] },
      { attach: t.services.policies.attach },
    );
    const get = () => call('GET', read('project=app&env=dev&path=/api'), undefined, { token: created.token });
    expect((await get()).status).toBe(200);
    expect((await get()).status).toBe(200);
    t.writeElsewhere('update api_tokens set revoked_at = ? where id = ?', [new Date().toISOString(), created.id]);
    await afterPoll();
    expectError(await get(), 'UNAUTHENTICATED', /revoked/);
  });

  it('sees a value written by another process on the same database', async () => {
    const { call } = await t.listen();
    const get = () => call('GET', read('project=app&env=dev&path=/web'));
    expect((await get()).json['folders'][0]['revision']).toBe(1);
    // Another server on the same data dir: its own store connection and services.
    const { openKeyring } = await import('../core/crypto/keyring.js');
    const { createServices } = await import('../services.js');
    const store = await t.reopenStore();
    try {
      const keyring = await openKeyring(store.db, t.root, t.clock);
      const services = createServices({ db: store.db, dialect: store.dialect, keyring, clock: t.clock });
      await services.secrets.applyChanges(
        { project: 'app', env: 'dev', path: '/web' },
        [{ name: 'UI', value: 'ui-2' }],
        { actor: 'other' },
      );
    } finally {
      await store.close();
    }
    await afterPoll();
    const after = await get();
    expect(after.json['folders'][0]['revision']).toBe(2);
    expect(after.json['folders'][0]['secrets']).toEqual([{ name: 'UI', value: 'ui-2', version: 2 }]);
  });
});

function rule(paths: string[]) {
  return { projects: ['app'], environments: ['dev'], paths, capabilities: ['read' as const] };
}

let policies = 0;
async function readerPolicy(paths: string[]): Promise<string> {
  const name = `reader-${policies++}`;
  await t.services.policies.put(name, { rules: [rule(paths)] }, 't');
  return name;
}
