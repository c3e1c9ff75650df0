import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appError } from '../../test-support/service-fixture.js';
import { createTestApp, type TestApp } from '../../test-support/test-app.js';
import { decide } from './policy-engine.js';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => {
  await t.close();
});

const readShop = [{ projects: ['shop'], capabilities: ['read'] }];
const readsShop = async (tokenId: string) =>
  decide(await t.services.policies.policiesFor('token', tokenId), {
    capability: 'read',
    project: 'shop',
    env: 'dev',
    path: '/',
  }).allowed;

async function tokenWithPolicy(name: string) {
  const { id } = await t.services.tokens.create(
    { name: 'p', createdBy: 'test', policies: [name] },
    { attach: t.services.policies.attach },
  );
  return id;
}

describe('built-in policies', () => {
  it.each(['admin', 'developer'])('refuses to replace or delete %s', async (name) => {
    expect((await appError(t.services.policies.put(name, { rules: readShop }, 'test'))).code).toBe('CONFLICT');
    expect((await appError(t.services.policies.remove(name))).code).toBe('CONFLICT');
    expect((await t.services.policies.get(name)).builtin).toBe(true);
  });

  it('puts back the built-in rules on start when the stored ones were changed behind its back', async () => {
    const before = await t.services.policies.get('developer');
    await sql`UPDATE policies SET rules = '[]' WHERE name = 'developer'`.execute(t.store.db);
    await t.services.policies.ensureBuiltins();
    expect((await t.services.policies.get('developer')).rules).toEqual(before.rules);
  });
});

describe('put', () => {
  it('applies a changed policy to the next decision for every holder', async () => {
    await t.services.policies.put('p', { rules: readShop }, 'alice');
    const id = await tokenWithPolicy('p');
    expect(await readsShop(id)).toBe(true);
    await t.services.policies.put('p', { rules: [{ projects: ['other'], capabilities: ['read'] }] }, 'alice');
    expect(await readsShop(id)).toBe(false);
    expect((await t.services.policies.get('p')).updatedBy).toBe('alice');
  });

  it('makes a policy from a role template and a scope', async () => {
    const policy = await t.services.policies.put(
      'ci',
      { role: 'ci-reader', scope: { project: 'shop', env: 'prod', path: '/api' } },
      'test',
    );
    expect(policy.rules).toEqual([
      {
        effect: 'allow',
        projects: ['shop'],
        environments: ['prod'],
        paths: ['/api/**'],
        capabilities: ['read', 'list'],
      },
    ]);
    expect(policy.description).toMatch(/^ci-reader: /);
  });

  it('refuses an unknown role, a role without a scope, and invalid rules, storing nothing', async () => {
    const put = (input: Parameters<typeof t.services.policies.put>[1]) =>
      appError(t.services.policies.put('x', input, 't'));
    expect((await put({ role: 'root', scope: { project: 'a', env: 'b', path: '/' } })).message).toMatch(/unknown role/);
    // Names that exist on Object.prototype are not roles or built-ins.
    expect((await put({ role: 'toString', scope: { project: 'a', env: 'b', path: '/' } })).message).toMatch(
      /unknown role/,
    );
    expect((await put({ role: 'ci-reader' })).message).toMatch(/needs a project/);
    expect((await put({ rules: [{ projects: ['*'], capabilities: ['root'] }] })).code).toBe('INVALID_INPUT');
    expect((await put({ role: 'ci-reader', scope: { project: 'Shop!', env: 'dev', path: '/' } })).code).toBe(
      'INVALID_INPUT',
    );
    expect((await t.services.policies.list()).map((p) => p.name)).toEqual(['admin', 'developer']);
  });

  it('takes a policy named like an Object.prototype member as an ordinary one', async () => {
    await t.services.policies.put('constructor', { rules: readShop }, 'test');
    expect((await t.services.policies.get('constructor')).builtin).toBe(false);
    await t.services.policies.remove('constructor');
  });
});

describe('attachments', () => {
  it('refuses to attach a policy that does not exist', async () => {
    const error = await appError(t.services.policies.attach('token', 'some-id', ['nope']));
    expect(error.code).toBe('NOT_FOUND');
  });

  it('detaches a deleted policy from its holders, so a new policy of that name grants them nothing', async () => {
    await t.services.policies.put('p', { rules: [{ projects: ['other'], capabilities: ['read'] }] }, 'test');
    const id = await tokenWithPolicy('p');
    await t.services.policies.remove('p');
    await t.services.policies.put('p', { rules: readShop }, 'test');
    expect(await t.services.policies.namesFor('token', id)).toEqual([]);
    expect(await readsShop(id)).toBe(false);
  });
});
