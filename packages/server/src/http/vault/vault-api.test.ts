import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp } from '../../test-support/test-app.js';
import { TEST_STORE } from '../../test-support/test-store.js';

/*
 * The Vault-compatible API through the app itself: Vault's envelope and error bodies, KV v2 over folders, Keybox
 * policies and the audit log. vault-client.test.ts drives the same server with a real Vault client over HTTP.
 */

let t: Awaited<ReturnType<typeof createTestApp>>;
beforeEach(async () => {
  t = await createTestApp();
  await t.services.projects.create({ slug: 'shop' });
});
afterEach(async () => {
  await t.close();
});

async function vault(
  method: string,
  path: string,
  body?: unknown,
  init: { token?: string | null; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...init.headers };
  const token = init.token === undefined ? t.token : init.token;
  if (token !== null) headers['x-vault-token'] = token;
  const res = await t.app.request(`/v1/${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  const json = (text === '' ? undefined : JSON.parse(text)) as Record<string, any>;
  if (res.status >= 400 && json !== undefined && !('data' in json)) {
    // Vault's error body: a list of messages and nothing else.
    expect(Object.keys(json)).toEqual(['errors']);
    expect(Array.isArray(json['errors'])).toBe(true);
  }
  return { status: res.status, headers: res.headers, text, json };
}

const secret = () => `v-${randomBytes(8).toString('hex')}`;

async function entriesFor(requestId: string | null) {
  await t.services.auditLog.settled();
  return (await t.services.audit.listAudit({ limit: 1000 })).filter((e) => e.requestId === requestId);
}

describe('sys', () => {
  it('answers the health check without a token, unaudited, in Vault’s raw shape', async () => {
    const res = await vault('GET', 'sys/health', undefined, { token: null });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ initialized: true, sealed: false, standby: false, version: 'keybox-test' });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await entriesFor(res.headers.get('x-request-id'))).toEqual([]);
    expect((await vault('HEAD', 'sys/health', undefined, { token: null })).status).toBe(200);
    expect((await vault('GET', 'sys/health?activecode=204', undefined, { token: null })).status).toBe(204);
  });

  it('describes a project as a KV version 2 mount, and any other name as a 403', async () => {
    const res = await vault('GET', 'sys/internal/ui/mounts/shop/data/dev/api');
    expect(res.status).toBe(200);
    expect(res.json['data']).toMatchObject({ type: 'kv', path: 'shop/', options: { version: '2' } });
    expect(res.json).toMatchObject({ lease_id: '', renewable: false, wrap_info: null, auth: null });
    expect(res.json['request_id']).toBe(res.headers.get('x-request-id'));
    expect((await vault('GET', 'sys/internal/ui/mounts/nope/x')).status).toBe(403);
    const stranger = await t.tokenWith([]);
    expect((await vault('GET', 'sys/internal/ui/mounts/shop/x', undefined, { token: stranger })).status).toBe(403);
  });

  it('lists the projects the caller can see as KV v2 mounts', async () => {
    await t.services.projects.create({ slug: 'other' });
    const all = await vault('GET', 'sys/mounts');
    expect(Object.keys(all.json['data'] as object)).toEqual(['other/', 'shop/']);
    expect(all.json['shop/']).toEqual(all.json['data']['shop/']); // also at the top level, as Vault's sys/ lists
    expect(all.json['data']['shop/']).toMatchObject({ type: 'kv', options: { version: '2' } });
    await t.services.policies.put(
      'shop-only',
      { rules: [{ projects: ['shop'], environments: ['dev'], paths: ['/**'], capabilities: ['read'] }] },
      't',
    );
    const token = await t.tokenWith(['shop-only']);
    const mine = await vault('GET', 'sys/mounts', undefined, { token });
    expect(Object.keys(mine.json['data'] as object)).toEqual(['shop/']);
  });

  it('refuses a missing or bad token with 403 permission denied, and says no more than that', async () => {
    const none = await vault('GET', 'shop/data/dev', undefined, { token: null });
    expect(none.status).toBe(403);
    expect(none.json['errors'][0]).toBe('permission denied');
    const bad = await vault('GET', 'shop/data/dev', undefined, { token: 'kbx_not-a-token' });
    expect(bad.status).toBe(403);
    expect(bad.json['errors']).toEqual(['permission denied', 'invalid token']);
    const entries = await entriesFor(bad.headers.get('x-request-id'));
    expect(entries).toMatchObject([{ outcome: 'denied', action: 'GET /v1/shop/data/dev' }]);
  });

  it('takes the token from Authorization: Bearer too', async () => {
    await vault('POST', 'shop/data/dev', { data: { A: 'a' } });
    const res = await t.app.request('/v1/shop/data/dev', { headers: { authorization: `Bearer ${t.token}` } });
    expect(res.status).toBe(200);
  });

  it('answers an unknown route 404 in Vault’s format', async () => {
    const res = await vault('GET', 'sys/nothing-here');
    expect(res.status).toBe(404);
    expect(res.json['errors'][0]).toContain('no handler for route');
  });
});

describe('KV v2 data', () => {
  it('writes a folder and reads it back as one secret, with the folder revision as its version', async () => {
    const [a, b] = [secret(), secret()];
    const write = await vault('POST', 'shop/data/dev/api', { data: { API_KEY: a, DB_URL: b } });
    expect(write.status).toBe(200);
    expect(write.json['data']).toEqual({
      created_time: '2026-01-01T00:00:00.000Z',
      custom_metadata: null,
      deletion_time: '',
      destroyed: false,
      version: 1,
    });
    expect(write.json['mount_type']).toBe('kv');

    const read = await vault('GET', 'shop/data/dev/api');
    expect(read.status).toBe(200);
    expect(read.json['data']).toEqual({
      data: { API_KEY: a, DB_URL: b },
      metadata: {
        created_time: '2026-01-01T00:00:00.000Z',
        custom_metadata: null,
        deletion_time: '',
        destroyed: false,
        version: 1,
      },
    });
    // The same folder through the native API.
    const native = await t.services.secrets.list({ project: 'shop', env: 'dev', path: '/api' });
    expect(native.map((s) => s.name)).toEqual(['API_KEY', 'DB_URL']);
  });

  it('maps the environment root to <project>/data/<env>', async () => {
    await vault('PUT', 'shop/data/dev', { data: { ROOT: 'r' } });
    const native = await t.services.secrets.get({ project: 'shop', env: 'dev', path: '/' }, 'ROOT');
    expect(native.value).toBe('r');
    expect((await vault('GET', 'shop/data/dev/')).json['data']['data']).toEqual({ ROOT: 'r' });
  });

  it('replaces the whole folder on POST: names left out are deleted, in one revision', async () => {
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a1', B: 'b1' } });
    t.clock.tick(1000);
    const write = await vault('POST', 'shop/data/dev/api', { data: { A: 'a2' } });
    expect(write.json['data']['version']).toBe(2);
    expect((await vault('GET', 'shop/data/dev/api')).json['data']['data']).toEqual({ A: 'a2' });
    const old = await vault('GET', 'shop/data/dev/api?version=1');
    expect(old.json['data']).toMatchObject({ data: { A: 'a1', B: 'b1' }, metadata: { version: 1 } });
  });

  it('checks cas against the folder revision: 0 only creates, a stale one changes nothing', async () => {
    expect((await vault('POST', 'shop/data/dev/api', { data: { A: 'a' }, options: { cas: 0 } })).status).toBe(200);
    const again = await vault('POST', 'shop/data/dev/api', { data: { A: 'x' }, options: { cas: 0 } });
    expect(again.status).toBe(400);
    expect(again.json['errors'][0]).toBe('check-and-set parameter did not match the current version');
    const ok = await vault('POST', 'shop/data/dev/api', { data: { A: 'b' }, options: { cas: 1 } });
    expect(ok.json['data']['version']).toBe(2);
    expect((await vault('GET', 'shop/data/dev/api')).json['data']['data']).toEqual({ A: 'b' });
  });

  it('merge-patches with PATCH: null deletes, other names stay; the content type is required', async () => {
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a', B: 'b', C: 'c' } });
    const wrongType = await vault(
      'PATCH',
      'shop/data/dev/api',
      { data: { A: 'x' } },
      {
        headers: { 'content-type': 'application/json' },
      },
    );
    expect(wrongType.status).toBe(415);
    const patch = await vault(
      'PATCH',
      'shop/data/dev/api',
      { data: { A: 'a2', B: null, GONE: null } },
      {
        headers: { 'content-type': 'application/merge-patch+json' },
      },
    );
    expect(patch.status).toBe(200);
    expect(patch.json['data']['version']).toBe(2);
    expect((await vault('GET', 'shop/data/dev/api')).json['data']['data']).toEqual({ A: 'a2', C: 'c' });
    const missing = await vault(
      'PATCH',
      'shop/data/dev/nope',
      { data: { A: 'x' } },
      {
        headers: { 'content-type': 'application/merge-patch+json' },
      },
    );
    expect(missing.status).toBe(404);
  });

  it('refuses what Keybox cannot store, with a clear 400 and nothing written', async () => {
    const number = await vault('POST', 'shop/data/dev/api', { data: { PORT: 8080 } });
    expect(number.status).toBe(400);
    expect(number.json['errors'][0]).toContain('data.PORT');
    const name = await vault('POST', 'shop/data/dev/api', { data: { 'bad-name': 'x' } });
    expect(name.status).toBe(400);
    expect(name.json['errors'][0]).toContain('secret name');
    expect((await vault('POST', 'shop/data/dev/api', {})).json['errors']).toEqual(['no data provided']);
    expect((await vault('POST', 'shop/data/dev/api', '{not json')).status).toBe(400);
    const empty = await vault('POST', 'shop/data/dev/api', { data: {} });
    expect(empty.status).toBe(400);
    expect(await entriesFor(empty.headers.get('x-request-id'))).toMatchObject([{ outcome: 'failure' }]);
    expect((await vault('GET', 'shop/data/dev/api')).status).toBe(404);
    expect(await t.services.secrets.listFolders({ project: 'shop', env: 'dev', path: '/' })).toMatchObject([
      { path: '/' },
    ]);
  });

  it('answers a missing folder, environment or version with a 404', async () => {
    expect((await vault('GET', 'shop/data/dev/none')).status).toBe(404);
    expect((await vault('GET', 'shop/data/nowhere/api')).status).toBe(404);
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a' } });
    expect((await vault('GET', 'shop/data/dev/api?version=7')).status).toBe(404);
    expect((await vault('GET', 'shop/data')).status).toBe(400);
  });

  it('soft-deletes with DELETE (read gives Vault’s deleted 404) and undelete brings the folder back', async () => {
    const value = secret();
    await vault('POST', 'shop/data/dev/api', { data: { A: value, B: 'b' } });
    t.clock.tick(5000);
    expect((await vault('DELETE', 'shop/data/dev/api')).status).toBe(204);
    const gone = await vault('GET', 'shop/data/dev/api');
    expect(gone.status).toBe(404);
    expect(gone.json['data']).toEqual({
      data: null,
      metadata: {
        created_time: '2026-01-01T00:00:05.000Z',
        custom_metadata: null,
        deletion_time: '2026-01-01T00:00:05.000Z',
        destroyed: false,
        version: 2,
      },
    });
    expect((await vault('DELETE', 'shop/data/dev/api')).status).toBe(204); // already deleted: still fine
    expect((await vault('POST', 'shop/undelete/dev/api', { versions: [2] })).status).toBe(204);
    const back = await vault('GET', 'shop/data/dev/api');
    expect(back.json['data']).toMatchObject({ data: { A: value, B: 'b' }, metadata: { version: 3 } });
  });

  it('deletes the current version through delete/, refuses older ones and destroy with a reason', async () => {
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a' } });
    await vault('POST', 'shop/data/dev/api', { data: { A: 'b' } });
    const older = await vault('POST', 'shop/delete/dev/api', { versions: [1] });
    expect(older.status).toBe(400);
    expect(older.json['errors'][0]).toContain('only the current version (2)');
    expect((await vault('POST', 'shop/delete/dev/api', { versions: [] })).json['errors']).toEqual([
      'no version number provided',
    ]);
    expect((await vault('POST', 'shop/delete/dev/api', { versions: [2] })).status).toBe(204);
    expect((await vault('GET', 'shop/data/dev/api')).status).toBe(404);
    const destroy = await vault('POST', 'shop/destroy/dev/api', { versions: [1] });
    expect(destroy.status).toBe(400);
    expect(destroy.json['errors'][0]).toContain('destroy is not supported');
  });

  it('reports a destroyed version as destroyed', async () => {
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a' } });
    await vault('POST', 'shop/data/dev/api', { data: { A: 'b' } });
    await t.services.secrets.destroyVersion({ project: 'shop', env: 'dev', path: '/api' }, 'A', 1, { actor: 't' });
    const res = await vault('GET', 'shop/data/dev/api?version=1');
    expect(res.status).toBe(404);
    expect(res.json['data']['metadata']).toMatchObject({ destroyed: true, version: 1 });
  });
});

describe('KV v2 metadata', () => {
  beforeEach(async () => {
    await vault('POST', 'shop/data/dev', { data: { ROOT: 'r' } });
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a' } });
    await vault('POST', 'shop/data/dev/api/v2', { data: { B: 'b' } });
    await vault('POST', 'shop/data/dev/web/assets', { data: { C: 'c' } });
  });

  it('lists environments at the mount root and one level of folders below a path', async () => {
    const root = await vault('GET', 'shop/metadata?list=true');
    expect(root.json['data']['keys']).toEqual(['dev/', 'prod/', 'staging/']);
    expect((await vault('GET', 'shop/metadata/dev/?list=1')).json['data']['keys']).toEqual(['api', 'api/', 'web/']);
    expect((await vault('GET', 'shop/metadata/dev/api?list=true')).json['data']['keys']).toEqual(['v2']);
    expect((await vault('GET', 'shop/metadata/dev/nowhere?list=true')).status).toBe(404);
  });

  it('lists only what the caller’s policies reach (Vault lists everything)', async () => {
    await t.services.policies.put(
      'api-reader',
      { rules: [{ projects: ['shop'], environments: ['dev'], paths: ['/api/**'], capabilities: ['read'] }] },
      't',
    );
    const token = await t.tokenWith(['api-reader']);
    expect((await vault('GET', 'shop/metadata?list=true', undefined, { token })).json['data']['keys']).toEqual([
      'dev/',
    ]);
    expect((await vault('GET', 'shop/metadata/dev?list=true', undefined, { token })).json['data']['keys']).toEqual([
      'api',
      'api/',
    ]);
    expect((await vault('GET', 'shop/data/dev/api', undefined, { token })).status).toBe(200);
    const denied = await vault('GET', 'shop/data/dev/web/assets', undefined, { token });
    expect(denied.status).toBe(403);
    expect(denied.json['errors'][0]).toBe('permission denied');
    expect((await vault('POST', 'shop/data/dev/api', { data: { A: 'x' } }, { token })).status).toBe(403);
    expect((await vault('GET', 'shop/data/dev/api', undefined, { token })).json['data']['data']).toEqual({ A: 'a' });
  });

  it('reads a folder’s versions, a deletion showing as a deleted version', async () => {
    t.clock.tick(1000);
    await vault('DELETE', 'shop/data/dev/api');
    const res = await vault('GET', 'shop/metadata/dev/api');
    expect(res.status).toBe(200);
    expect(res.json['data']).toEqual({
      cas_required: false,
      created_time: '2026-01-01T00:00:00.000Z',
      current_version: 2,
      custom_metadata: null,
      delete_version_after: '0s',
      max_versions: 0,
      oldest_version: 1,
      updated_time: '2026-01-01T00:00:01.000Z',
      versions: {
        '1': { created_time: '2026-01-01T00:00:00.000Z', deletion_time: '', destroyed: false },
        '2': {
          created_time: '2026-01-01T00:00:01.000Z',
          deletion_time: '2026-01-01T00:00:01.000Z',
          destroyed: false,
        },
      },
    });
    const settings = await vault('POST', 'shop/metadata/dev/api', { max_versions: 3 });
    expect(settings.status).toBe(400);
    expect(settings.json['errors'][0]).toContain('max_versions, cas_required and delete_version_after are not stored');
  });
});

describe('a replace that deletes needs the right to delete', () => {
  it('refuses, writing nothing, when the caller may write but not delete', async () => {
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a', B: 'b' } });
    await t.services.policies.put(
      'writer',
      { rules: [{ projects: ['shop'], environments: ['dev'], paths: ['/**'], capabilities: ['read', 'write'] }] },
      't',
    );
    const token = await t.tokenWith(['writer']);
    expect((await vault('POST', 'shop/data/dev/api', { data: { A: 'a', B: 'b2' } }, { token })).status).toBe(200);
    const dropping = await vault('POST', 'shop/data/dev/api', { data: { A: 'a' } }, { token });
    expect(dropping.status).toBe(403);
    const read = await vault('GET', 'shop/data/dev/api');
    expect(read.json['data']).toMatchObject({ data: { A: 'a', B: 'b2' }, metadata: { version: 2 } });
    expect((await vault('DELETE', 'shop/data/dev/api', undefined, { token })).status).toBe(403);
  });
});

describe('the audit log', () => {
  it('records each read and write with names and versions, never a value', async () => {
    const value = secret();
    const write = await vault('POST', 'shop/data/dev/api', { data: { API_KEY: value } });
    const read = await vault('GET', 'shop/data/dev/api');
    const [written] = await entriesFor(write.headers.get('x-request-id'));
    const [served] = await entriesFor(read.headers.get('x-request-id'));
    expect(written).toMatchObject({ action: 'vault.kv.write', resource: 'shop/dev:/api', outcome: 'success' });
    expect(written?.details).toMatchObject({ revision: 1, secrets: [['API_KEY', 'created', 1]] });
    expect(served).toMatchObject({ action: 'vault.kv.read', resource: 'shop/dev:/api', outcome: 'success' });
    expect(served?.details).toMatchObject({ folders: [{ path: '/api', revision: 1, secrets: [['API_KEY', 1]] }] });
    expect(JSON.stringify([written, served])).not.toContain(value);
  });
});

describe('auth', () => {
  async function identity() {
    await t.services.policies.put(
      'reader',
      { rules: [{ projects: ['shop'], environments: ['dev'], paths: ['/**'], capabilities: ['read'] }] },
      't',
    );
    const created = await t.services.identities.create(
      'deployer',
      { tokenTtl: 300, tokenMaxTtl: 900, policies: ['reader'] },
      'test',
    );
    return { roleId: created.clientId, secretId: created.clientSecret };
  }

  it('logs in with AppRole (role_id = client id, secret_id = client secret) and uses the token', async () => {
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a' } });
    const { roleId, secretId } = await identity();
    const login = await vault('POST', 'auth/approle/login', { role_id: roleId, secret_id: secretId }, { token: null });
    expect(login.status).toBe(200);
    expect(login.json['auth']).toMatchObject({
      lease_duration: 300,
      renewable: true,
      token_type: 'service',
      orphan: true,
      metadata: { role_name: 'deployer' },
      policies: ['reader'],
    });
    const token = login.json['auth']['client_token'] as string;
    expect((await vault('GET', 'shop/data/dev/api', undefined, { token })).json['data']['data']).toEqual({ A: 'a' });

    const self = await vault('GET', 'auth/token/lookup-self', undefined, { token });
    expect(self.json['data']).toMatchObject({ ttl: 300, type: 'service', renewable: true, policies: ['reader'] });
    expect(self.json['data']).toHaveProperty('expire_time', '2026-01-01T00:05:00.000Z');

    t.clock.tick(200_000);
    const renewed = await vault('POST', 'auth/token/renew-self', {}, { token });
    expect(renewed.json['auth']).toMatchObject({ lease_duration: 300, renewable: true });
    expect((await vault('POST', 'auth/token/revoke-self', undefined, { token })).status).toBe(204);
    expect((await vault('GET', 'shop/data/dev/api', undefined, { token })).status).toBe(403);
  });

  it('answers every bad login with the same 400 and records why', async () => {
    const { roleId } = await identity();
    const wrong = await vault(
      'POST',
      'auth/approle/login',
      { role_id: roleId, secret_id: 'kbx-nope' },
      { token: null },
    );
    expect(wrong.status).toBe(400);
    expect(wrong.json['errors']).toEqual(['invalid role or secret ID']);
    const unknown = await vault('POST', 'auth/approle/login', { role_id: 'x', secret_id: 'y' }, { token: null });
    expect(unknown.json['errors']).toEqual(['invalid role or secret ID']);
    expect((await vault('POST', 'auth/approle/login', { role_id: roleId }, { token: null })).json['errors']).toEqual([
      'missing secret_id',
    ]);
    const [entry] = await entriesFor(wrong.headers.get('x-request-id'));
    expect(entry).toMatchObject({ action: 'vault.approle.login', outcome: 'failure' });
    expect(entry?.details).toHaveProperty('reason');
  });
});

describe('handing out credentials (admin)', () => {
  it('creates a token with policies and a TTL, which then works', async () => {
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a' } });
    await t.services.policies.put(
      'reader',
      { rules: [{ projects: ['shop'], environments: ['dev'], paths: ['/**'], capabilities: ['read'] }] },
      't',
    );
    const created = await vault('POST', 'auth/token/create', {
      policies: ['reader', 'default'],
      ttl: '1h30m',
      display_name: 'deploy',
    });
    expect(created.status).toBe(200);
    expect(created.json['auth']).toMatchObject({ policies: ['reader'], lease_duration: 5400, token_type: 'service' });
    const token = created.json['auth']['client_token'] as string;
    expect((await vault('GET', 'shop/data/dev/api', undefined, { token })).json['data']['data']).toEqual({ A: 'a' });
    expect((await vault('GET', 'auth/token/lookup-self', undefined, { token })).json['data']).toMatchObject({
      display_name: 'deploy',
      ttl: 5400,
    });
    const batch = await vault('POST', 'auth/token/create', { type: 'batch' });
    expect(batch.status).toBe(400);
    expect(batch.json['errors'][0]).toContain('batch token is not supported');
    expect((await vault('POST', 'auth/token/create', { ttl: 'soon' })).json['errors'][0]).toContain('ttl');
  });

  it('reads a role id and mints and destroys secret ids for an identity', async () => {
    const identity = await t.services.identities.create('ci', { tokenTtl: 120 }, 'test');
    expect((await vault('GET', 'auth/approle/role?list=true')).json['data']['keys']).toEqual(['ci']);
    expect((await vault('GET', 'auth/approle/role/ci')).json['data']).toMatchObject({ token_ttl: 120 });
    const roleId = (await vault('GET', 'auth/approle/role/ci/role-id')).json['data']['role_id'] as string;
    expect(roleId).toBe(identity.clientId);

    const minted = await vault('POST', 'auth/approle/role/ci/secret-id', { ttl: '10m' });
    expect(minted.json['data']).toMatchObject({ secret_id_ttl: 600, secret_id_num_uses: 0 });
    const { secret_id: secretId, secret_id_accessor: accessor } = minted.json['data'] as Record<string, string>;
    const login = await vault('POST', 'auth/approle/login', { role_id: roleId, secret_id: secretId }, { token: null });
    expect(login.status).toBe(200);
    const token = login.json['auth']['client_token'] as string;

    expect(
      (await vault('POST', 'auth/approle/role/ci/secret-id-accessor/destroy', { secret_id_accessor: accessor })).status,
    ).toBe(204);
    // Destroying the secret id revokes the tokens it issued, and it logs in no more.
    expect((await vault('GET', 'auth/token/lookup-self', undefined, { token })).status).toBe(403);
    const again = await vault('POST', 'auth/approle/login', { role_id: roleId, secret_id: secretId }, { token: null });
    expect(again.json['errors']).toEqual(['invalid role or secret ID']);

    expect((await vault('POST', 'auth/approle/role/ci/secret-id', { num_uses: 1 })).status).toBe(400);
    expect((await vault('GET', 'auth/approle/role/nobody/role-id')).status).toBe(404);
    const reader = await t.tokenWith([]);
    expect((await vault('GET', 'auth/approle/role/ci/role-id', undefined, { token: reader })).status).toBe(403);
  });
});

describe('what the review found', () => {
  it('keeps a secret named __proto__ like any other, both ways', async () => {
    const value = secret();
    await vault('POST', 'shop/data/dev/api', `{"data":{"__proto__":"${value}","A":"a"}}`);
    const native = await t.services.secrets.get({ project: 'shop', env: 'dev', path: '/api' }, '__proto__');
    expect(native.value).toBe(value);
    const read = await vault('GET', 'shop/data/dev/api');
    expect(read.text).toContain(`"__proto__":"${value}"`);
    expect((await vault('GET', 'shop/data/dev/api?version=1')).text).toContain(`"__proto__":"${value}"`);
  });

  it('answers a patch of a deleted folder 404, writing nothing', async () => {
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a' } });
    await vault('DELETE', 'shop/data/dev/api');
    const patch = await vault(
      'PATCH',
      'shop/data/dev/api',
      { data: { B: 'b' } },
      {
        headers: { 'content-type': 'application/merge-patch+json' },
      },
    );
    expect(patch.status).toBe(404);
    expect((await vault('GET', 'shop/metadata/dev/api')).json['data']['current_version']).toBe(2);
  });

  it('takes cas as a numeric string, and says "check-and-set" only when cas was given', async () => {
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a' } });
    expect((await vault('POST', 'shop/data/dev/api', { data: { A: 'b' }, options: { cas: '1' } })).status).toBe(200);
    const stale = await vault('POST', 'shop/data/dev/api', { data: { A: 'c' }, options: { cas: '1' } });
    expect(stale.json['errors']).toEqual([
      'check-and-set parameter did not match the current version',
      'folder /api is at revision 2, not 1',
    ]);
  });

  it('answers delete/ of a folder that does not exist 204, of an unknown environment 404', async () => {
    expect((await vault('POST', 'shop/delete/dev/nothing', { versions: [1] })).status).toBe(204);
    expect((await vault('POST', 'shop/delete/nowhere/x', { versions: [1] })).status).toBe(404);
  });

  it('refuses response wrapping and namespaces rather than ignoring them', async () => {
    await t.services.identities.create('ci', {}, 'test');
    const wrapped = await vault(
      'POST',
      'auth/approle/role/ci/secret-id',
      {},
      { headers: { 'x-vault-wrap-ttl': '60s' } },
    );
    expect(wrapped.status).toBe(400);
    expect(wrapped.json['errors'][0]).toContain('response wrapping');
    expect(wrapped.text).not.toContain('kbs_');
    expect(await t.services.identities.listSecrets('ci')).toHaveLength(1); // none minted
    const spaced = await vault('GET', 'shop/data/dev', undefined, { headers: { 'x-vault-namespace': 'team-a' } });
    expect(spaced.status).toBe(400);
    await vault('POST', 'shop/data/dev', { data: { A: 'a' } });
    const root = await vault('GET', 'shop/data/dev', undefined, { headers: { 'x-vault-namespace': 'root' } });
    expect(root.status).toBe(200);
  });

  it('falls back to Authorization: Bearer when X-Vault-Token is empty', async () => {
    await vault('POST', 'shop/data/dev', { data: { A: 'a' } });
    const res = await t.app.request('/v1/shop/data/dev', {
      headers: { 'x-vault-token': '', authorization: `Bearer ${t.token}` },
    });
    expect(res.status).toBe(200);
  });

  it('refuses token create to a non-admin before reading its body', async () => {
    const token = await t.tokenWith([]);
    const res = await vault('POST', 'auth/token/create', { num_uses: -1 }, { token });
    expect(res.status).toBe(403);
  });
});

describe('custom metadata (what External Secrets writes before a push)', () => {
  const patchHeaders = { headers: { 'content-type': 'application/merge-patch+json' } };

  it('stores custom_metadata on a folder not written yet, then shows it with every read', async () => {
    const tag = { 'managed-by': 'external-secrets' };
    expect((await vault('POST', 'shop/metadata/dev/pushed', { custom_metadata: tag })).status).toBe(204);
    // Metadata only: no version yet, as in Vault.
    expect((await vault('GET', 'shop/data/dev/pushed')).status).toBe(404);
    const meta = await vault('GET', 'shop/metadata/dev/pushed');
    expect(meta.json['data']).toMatchObject({ custom_metadata: tag, current_version: 0, versions: {} });

    const write = await vault('POST', 'shop/data/dev/pushed', { data: { TOKEN: 't' }, options: { cas: 0 } });
    expect(write.json['data']).toMatchObject({ version: 1, custom_metadata: tag });
    expect((await vault('GET', 'shop/data/dev/pushed')).json['data']['metadata']).toMatchObject({
      custom_metadata: tag,
    });
    // Through the listener's direct read too.
    const { url } = await t.listen();
    const direct = await fetch(`${url}/v1/shop/data/dev/pushed`, { headers: { 'x-vault-token': t.token } });
    expect(((await direct.json()) as Record<string, any>)['data']['metadata']['custom_metadata']).toEqual(tag);
    expect((await vault('GET', 'shop/data/dev/pushed?version=1')).json['data']['metadata']['custom_metadata']).toEqual(
      tag,
    );
  });

  it('replaces it with POST, merges it with PATCH (null removes a key), and checks its limits', async () => {
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a' } });
    await vault('POST', 'shop/metadata/dev/api', { custom_metadata: { a: '1', b: '2' } });
    await vault('PATCH', 'shop/metadata/dev/api', { custom_metadata: { b: null, c: '3' } }, patchHeaders);
    expect((await vault('GET', 'shop/metadata/dev/api')).json['data']['custom_metadata']).toEqual({ a: '1', c: '3' });
    await vault('POST', 'shop/metadata/dev/api', { custom_metadata: { z: '26' } });
    expect((await vault('GET', 'shop/metadata/dev/api')).json['data']['custom_metadata']).toEqual({ z: '26' });
    // A write without custom_metadata leaves it as it is.
    await vault('POST', 'shop/metadata/dev/api', {});
    expect((await vault('GET', 'shop/metadata/dev/api')).json['data']['custom_metadata']).toEqual({ z: '26' });

    const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expect((await vault('POST', 'shop/metadata/dev/api', { custom_metadata: tooMany })).status).toBe(400);
    expect((await vault('POST', 'shop/metadata/dev/api', { custom_metadata: { k: 'x'.repeat(513) } })).status).toBe(
      400,
    );
    expect((await vault('POST', 'shop/metadata/dev/api', { custom_metadata: { k: 1 } })).status).toBe(400);
    expect(
      (await vault('POST', 'shop/metadata/dev/api', { custom_metadata: { k: 'v' }, cas_required: true })).status,
    ).toBe(400);
    expect((await vault('GET', 'shop/metadata/dev/api')).json['data']['custom_metadata']).toEqual({ z: '26' });
    expect((await vault('PATCH', 'shop/metadata/dev/api', { custom_metadata: {} })).status).toBe(415);
  });

  it('deletes the live secrets and the metadata on a metadata DELETE, keeping history', async () => {
    await vault('POST', 'shop/data/dev/api', { data: { A: 'a' } });
    await vault('POST', 'shop/metadata/dev/api', { custom_metadata: { owner: 'x' } });
    expect((await vault('DELETE', 'shop/metadata/dev/api')).status).toBe(204);
    const read = await vault('GET', 'shop/data/dev/api');
    expect(read.status).toBe(404);
    expect(read.json['data']['metadata']).toMatchObject({ custom_metadata: null, version: 2 });
    expect((await vault('GET', 'shop/data/dev/api?version=1')).json['data']['data']).toEqual({ A: 'a' });
    const [entry] = (await t.services.audit.listAudit({ limit: 1000 })).filter(
      (e) => e.action === 'vault.kv.metadata-delete',
    );
    expect(entry?.details).toMatchObject({ revision: 2, secrets: [['A', 'deleted', 2]], customMetadataKeys: [] });
  });

  it('keeps the key limit across patches, tells watchers of deleted secrets, and creates no empty folder', async () => {
    const keys = (from: number) => Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${from + i}`, 'v']));
    await vault('POST', 'shop/metadata/dev/api', { custom_metadata: keys(0) });
    const over = await vault('PATCH', 'shop/metadata/dev/api', { custom_metadata: keys(40) }, patchHeaders);
    expect(over.status).toBe(400);
    expect(over.json['errors'][0]).toContain('at most 64 keys');
    expect(
      Object.keys((await vault('GET', 'shop/metadata/dev/api')).json['data']['custom_metadata'] as object),
    ).toHaveLength(40);

    await vault('POST', 'shop/data/dev/api', { data: { A: 'a' } });
    const heard: string[] = [];
    const unsubscribe = t.services.changes.subscribe((change) => heard.push(change.path));
    await vault('POST', 'shop/metadata/dev/api', { custom_metadata: { only: 'metadata' } });
    await vault('DELETE', 'shop/metadata/dev/api');
    unsubscribe();
    if (TEST_STORE === 'sqlite') {
      expect(heard).toEqual(['/api']);
    } else {
      // PostgreSQL also tells this server of its own folder row updates (the metadata write's too), at a time of its
      // choosing: a watcher may hear of /api more than once, and of nothing else.
      expect(new Set(heard)).toEqual(new Set(['/api']));
    }

    expect((await vault('DELETE', 'shop/metadata/dev/never')).status).toBe(204);
    expect((await vault('POST', 'shop/metadata/dev/never2', {})).status).toBe(204);
    const folders = await t.services.secrets.listFolders({ project: 'shop', env: 'dev', path: '/' });
    expect(folders.map((f) => f.path)).toEqual(['/', '/api']);
  });

  it('needs write to set it and delete to remove it', async () => {
    await t.services.policies.put(
      'writer',
      {
        rules: [{ projects: ['shop'], environments: ['dev'], paths: ['/**'], capabilities: ['read', 'list', 'write'] }],
      },
      't',
    );
    const token = await t.tokenWith(['writer']);
    expect((await vault('POST', 'shop/metadata/dev/api', { custom_metadata: { a: 'b' } }, { token })).status).toBe(204);
    expect((await vault('DELETE', 'shop/metadata/dev/api', undefined, { token })).status).toBe(403);
    const reader = await t.tokenWith([]);
    expect(
      (await vault('POST', 'shop/metadata/dev/api', { custom_metadata: { a: 'c' } }, { token: reader })).status,
    ).toBe(403);
    expect((await vault('GET', 'shop/metadata/dev/api')).json['data']['custom_metadata']).toEqual({ a: 'b' });
  });
});
