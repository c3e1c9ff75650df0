import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Capability } from '../core/policy/policy-rules.js';
import { createApiTestApp, expectError, type ApiTestApp } from '../test-support/api-test-app.js';
import { DIRECT_ROUTES } from './direct-bulk-read.js';
import { isVaultPath } from './vault/vault-errors.js';
import {
  ROUTE_CATALOGUE,
  TARGET,
  VICTIM_RULES,
  type CatalogueFixture,
  type CatalogueRoute,
  type RouteAccess,
} from '../test-support/route-catalogue.js';
import { createTestApp } from '../test-support/test-app.js';

/*
 * The authorization matrix: every catalogued route × every kind of credential, each cell with the status the access
 * model gives it. The expectation comes from a declarative model of what each credential covers (below), not from
 * the policy engine, so a widening in the engine shows up here as an unexpected allow.
 */

const CREDENTIALS = [
  'no token',
  'malformed',
  'expired',
  'revoked',
  'wrong project',
  'wrong env',
  'wrong folder',
  'read-only',
  'correct', // last: on a destructive route it may remove what the other cells aim at
] as const;
type Credential = (typeof CREDENTIALS)[number];
const VIA = ['app', 'listener'] as const;
type Expected = 'unauthenticated' | 'forbidden' | 'allowed';

/** One allow rule: a project, an environment and a folder glob, each possibly `*` / `/**`. */
interface Grant {
  project: string;
  env: string;
  folder: string;
  capabilities: Capability[];
}

const ALL: Capability[] = ['read', 'list', 'write', 'delete', 'admin'];
const { project, env } = TARGET;
const WRONG_SCOPE: Record<'wrong project' | 'wrong env' | 'wrong folder' | 'read-only', Grant> = {
  'wrong project': { project: 'other', env: '*', folder: '/**', capabilities: ALL },
  'wrong env': { project, env: 'staging', folder: '/**', capabilities: ALL },
  'wrong folder': { project, env, folder: '/frontend/**', capabilities: ALL },
  'read-only': { project, env: '*', folder: '/**', capabilities: ['read', 'list'] },
};

/** The least a caller needs for the route (no policy at all for public and any-token routes). */
function correctGrant(access: RouteAccess): Grant | undefined {
  switch (access.kind) {
    case 'public':
    case 'authenticated':
      return undefined;
    case 'system-admin':
      return { project: '*', env: '*', folder: '/**', capabilities: ['admin'] };
    case 'project-visible':
      return { project, env, folder: `${TARGET.folder}/**`, capabilities: ['list'] };
    case 'project-admin':
      return { project, env: '*', folder: '/**', capabilities: ['admin'] };
    case 'env-admin':
      return { project, env, folder: '/**', capabilities: ['admin'] };
    case 'env-list':
      return { project, env, folder: '/**', capabilities: ['list'] };
    case 'folder':
      return { project, env, folder: `${TARGET.folder}/**`, capabilities: access.capabilities };
  }
}

/** Whether a grant covers what a route needs: a rule narrower than the route's scope never does. */
function covers(grant: Grant | undefined, access: RouteAccess): boolean {
  if (access.kind === 'public' || access.kind === 'authenticated') return true;
  if (grant === undefined) return false;
  const projectOk = grant.project === '*' || grant.project === project;
  const envOk = grant.env === '*' || grant.env === env;
  const folderOk = grant.folder === '/**' || grant.folder === `${TARGET.folder}/**`;
  const can = (c: Capability) => grant.capabilities.includes(c);
  switch (access.kind) {
    case 'system-admin':
      return grant.project === '*' && grant.env === '*' && grant.folder === '/**' && can('admin');
    case 'project-visible':
      return projectOk;
    case 'project-admin':
      return projectOk && grant.env === '*' && grant.folder === '/**' && can('admin');
    case 'env-admin':
      return projectOk && envOk && grant.folder === '/**' && can('admin');
    case 'env-list':
      return projectOk && envOk && grant.folder === '/**' && can('list');
    case 'folder':
      return projectOk && envOk && folderOk && access.capabilities.every(can);
  }
}

function grantFor(route: CatalogueRoute, credential: Credential): Grant | undefined {
  return credential in WRONG_SCOPE ? WRONG_SCOPE[credential as keyof typeof WRONG_SCOPE] : correctGrant(route.access);
}

function expected(route: CatalogueRoute, credential: Credential): Expected {
  if (route.access.kind === 'public') return 'allowed';
  if (['no token', 'malformed', 'expired', 'revoked'].includes(credential)) return 'unauthenticated';
  return covers(grantFor(route, credential), route.access) ? 'allowed' : 'forbidden';
}

async function seed(t: ApiTestApp, values: string[]): Promise<CatalogueFixture> {
  const { projects, secrets, policies, identities, users, tokens } = t.services;
  await projects.create({ slug: project });
  await projects.create({ slug: 'other' });
  const backend = { project, env, path: TARGET.folder };
  values.push(t.canary(), t.canary());
  for (const value of values) await secrets.applyChanges(backend, [{ name: 'API_KEY', value }], { actor: 'test' });
  await secrets.applyChanges({ ...backend, path: '/frontend' }, [{ name: 'UI', value: 'ui' }], { actor: 'test' });
  await policies.put('victim', { rules: VICTIM_RULES }, 'test');
  const identity = await identities.create('ci', { policies: ['victim'] }, 'test');
  const userPassword = 'correct horse battery staple';
  await users.create({ name: 'alice', password: userPassword, policies: ['victim'] }, 'test');
  const victim = await tokens.create(
    { name: 'victim', createdBy: 'test', policies: ['victim'] },
    { attach: policies.attach },
  );
  return {
    clientId: identity.clientId,
    clientSecret: identity.clientSecret,
    clientSecretId: identity.secretId,
    userName: 'alice',
    userPassword,
    tokenId: victim.id,
  };
}

/** A token per credential kind; expired and revoked ones hold the correct grant, so only that stops them. */
async function credentialsFor(t: ApiTestApp, route: CatalogueRoute): Promise<Record<Credential, string | null>> {
  let n = 0;
  async function tokenFor(grant: Grant | undefined, ttlSeconds?: number) {
    const names: string[] = [];
    if (grant !== undefined) {
      const name = `matrix-${n++}`;
      const rule = { projects: [grant.project], environments: [grant.env], paths: [grant.folder] };
      await t.services.policies.put(name, { rules: [{ ...rule, capabilities: grant.capabilities }] }, 'test');
      names.push(name);
    }
    return t.services.tokens.create(
      { name: `matrix-${n++}`, createdBy: 'test', ttlSeconds, policies: names },
      { attach: t.services.policies.attach },
    );
  }
  const correct = correctGrant(route.access);
  const expiring = await tokenFor(correct, 60);
  const revoked = await tokenFor(correct);
  await t.services.tokens.revoke(revoked.id);
  const result = {
    'no token': null,
    malformed: 'not-a-keybox-token',
    expired: expiring.token,
    revoked: revoked.token,
    'wrong project': (await tokenFor(WRONG_SCOPE['wrong project'])).token,
    'wrong env': (await tokenFor(WRONG_SCOPE['wrong env'])).token,
    'wrong folder': (await tokenFor(WRONG_SCOPE['wrong folder'])).token,
    'read-only': (await tokenFor(WRONG_SCOPE['read-only'])).token,
    correct: (await tokenFor(correct)).token,
  };
  t.clock.tick(61_000);
  return result;
}

describe('the route catalogue', () => {
  it('lists every route the app registers, once, and no route it does not', async () => {
    const t = await createTestApp();
    const registered = t.app.routes
      .filter((r) => !(r.method === 'ALL' && r.path.endsWith('*'))) // middleware
      .map((r) => `${r.method} ${r.path}`);
    await t.close();
    const catalogued = ROUTE_CATALOGUE.map((r) => `${r.method} ${r.path}`);
    expect(new Set(catalogued).size, 'a route is catalogued twice').toBe(catalogued.length);
    expect(
      registered.filter((r) => !catalogued.includes(r)),
      'routes missing from route-catalogue.ts',
    ).toEqual([]);
    expect(
      catalogued.filter((r) => !registered.includes(r)),
      'catalogued routes the app does not have',
    ).toEqual([]);
  });

  it('models the correct credential as allowed and every narrower one as refused', () => {
    for (const route of ROUTE_CATALOGUE) {
      expect(expected(route, 'correct'), `${route.method} ${route.path}`).toBe('allowed');
      const needsMore =
        route.access.kind === 'folder'
          ? route.access.capabilities.some((c) => c !== 'read' && c !== 'list')
          : ['project-admin', 'env-admin', 'system-admin'].includes(route.access.kind);
      if (needsMore) expect(expected(route, 'read-only'), `${route.method} ${route.path}`).toBe('forbidden');
    }
  });
});

for (const route of ROUTE_CATALOGUE) {
  describe(`${route.method} ${route.path}`, () => {
    let t: ApiTestApp;
    let fixture: CatalogueFixture;
    let tokens: Record<Credential, string | null>;
    const values: string[] = [];
    beforeAll(async () => {
      t = await createApiTestApp();
      fixture = await seed(t, values);
      tokens = await credentialsFor(t, route);
    });
    afterAll(async () => {
      // No audit entry holds a secret value (error bodies are checked by `call` itself).
      const audit = JSON.stringify(await t.services.audit.listAudit({ limit: 1000 }));
      for (const value of values) expect(audit).not.toContain(value);
      await t.close();
    });

    // A route the listener answers itself (direct-bulk-read.ts) is also asked over a real port.
    const ways = DIRECT_ROUTES.some((r) => r === `${route.method} ${route.path}`) ? VIA : VIA.slice(0, 1);
    for (const [credential, via] of CREDENTIALS.flatMap((cr) => ways.map((w) => [cr, w] as const))) {
      const want = expected(route, credential);
      const title = { unauthenticated: 'answers 401', forbidden: 'answers 403', allowed: 'lets through' }[want];
      it(`${title}: ${credential}${via === 'app' ? '' : ' (through the listener)'}`, async () => {
        const sample = route.sample(fixture);
        const vault = isVaultPath(route.path);
        const way = via === 'app' ? t : await t.listen();
        const call = vault ? way.callVault : way.call;
        const token = tokens[credential];
        // Vault clients send X-Vault-Token (what the listener's direct Vault read answers to).
        const init = vault
          ? { token: null, headers: { ...sample.headers, ...(token === null ? {} : { 'x-vault-token': token }) } }
          : { token, ...(sample.headers === undefined ? {} : { headers: sample.headers }) };
        const res = await call(route.method, sample.path, sample.body, init);
        const cell = `${credential} × ${route.method} ${sample.path} answered ${res.status} ${res.text.slice(0, 160)}`;
        if (vault && want !== 'allowed') {
          // Vault answers a bad token and a policy refusal alike: 403, "permission denied".
          expect(res.status, `UNEXPECTED ALLOW: ${cell}`).toBe(403);
          expect(res.json['errors'][0]).toBe('permission denied');
        } else if (want === 'unauthenticated') {
          expect(res.status, `UNEXPECTED ALLOW: ${cell}`).toBe(401);
          expectError(res, 'UNAUTHENTICATED');
        } else if (want === 'forbidden') {
          expect(res.status, `UNEXPECTED ALLOW: ${cell}`).toBe(403);
          expectError(res, 'FORBIDDEN');
        } else {
          expect([401, 403], `unexpected refusal: ${cell}`).not.toContain(res.status);
          expect(res.status, cell).toBeLessThan(500);
        }
      });
    }
  });
}
