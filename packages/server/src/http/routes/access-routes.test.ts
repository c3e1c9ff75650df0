import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTestApp, expectError, listIn, type ApiTestApp } from '../../test-support/api-test-app.js';

/* Identities, client-secret rotation, static tokens and users through the API, and who may change them. */

let t: ApiTestApp;
beforeEach(async () => {
  t = await createApiTestApp();
});
afterEach(async () => {
  await t.close();
});

const PASSWORD = 'correct horse battery staple';
type Pair = { clientId: string; clientSecret: string };
const login = (pair: Pair) => t.call('POST', '/api/v1/auth/login', pair, { token: null });
const works = async (token: string) => (await t.call('GET', '/api/v1/auth/token', undefined, { token })).status === 200;
const accessToken = async (pair: Pair) => (await login(pair)).json['accessToken'] as string;

async function createIdentity(name: string, body: Record<string, unknown> = {}) {
  const res = await t.call('POST', '/api/v1/identities', { name, ...body });
  expect(res.status, res.text).toBe(201);
  return res.json as { clientId: string; clientSecret: string; secretId: string };
}

describe('identities', () => {
  it('shows a client secret once, at creation, with no-store, and never again', async () => {
    const created = await createIdentity('ci', { policies: ['developer'] });
    expect(created.clientSecret).toMatch(/^kbs_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    const secretPart = created.clientSecret.split('.')[1] as string;
    for (const path of ['/api/v1/identities', '/api/v1/identities/ci', '/api/v1/identities/ci/secrets']) {
      expect((await t.call('GET', path)).text).not.toContain(secretPart);
    }
    const audit = await t.services.audit.listAudit({ action: 'identity.create' });
    expect(JSON.stringify(audit)).not.toContain(secretPart);
  });

  it('rotates a client secret without downtime: both work, then the old one and its tokens stop', async () => {
    const first = await createIdentity('ci');
    const added = await t.call('POST', '/api/v1/identities/ci/secrets', { description: 'rotation' });
    expect(added.status).toBe(201);
    const second = { clientId: first.clientId, clientSecret: added.json['clientSecret'] as string };
    const oldToken = await accessToken(first);
    const newToken = await accessToken(second);
    expect((await t.call('DELETE', `/api/v1/identities/ci/secrets/${first.secretId}`)).status).toBe(204);
    expectError(await login(first), 'UNAUTHENTICATED', 'invalid client id or secret');
    expect(await works(oldToken)).toBe(false);
    expect(await works(newToken)).toBe(true);
    expect(await works(await accessToken(second))).toBe(true);
  });

  it('expires a client secret created with a TTL', async () => {
    const created = await createIdentity('ci', { secretTtl: 3600 });
    expect(await works(await accessToken(created))).toBe(true);
    t.clock.tick(3600_000);
    expectError(await login(created), 'UNAUTHENTICATED');
  });

  it('revokes every token of an identity that is disabled or deleted', async () => {
    const created = await createIdentity('ci');
    const token = await accessToken(created);
    const disabled = await t.call('PATCH', '/api/v1/identities/ci', { disabled: true });
    expect(disabled.json['identity']['disabled']).toBe(true);
    expect(await works(token)).toBe(false);
    expectError(await login(created), 'UNAUTHENTICATED');
    await t.call('PATCH', '/api/v1/identities/ci', { disabled: false });
    const again = await accessToken(created);
    expect((await t.call('DELETE', '/api/v1/identities/ci')).status).toBe(204);
    expect(await works(again)).toBe(false);
  });
});

describe('static tokens', () => {
  it('lists name, creator, last use and last address, and never the token', async () => {
    const created = await t.call('POST', '/api/v1/tokens', { name: 'deploy', policies: ['developer'], ttl: 86400 });
    expect(created.status).toBe(201);
    const token = created.json['token'] as string;
    t.clock.tick(5_000);
    const env = { incoming: { socket: { remoteAddress: '203.0.113.9' } } };
    await t.app.request('/api/v1/projects', { headers: { authorization: `Bearer ${token}` } }, env);
    const list = await t.call('GET', '/api/v1/tokens');
    expect(list.text).not.toContain(token.split('.')[1]);
    const deploy = listIn<Record<string, unknown>>(list, 'tokens').find((x) => x['name'] === 'deploy');
    expect(deploy).toMatchObject({
      createdBy: 'token:admin',
      expiresAt: '2026-01-02T00:00:00.000Z',
      lastUsedAt: '2026-01-01T00:00:05.000Z',
      lastIp: '203.0.113.9',
    });
    expect((await t.call('GET', `/api/v1/tokens/${created.json['id']}`)).json['policies']).toEqual(['developer']);
  });

  it('stops working the moment it is revoked', async () => {
    const created = (await t.call('POST', '/api/v1/tokens', { name: 'deploy' })).json as { token: string; id: string };
    expect(await works(created.token)).toBe(true);
    expect((await t.call('DELETE', `/api/v1/tokens/${created.id}`)).status).toBe(204);
    expect(await works(created.token)).toBe(false);
    expect(listIn(await t.call('GET', '/api/v1/tokens'), 'tokens')).toHaveLength(1);
  });

  it('is not created at all when one of its policies does not exist', async () => {
    expectError(await t.call('POST', '/api/v1/tokens', { name: 'x', policies: ['developer', 'nope'] }), 'NOT_FOUND');
    expect(listIn(await t.call('GET', '/api/v1/tokens'), 'tokens')).toHaveLength(1);
  });
});

describe('who may change access', () => {
  async function session(name: string, policies: string[] = []) {
    await t.services.users.create({ name, password: PASSWORD, policies }, 'admin');
    return (await t.call('POST', '/api/v1/auth/user-login', { name, password: PASSWORD })).json['token'] as string;
  }

  it("lets a user change their own password, not disable themselves or touch someone else's", async () => {
    const alice = await session('alice');
    await session('bob');
    const patch = (name: string, body: unknown) => t.call('PATCH', `/api/v1/users/${name}`, body, { token: alice });
    expectError(await patch('bob', { password: 'alice owns bob now' }), 'FORBIDDEN');
    expectError(await patch('alice', { disabled: false }), 'FORBIDDEN');
    expectError(await patch('alice', { password: 'a brand new passphrase', disabled: false }), 'FORBIDDEN');
    // A session alone is not enough: the current password is asked for.
    expectError(
      await patch('alice', { password: 'a brand new passphrase' }),
      'UNAUTHENTICATED',
      'the current password is wrong',
    );
    expectError(
      await patch('alice', { password: 'a brand new passphrase', currentPassword: 'not it at all' }),
      'UNAUTHENTICATED',
    );
    expect((await patch('alice', { password: 'a brand new passphrase', currentPassword: PASSWORD })).status).toBe(200);
    expect((await t.call('POST', '/api/v1/auth/user-login', { name: 'bob', password: PASSWORD })).status).toBe(200);
  });

  it("asks an admin for their own current password too, not for someone else's", async () => {
    const root = await session('root', ['admin']);
    await session('carol');
    const patch = (name: string, body: unknown) => t.call('PATCH', `/api/v1/users/${name}`, body, { token: root });
    expect((await patch('carol', { password: 'another new passphrase' })).status).toBe(200);
    expectError(await patch('root', { password: 'a brand new passphrase' }), 'UNAUTHENTICATED', /current password/);
    // (The change ends root's sessions, this one included.)
    expect((await patch('root', { password: 'a brand new passphrase', currentPassword: PASSWORD })).status).toBe(200);
  });

  it('limits guesses at the current password like logins', async () => {
    const alice = await session('alice');
    let status = 0;
    for (let i = 0; i < 12 && status !== 429; i++) {
      status = (
        await t.call(
          'PATCH',
          '/api/v1/users/alice',
          { password: 'a brand new passphrase', currentPassword: `guess number ${i}` },
          { token: alice },
        )
      ).status;
    }
    expect(status).toBe(429);
  });

  it('keeps a project admin from granting itself more', async () => {
    await t.services.policies.put(
      'shop-admin',
      { role: 'project-admin', scope: { project: 'shop', env: '*', path: '/' } },
      'test',
    );
    const { id, token } = await t.services.tokens.create(
      { name: 'shop', createdBy: 'test', policies: ['shop-admin'] },
      { attach: t.services.policies.attach },
    );
    expectError(await t.call('POST', `/api/v1/tokens/${id}/policies`, { policies: ['admin'] }, { token }), 'FORBIDDEN');
    expectError(await t.call('POST', '/api/v1/tokens', { name: 'x', policies: ['admin'] }, { token }), 'FORBIDDEN');
    expectError(
      await t.call(
        'PUT',
        '/api/v1/policies/shop-admin',
        { rules: [{ projects: ['*'], capabilities: ['admin'] }] },
        { token },
      ),
      'FORBIDDEN',
    );
    expect(await t.services.policies.namesFor('token', id)).toEqual(['shop-admin']);
  });

  it('keeps a token with admin over every project, but only in staging, from creating an admin user', async () => {
    const rules = [
      { projects: ['*'], environments: ['staging'], capabilities: ['read', 'list', 'write', 'delete', 'admin'] },
    ];
    await t.services.policies.put('staging-admin', { rules }, 'test');
    const token = await t.tokenWith(['staging-admin']);
    const res = await t.call('POST', '/api/v1/users', { name: 'eve', password: PASSWORD, admin: true }, { token });
    expect(res.status, `UNEXPECTED ALLOW: ${res.text}`).toBe(403);
    expect((await t.call('GET', '/api/v1/users')).json['users']).toEqual([]);
  });
});

describe('recursive reads and listings', () => {
  let token: string;
  beforeEach(async () => {
    await t.services.projects.create({ slug: 'shop' });
    for (const path of ['/', '/backend', '/backend/vault', '/frontend']) {
      const scope = { project: 'shop', env: 'dev', path };
      await t.services.secrets.applyChanges(scope, [{ name: 'K', value: t.canary() }], { actor: 'test' });
    }
    const read = ['read', 'list'];
    await t.services.policies.put(
      'no-vault',
      {
        rules: [
          { projects: ['shop'], environments: ['dev'], paths: ['/**'], capabilities: read },
          {
            effect: 'deny',
            projects: ['shop'],
            environments: ['dev'],
            paths: ['/backend/vault/**'],
            capabilities: read,
          },
        ],
      },
      'test',
    );
    token = await t.tokenWith(['no-vault'], 'no-vault');
  });
  const paths = (res: { json: Record<string, any> }, key: string) =>
    (res.json[key] as { path: string }[]).map((f) => f.path);

  it('serve every allowed folder and leave out the denied one', async () => {
    const bulk = await t.call('GET', '/api/v1/secrets?project=shop&env=dev&path=/&recursive=true', undefined, {
      token,
    });
    expect(paths(bulk, 'folders')).toEqual(['/', '/backend', '/frontend']);
    const folders = await t.call('GET', '/api/v1/projects/shop/environments/dev/folders?path=/', undefined, { token });
    expect(paths(folders, 'folders')).toEqual(['/', '/backend', '/frontend']);
    const list = await t.call(
      'GET',
      '/api/v1/projects/shop/environments/dev/secrets?path=/&recursive=true',
      undefined,
      {
        token,
      },
    );
    expect(new Set(paths(list, 'secrets'))).toEqual(new Set(['/', '/backend', '/frontend']));
  });

  it('refuse a recursive read rooted in the denied folder as forbidden, and record it as denied', async () => {
    const res = await t.call(
      'GET',
      '/api/v1/secrets?project=shop&env=dev&path=/backend/vault&recursive=true',
      undefined,
      {
        token,
      },
    );
    const [entry] = await t.services.audit.listAudit({ actor: 'token:no-vault', limit: 1 });
    expect(res.status, res.text).toBe(403);
    expect(entry?.outcome).toBe('denied');
  });

  it('answer a project the caller cannot see as forbidden, whether it exists or not', async () => {
    const other = await t.tokenWith([], 'nothing');
    for (const project of ['shop', 'nope']) {
      for (const path of [`/api/v1/projects/${project}`, `/api/v1/projects/${project}/environments/dev/secrets`]) {
        expectError(await t.call('GET', path, undefined, { token: other }), 'FORBIDDEN');
      }
    }
  });
});
