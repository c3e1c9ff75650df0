import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { createApiTestApp, type ApiTestApp } from '../../test-support/api-test-app.js';
import { breakAuditLog } from '../../test-support/test-store.js';

/*
 * The Vault KV read of a folder is answered straight from node:http (direct-vault-read.ts) when it succeeds, and by
 * the Hono app otherwise. Both must look the same to a client and to the audit log: status, body (but for the
 * request id), headers and audit entry.
 */

let t: ApiTestApp;
let appFetch: MockInstance;
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
      { name: 'TOKEN', value: 't-1 "quoted" \\ ✓' },
    ],
    { actor: 't' },
  );
  await t.services.secrets.applyChanges({ ...dev, path: '/web' }, [{ name: 'UI', value: 'ui-1' }], { actor: 't' });
});
afterEach(async () => {
  await t.close();
});

async function lastEntry() {
  await t.services.auditLog.settled();
  const [entry] = await t.services.audit.listAudit({ limit: 1 });
  const { actor, action, resource, outcome, details } = entry as NonNullable<typeof entry>;
  return { actor, action, resource, outcome, details };
}

function visibleHeaders(headers: Headers) {
  const skip = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'x-request-id']);
  return Object.fromEntries([...headers].filter(([name]) => !skip.has(name)));
}

const withToken = (token: string | null = t.token): { token: null; headers: Record<string, string> } => ({
  token: null,
  headers: token === null ? {} : { 'x-vault-token': token },
});

/** The same request to the app and through the listener; whether the listener handed it to the app. */
async function both(path: string, token?: string | null) {
  const listener = await t.listen();
  const viaApp = await t.callVault('GET', path, undefined, withToken(token));
  const appEntry = await lastEntry();
  const before = appFetch.mock.calls.length;
  const viaListener = await listener.callVault('GET', path, undefined, withToken(token));
  const byApp = appFetch.mock.calls.length > before;
  return { viaApp, viaListener, appEntry, listenerEntry: await lastEntry(), byApp };
}

const withoutRequestId = (text: string) => text.replace(/"request_id":"[^"]*"/, '"request_id":""');

describe('the direct Vault read', () => {
  it.each([
    ['a folder', '/v1/app/data/dev/api'],
    ['a folder, with a trailing slash', '/v1/app/data/dev/api/'],
    ['the environment root', '/v1/app/data/dev'],
  ])('answers %s exactly as the app does, and records the same entry', async (_title, path) => {
    const { viaApp, viaListener, appEntry, listenerEntry, byApp } = await both(path);
    expect(byApp, 'answered by the app, not directly').toBe(false);
    expect(viaListener.status).toBe(200);
    expect(withoutRequestId(viaListener.text)).toBe(withoutRequestId(viaApp.text));
    expect(viaListener.json['request_id']).toBe(viaListener.headers.get('x-request-id'));
    expect(visibleHeaders(viaListener.headers)).toEqual(visibleHeaders(viaApp.headers));
    expect(viaListener.headers.get('content-length')).toBe(String(Buffer.byteLength(viaListener.text)));
    expect(listenerEntry).toEqual(appEntry);
    expect(listenerEntry.action).toBe('vault.kv.read');
    expect(JSON.stringify(listenerEntry)).not.toMatch(/root-1|postgres:\/\/db|t-1|ui-1/);
  });

  it.each([
    ['a versioned read', '/v1/app/data/dev/api?version=1', 'admin', 200],
    ['a missing folder', '/v1/app/data/dev/nowhere', 'admin', 404],
    ['a missing token', '/v1/app/data/dev/api', null, 403],
    ['an unknown token', '/v1/app/data/dev/api', 'kbx_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAA', 403],
    ['a percent-escaped path', '/v1/app/data/dev/%61pi', 'admin', 200],
  ] as const)('leaves %s to the app', async (_title, path, token, status) => {
    const { viaApp, viaListener, byApp } = await both(path, token === 'admin' ? t.token : token);
    expect(byApp).toBe(true);
    expect(viaListener.status).toBe(status);
    expect(viaApp.status).toBe(status);
  });

  it('leaves a deleted folder and a policy refusal to the app, counting a use-limited token once', async () => {
    await t.services.policies.put(
      'api-reader',
      { rules: [{ projects: ['app'], environments: ['dev'], paths: ['/api/**'], capabilities: ['read'] }] },
      't',
    );
    const ci = await t.services.identities.create('ci', { tokenUses: 2, policies: ['api-reader'] }, 'admin');
    const limited = await t.services.identities.login(ci.clientId, ci.clientSecret, '127.0.0.1');
    const { callVault } = await t.listen();
    const get = (path: string) => callVault('GET', path, undefined, withToken(limited.accessToken));
    expect((await get('/v1/app/data/dev/api')).status).toBe(200);
    // Checked (one use) by the direct path, refused by policy in the app: not counted a second time there.
    expect((await get('/v1/app/data/dev/web')).json['errors'][0]).toBe('permission denied');
    expect((await get('/v1/app/data/dev/api')).status).toBe(403); // both uses spent

    await t.services.secrets.writeFolder(
      { project: 'app', env: 'dev', path: '/api' },
      {},
      { mode: 'clear', actor: 't' },
    );
    const deleted = await callVault('GET', '/v1/app/data/dev/api', undefined, withToken());
    expect(deleted.status).toBe(404);
    expect(deleted.json['data']['metadata']['deletion_time']).not.toBe('');
  });

  it('serves a changed value at once', async () => {
    const { callVault } = await t.listen();
    const get = async (): Promise<Record<string, unknown>> =>
      (await callVault('GET', '/v1/app/data/dev/web', undefined, withToken())).json['data'] as Record<string, unknown>;
    expect((await get())['data']).toEqual({ UI: 'ui-1' });
    await t.services.secrets.applyChanges(
      { project: 'app', env: 'dev', path: '/web' },
      [{ name: 'UI', value: 'ui-2' }],
      {
        actor: 't',
      },
    );
    expect(await get()).toMatchObject({ data: { UI: 'ui-2' }, metadata: { version: 2, custom_metadata: null } });
    const created = ((await get())['metadata'] as Record<string, unknown>)['created_time'];
    await t.services.secrets.writeFolderMetadata(
      { project: 'app', env: 'dev', path: '/web' },
      () => ({ owner: 'web-team' }),
      { actor: 't' },
    );
    // The metadata changed, the version did not.
    expect(await get()).toMatchObject({
      metadata: { version: 2, custom_metadata: { owner: 'web-team' }, created_time: created },
    });
  });

  it('refuses a read it cannot record, in Vault’s format, without the value', async () => {
    await breakAuditLog(t.store, 'no');
    const { callVault } = await t.listen();
    const before = appFetch.mock.calls.length;
    const res = await callVault('GET', '/v1/app/data/dev/api', undefined, withToken());
    expect(appFetch.mock.calls.length).toBe(before);
    expect(res.status).toBe(500);
    expect(res.json).toEqual({ errors: ['internal error', 'the request could not be recorded in the audit log'] });
    const viaApp = await t.callVault('GET', '/v1/app/data/dev/api', undefined, withToken());
    expect(viaApp.status).toBe(500);
    expect(viaApp.json).toEqual(res.json);
    expect(res.text + viaApp.text).not.toContain('postgres://db');
  });
});
