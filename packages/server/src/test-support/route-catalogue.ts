import type { Capability } from '../core/policy/policy-rules.js';

/*
 * Every route the app registers, as data: what it needs from the caller, and one concrete request that succeeds for
 * a caller that has exactly that. The authorization matrix (http/authz-matrix.test.ts) is generated from this list,
 * and a guard test there fails when the app registers a route that is missing here.
 *
 * Every sample targets one scope, TARGET: project `shop`, environment `dev`, folder `/backend`.
 */

export const TARGET = { project: 'shop', env: 'dev', folder: '/backend' } as const;

export type RouteAccess =
  | { kind: 'public' }
  /** Any valid token, whatever its policies (a token acting on itself, the filtered project list). */
  | { kind: 'authenticated' }
  /** Any allow rule naming the project (reading the project and its environment list). */
  | { kind: 'project-visible' }
  /** `admin` on the whole project: every environment, every folder. */
  | { kind: 'project-admin' }
  /** `admin` on the whole environment TARGET.env: every folder. */
  | { kind: 'env-admin' }
  /** `list` on the whole environment TARGET.env: every folder. */
  | { kind: 'env-list' }
  /** These capabilities on the folder TARGET.folder. */
  | { kind: 'folder'; capabilities: Capability[] }
  /** `admin` on everything (project `*`, environment `*`, `/**`). */
  | { kind: 'system-admin' };

/** Ids and credentials that exist in the store the samples run against. */
export interface CatalogueFixture {
  clientId: string;
  clientSecret: string;
  clientSecretId: string;
  userName: string;
  userPassword: string;
  /** A static token with the `victim` policy, for the token routes. */
  tokenId: string;
}

export interface RouteSample {
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface CatalogueRoute {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path template exactly as the app registers it. */
  path: string;
  access: RouteAccess;
  sample(f: CatalogueFixture): RouteSample;
}

const env = `/api/v1/projects/${TARGET.project}/environments/${TARGET.env}`;
const at = `path=${encodeURIComponent(TARGET.folder)}`;
const folder = (...capabilities: Capability[]): RouteAccess => ({ kind: 'folder', capabilities });
const system: RouteAccess = { kind: 'system-admin' };
const victimRules = [{ projects: ['other'], capabilities: ['read'] }];

function route(method: CatalogueRoute['method'], path: string, access: RouteAccess, sample: CatalogueRoute['sample']) {
  return { method, path, access, sample };
}

export const ROUTE_CATALOGUE: CatalogueRoute[] = [
  route('GET', '/healthz', { kind: 'public' }, () => ({ path: '/healthz' })),
  route('GET', '/api/secrets/status', { kind: 'public' }, () => ({ path: '/api/secrets/status' })),
  route('PUT', '/api/v1/projects/:project/environments/:env/manifest', { kind: 'env-admin' }, () => ({
    path: `${env}/manifest`,
    body: { version: 1, items: { API_KEY: { description: 'the API key' } } },
  })),
  route('GET', '/api/v1/projects/:project/environments/:env/manifest', { kind: 'env-list' }, () => ({
    path: `${env}/manifest`,
  })),

  // Logins and a token acting on itself
  route('POST', '/api/v1/auth/login', { kind: 'public' }, (f) => ({
    path: '/api/v1/auth/login',
    body: { clientId: f.clientId, clientSecret: f.clientSecret },
  })),
  route('POST', '/api/v1/auth/user-login', { kind: 'public' }, (f) => ({
    path: '/api/v1/auth/user-login',
    body: { name: f.userName, password: f.userPassword },
  })),
  // The web UI's session: started with a password or a token (and the CSRF header), ended by any caller.
  route('POST', '/api/v1/auth/session', { kind: 'public' }, (f) => ({
    path: '/api/v1/auth/session',
    body: { name: f.userName, password: f.userPassword },
    headers: { 'x-keybox-csrf': '1' },
  })),
  route('DELETE', '/api/v1/auth/session', { kind: 'authenticated' }, () => ({ path: '/api/v1/auth/session' })),
  route('GET', '/api/v1/auth/token', { kind: 'authenticated' }, () => ({ path: '/api/v1/auth/token' })),
  route('POST', '/api/v1/auth/token/renew', { kind: 'authenticated' }, () => ({ path: '/api/v1/auth/token/renew' })),
  route('POST', '/api/v1/auth/token/revoke', { kind: 'authenticated' }, () => ({ path: '/api/v1/auth/token/revoke' })),

  // Secrets and folders
  route('GET', '/api/v1/secrets', folder('read'), () => ({
    path: `/api/v1/secrets?project=${TARGET.project}&env=${TARGET.env}&${at}`,
  })),
  // wait=0: answer at once rather than long-poll on the real timer.
  route('GET', '/api/v1/secrets/watch', folder('read'), () => ({
    path: `/api/v1/secrets/watch?project=${TARGET.project}&env=${TARGET.env}&${at}&wait=0`,
  })),
  route('GET', '/api/v1/projects/:project/environments/:env/secrets', folder('list'), () => ({
    path: `${env}/secrets?${at}`,
  })),
  route('POST', '/api/v1/projects/:project/environments/:env/secrets', folder('write'), () => ({
    path: `${env}/secrets?${at}`,
    body: { changes: [{ name: 'ADDED', value: 'added' }] },
  })),
  route('GET', '/api/v1/projects/:project/environments/:env/secrets/:name', folder('read'), () => ({
    path: `${env}/secrets/API_KEY?${at}`,
  })),
  route('PUT', '/api/v1/projects/:project/environments/:env/secrets/:name', folder('write'), () => ({
    path: `${env}/secrets/API_KEY?${at}`,
    body: { value: 'v3' },
  })),
  route('DELETE', '/api/v1/projects/:project/environments/:env/secrets/:name', folder('delete'), () => ({
    path: `${env}/secrets/API_KEY?${at}`,
  })),
  route('GET', '/api/v1/projects/:project/environments/:env/secrets/:name/versions', folder('list'), () => ({
    path: `${env}/secrets/API_KEY/versions?${at}`,
  })),
  route('POST', '/api/v1/projects/:project/environments/:env/secrets/:name/rollback', folder('write'), () => ({
    path: `${env}/secrets/API_KEY/rollback?${at}`,
    body: { toVersion: 1 },
  })),
  route(
    'POST',
    '/api/v1/projects/:project/environments/:env/secrets/:name/versions/:version/destroy',
    folder('delete'),
    () => ({ path: `${env}/secrets/API_KEY/versions/1/destroy?${at}` }),
  ),
  route('GET', '/api/v1/projects/:project/environments/:env/folders', folder('list'), () => ({
    path: `${env}/folders?${at}`,
  })),
  route('GET', '/api/v1/projects/:project/environments/:env/folders/history', folder('list'), () => ({
    path: `${env}/folders/history?${at}`,
  })),
  route('POST', '/api/v1/projects/:project/environments/:env/folders/rollback', folder('write', 'delete'), () => ({
    path: `${env}/folders/rollback?${at}`,
    body: { toRevision: 1 },
  })),

  // Projects and environments
  route('GET', '/api/v1/projects', { kind: 'authenticated' }, () => ({ path: '/api/v1/projects' })),
  // Creating the project that exists: the right caller gets CONFLICT, anyone else must get FORBIDDEN.
  route('POST', '/api/v1/projects', { kind: 'project-admin' }, () => ({
    path: '/api/v1/projects',
    body: { slug: TARGET.project },
  })),
  route('GET', '/api/v1/projects/:project', { kind: 'project-visible' }, () => ({
    path: `/api/v1/projects/${TARGET.project}`,
  })),
  route('PATCH', '/api/v1/projects/:project', { kind: 'project-admin' }, () => ({
    path: `/api/v1/projects/${TARGET.project}`,
    body: { name: 'Renamed' },
  })),
  route('DELETE', '/api/v1/projects/:project', { kind: 'project-admin' }, () => ({
    path: `/api/v1/projects/${TARGET.project}?force=true`,
  })),
  route('GET', '/api/v1/projects/:project/environments', { kind: 'project-visible' }, () => ({
    path: `/api/v1/projects/${TARGET.project}/environments`,
  })),
  route('POST', '/api/v1/projects/:project/environments', { kind: 'env-admin' }, () => ({
    path: `/api/v1/projects/${TARGET.project}/environments`,
    body: { slug: TARGET.env },
  })),
  route('PATCH', '/api/v1/projects/:project/environments/:env', { kind: 'env-admin' }, () => ({
    path: env,
    body: { name: 'Renamed' },
  })),
  route('DELETE', '/api/v1/projects/:project/environments/:env', { kind: 'env-admin' }, () => ({
    path: `${env}?force=true`,
  })),

  // The audit log
  route('GET', '/api/v1/audit', system, () => ({ path: '/api/v1/audit' })),
  route('GET', '/api/v1/audit/verify', system, () => ({ path: '/api/v1/audit/verify' })),

  // Backups
  route('POST', '/api/v1/sys/backup', system, () => ({ path: '/api/v1/sys/backup' })),

  // Identities
  route('GET', '/api/v1/identities', system, () => ({ path: '/api/v1/identities' })),
  route('POST', '/api/v1/identities', system, () => ({ path: '/api/v1/identities', body: { name: 'new-ci' } })),
  route('GET', '/api/v1/identities/:name', system, () => ({ path: '/api/v1/identities/ci' })),
  route('PATCH', '/api/v1/identities/:name', system, () => ({
    path: '/api/v1/identities/ci',
    body: { description: 'changed' },
  })),
  route('DELETE', '/api/v1/identities/:name', system, () => ({ path: '/api/v1/identities/ci' })),
  route('GET', '/api/v1/identities/:name/secrets', system, () => ({ path: '/api/v1/identities/ci/secrets' })),
  route('POST', '/api/v1/identities/:name/secrets', system, () => ({
    path: '/api/v1/identities/ci/secrets',
    body: {},
  })),
  route('DELETE', '/api/v1/identities/:name/secrets/:id', system, (f) => ({
    path: `/api/v1/identities/ci/secrets/${f.clientSecretId}`,
  })),

  // Users
  route('GET', '/api/v1/users', system, () => ({ path: '/api/v1/users' })),
  route('POST', '/api/v1/users', system, () => ({
    path: '/api/v1/users',
    body: { name: 'bob', password: 'a long enough password' },
  })),
  route('GET', '/api/v1/users/:name', system, (f) => ({ path: `/api/v1/users/${f.userName}` })),
  route('PATCH', '/api/v1/users/:name', system, (f) => ({
    path: `/api/v1/users/${f.userName}`,
    body: { disabled: true },
  })),
  route('DELETE', '/api/v1/users/:name', system, (f) => ({ path: `/api/v1/users/${f.userName}` })),

  // Policies and their attachments
  route('GET', '/api/v1/policies', system, () => ({ path: '/api/v1/policies' })),
  route('GET', '/api/v1/policies/:name', system, () => ({ path: '/api/v1/policies/victim' })),
  route('PUT', '/api/v1/policies/:name', system, () => ({
    path: '/api/v1/policies/victim',
    body: { rules: victimRules },
  })),
  route('DELETE', '/api/v1/policies/:name', system, () => ({ path: '/api/v1/policies/victim' })),
  route('POST', '/api/v1/identities/:name/policies', system, () => ({
    path: '/api/v1/identities/ci/policies',
    body: { policies: ['victim'] },
  })),
  route('DELETE', '/api/v1/identities/:name/policies/:policy', system, () => ({
    path: '/api/v1/identities/ci/policies/victim',
  })),
  route('POST', '/api/v1/users/:name/policies', system, (f) => ({
    path: `/api/v1/users/${f.userName}/policies`,
    body: { policies: ['victim'] },
  })),
  route('DELETE', '/api/v1/users/:name/policies/:policy', system, (f) => ({
    path: `/api/v1/users/${f.userName}/policies/victim`,
  })),
  route('POST', '/api/v1/tokens/:name/policies', system, (f) => ({
    path: `/api/v1/tokens/${f.tokenId}/policies`,
    body: { policies: ['victim'] },
  })),
  route('DELETE', '/api/v1/tokens/:name/policies/:policy', system, (f) => ({
    path: `/api/v1/tokens/${f.tokenId}/policies/victim`,
  })),

  // Static API tokens
  route('GET', '/api/v1/tokens', system, () => ({ path: '/api/v1/tokens' })),
  route('POST', '/api/v1/tokens', system, () => ({ path: '/api/v1/tokens', body: { name: 'new-token' } })),
  route('GET', '/api/v1/tokens/:id', system, (f) => ({ path: `/api/v1/tokens/${f.tokenId}` })),
  route('DELETE', '/api/v1/tokens/:id', system, (f) => ({ path: `/api/v1/tokens/${f.tokenId}` })),

  // The Vault-compatible API (errors in Vault's format: a refusal of either kind is a 403)
  route('GET', '/v1/sys/health', { kind: 'public' }, () => ({ path: '/v1/sys/health' })),
  route('HEAD', '/v1/sys/health', { kind: 'public' }, () => ({ path: '/v1/sys/health' })),
  route('GET', '/v1/sys/internal/ui/mounts/*', { kind: 'project-visible' }, () => ({
    path: `/v1/sys/internal/ui/mounts/${vaultFolder('data')}`,
  })),
  route('GET', '/v1/auth/approle/role', system, () => ({ path: '/v1/auth/approle/role?list=true' })),
  route('GET', '/v1/auth/approle/role/:name', system, () => ({ path: '/v1/auth/approle/role/ci' })),
  route('GET', '/v1/auth/approle/role/:name/role-id', system, () => ({ path: '/v1/auth/approle/role/ci/role-id' })),
  route('GET', '/v1/sys/mounts', { kind: 'authenticated' }, () => ({ path: '/v1/sys/mounts' })),
  route('GET', '/v1/auth/token/lookup-self', { kind: 'authenticated' }, () => ({ path: '/v1/auth/token/lookup-self' })),
  route('POST', '/v1/auth/token/lookup-self', { kind: 'authenticated' }, () => ({
    path: '/v1/auth/token/lookup-self',
  })),
  ...(['POST', 'PUT'] as const).flatMap((method) => [
    route(method, '/v1/auth/token/renew-self', { kind: 'authenticated' }, () => ({
      path: '/v1/auth/token/renew-self',
    })),
    route(method, '/v1/auth/token/revoke-self', { kind: 'authenticated' }, () => ({
      path: '/v1/auth/token/revoke-self',
    })),
    route(method, '/v1/auth/approle/login', { kind: 'public' }, (f) => ({
      path: '/v1/auth/approle/login',
      body: { role_id: f.clientId, secret_id: f.clientSecret },
    })),
    route(method, '/v1/auth/token/create', system, () => ({
      path: '/v1/auth/token/create',
      body: { policies: ['victim'], ttl: '1h', display_name: 'made-by-vault' },
    })),
    route(method, '/v1/auth/approle/role/:name/secret-id', system, () => ({
      path: '/v1/auth/approle/role/ci/secret-id',
      body: { ttl: '10m' },
    })),
    route(method, '/v1/auth/approle/role/:name/secret-id-accessor/destroy', system, (f) => ({
      path: '/v1/auth/approle/role/ci/secret-id-accessor/destroy',
      body: { secret_id_accessor: f.clientSecretId },
    })),
    route(method, '/v1/:mount/data/*', folder('write'), () => ({
      path: `/v1/${vaultFolder('data')}`,
      body: { data: { API_KEY: 'vault-written' } },
    })),
    route(method, '/v1/:mount/metadata/*', folder('write'), () => ({
      path: `/v1/${vaultFolder('metadata')}`,
      body: { custom_metadata: { 'managed-by': 'external-secrets' } },
    })),
  ]),
  route('POST', '/v1/:mount/destroy/*', folder('delete'), () => ({
    path: `/v1/${vaultFolder('destroy')}`,
    body: { versions: [1] },
  })),
  route('PUT', '/v1/:mount/destroy/*', folder('delete'), () => ({
    path: `/v1/${vaultFolder('destroy')}`,
    body: { versions: [1] },
  })),
  route('GET', '/v1/:mount/data/*', folder('read'), () => ({ path: `/v1/${vaultFolder('data')}` })),
  route('PATCH', '/v1/:mount/data/*', folder('write'), () => ({
    path: `/v1/${vaultFolder('data')}`,
    body: { data: { PATCHED: 'yes' } },
    headers: { 'content-type': 'application/merge-patch+json' },
  })),
  route('DELETE', '/v1/:mount/data/*', folder('delete'), () => ({ path: `/v1/${vaultFolder('data')}` })),
  route('POST', '/v1/:mount/delete/*', folder('delete'), () => ({
    path: `/v1/${vaultFolder('delete')}`,
    // The sample folder's current revision is one of these (how many the fixture wrote is not fixed).
    body: { versions: Array.from({ length: 50 }, (_, i) => i + 1) },
  })),
  route('POST', '/v1/:mount/undelete/*', folder('write'), () => ({
    path: `/v1/${vaultFolder('undelete')}`,
    body: { versions: [1] },
  })),
  route('GET', '/v1/:mount/metadata/*', folder('list'), () => ({ path: `/v1/${vaultFolder('metadata')}` })),
  route('PATCH', '/v1/:mount/metadata/*', folder('write'), () => ({
    path: `/v1/${vaultFolder('metadata')}`,
    body: { custom_metadata: { owner: 'team-a' } },
    headers: { 'content-type': 'application/merge-patch+json' },
  })),
  route('DELETE', '/v1/:mount/metadata/*', folder('delete'), () => ({
    path: `/v1/${vaultFolder('metadata')}`,
  })),
];

/** The Vault API path of the target folder under one KV operation: `shop/<operation>/dev/backend`. */
function vaultFolder(operation: string): string {
  return `${TARGET.project}/${operation}/${TARGET.env}${TARGET.folder}`;
}

/** The policy rules for the catalogue's sample data (the `victim` policy every principal has attached). */
export const VICTIM_RULES = victimRules;
