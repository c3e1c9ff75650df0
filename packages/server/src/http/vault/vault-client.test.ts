import { randomBytes } from 'node:crypto';
import nodeVault from 'node-vault';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp } from '../../test-support/test-app.js';

/*
 * A real Vault client (node-vault 0.12, as an application would use it) against the server `keybox server` runs,
 * over a real port. node-vault sends LIST as a custom HTTP verb unless told not to; Node's HTTP parser refuses that
 * verb, so listings use `noCustomHTTPVerbs` (GET ?list=1), as docs/vault-api.md tells users.
 */

let t: Awaited<ReturnType<typeof createTestApp>>;
let endpoint: string;
beforeEach(async () => {
  t = await createTestApp();
  await t.services.projects.create({ slug: 'shop' });
  endpoint = (await t.listen()).url;
});
afterEach(async () => {
  await t.close();
});

const client = (token?: string) =>
  nodeVault({ apiVersion: 'v1', endpoint, noCustomHTTPVerbs: true, ...(token === undefined ? {} : { token }) });

describe('node-vault against Keybox', () => {
  it('checks health, writes, reads, patches, lists and deletes KV v2 secrets', async () => {
    const vault = client(t.token);
    expect(await vault.health()).toMatchObject({ initialized: true, sealed: false });

    const value = `v-${randomBytes(8).toString('hex')}`;
    const written = await vault.write('shop/data/prod/payments', { data: { STRIPE_KEY: value, REGION: 'eu' } });
    expect(written.data.version).toBe(1);

    const read = await vault.read('shop/data/prod/payments');
    expect(read.data.data).toEqual({ STRIPE_KEY: value, REGION: 'eu' });
    expect(read.data.metadata.version).toBe(1);

    await vault.update('shop/data/prod/payments', { data: { REGION: null, TIMEOUT: '30' } });
    expect((await vault.read('shop/data/prod/payments')).data.data).toEqual({ STRIPE_KEY: value, TIMEOUT: '30' });
    expect((await vault.read('shop/data/prod/payments?version=1')).data.data).toEqual({
      STRIPE_KEY: value,
      REGION: 'eu',
    });

    expect((await vault.list('shop/metadata/prod')).data.keys).toEqual(['payments']);
    expect((await vault.read('shop/metadata/prod/payments')).data.current_version).toBe(2);

    await vault.delete('shop/data/prod/payments');
    await expect(vault.read('shop/data/prod/payments')).rejects.toMatchObject({ response: { statusCode: 404 } });
  });

  it('fails a stale check-and-set with the message Vault gives', async () => {
    const vault = client(t.token);
    await vault.write('shop/data/dev', { data: { A: 'a' }, options: { cas: 0 } });
    await expect(vault.write('shop/data/dev', { data: { A: 'b' }, options: { cas: 0 } })).rejects.toThrow(
      'check-and-set parameter did not match the current version',
    );
  });

  it('logs in with AppRole, then reads with the token it got, renews it and revokes it', async () => {
    await t.services.secrets.applyChanges({ project: 'shop', env: 'prod', path: '/api' }, [{ name: 'K', value: 'k' }], {
      actor: 't',
    });
    await t.services.policies.put(
      'api-reader',
      { rules: [{ projects: ['shop'], environments: ['prod'], paths: ['/api/**'], capabilities: ['read'] }] },
      't',
    );
    const identity = await t.services.identities.create(
      'web',
      { tokenTtl: 600, tokenMaxTtl: 3600, policies: ['api-reader'] },
      't',
    );
    const vault = client();
    const login = await vault.approleLogin({ role_id: identity.clientId, secret_id: identity.clientSecret });
    expect(login.auth).toMatchObject({ lease_duration: 600, renewable: true, policies: ['api-reader'] });
    // node-vault keeps the token it got (tokenSource) and sends it as X-Vault-Token from now on.
    expect((await vault.read('shop/data/prod/api')).data.data).toEqual({ K: 'k' });
    await expect(vault.read('shop/data/dev/api')).rejects.toThrow('permission denied');
    expect((await vault.tokenLookupSelf()).data).toMatchObject({ ttl: 600, type: 'service' });
    expect((await vault.tokenRenewSelf()).auth.lease_duration).toBe(600);
    await vault.tokenRevokeSelf();
    await expect(vault.read('shop/data/prod/api')).rejects.toMatchObject({ response: { statusCode: 403 } });

    await expect(client().approleLogin({ role_id: identity.clientId, secret_id: 'wrong' })).rejects.toThrow(
      'invalid role or secret ID',
    );
  });

  it('hands out credentials as a trusted orchestrator would: role id, a fresh secret id, a token', async () => {
    await t.services.secrets.applyChanges({ project: 'shop', env: 'prod', path: '/' }, [{ name: 'K', value: 'k' }], {
      actor: 't',
    });
    await t.services.policies.put(
      'prod-reader',
      { rules: [{ projects: ['shop'], environments: ['prod'], paths: ['/**'], capabilities: ['read'] }] },
      't',
    );
    await t.services.identities.create('worker', { policies: ['prod-reader'] }, 't');
    const admin = client(t.token);
    const { role_id: roleId } = (await admin.getApproleRoleId({ role_name: 'worker' })).data;
    const minted = (await admin.getApproleRoleSecret({ role_name: 'worker' })).data;
    const app = client();
    await app.approleLogin({ role_id: roleId, secret_id: minted.secret_id });
    expect((await app.read('shop/data/prod')).data.data).toEqual({ K: 'k' });
    await admin.approleSecretAccessorDestroy({ role_name: 'worker', secret_id_accessor: minted.secret_id_accessor });
    await expect(app.read('shop/data/prod')).rejects.toMatchObject({ response: { statusCode: 403 } });

    const created = await admin.tokenCreate({ policies: ['prod-reader'], ttl: '10m' });
    expect(created.auth).toMatchObject({ lease_duration: 600, policies: ['prod-reader'] });
    // node-vault now sends the token it created (tokenSource).
    expect((await admin.read('shop/data/prod')).data.data).toEqual({ K: 'k' });
    await expect(admin.write('shop/data/prod', { data: { K: 'x' } })).rejects.toThrow('permission denied');
  });

  it('gets a 400 from Node for the LIST verb, which is why listings need noCustomHTTPVerbs', async () => {
    const vault = nodeVault({ apiVersion: 'v1', endpoint, token: t.token });
    await vault.write('shop/data/dev/api', { data: { A: 'a' } });
    await expect(vault.list('shop/metadata/dev')).rejects.toMatchObject({ response: { statusCode: 400 } });
  });
});
