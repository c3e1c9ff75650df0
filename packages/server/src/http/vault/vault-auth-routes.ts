import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { AppError, invalidInput } from '../../core/app-error.js';
import type { AuditLog } from '../../core/audit/audit-log.js';
import type { IdentityService } from '../../core/auth/identity-service.js';
import type { TokenService } from '../../core/auth/token-service.js';
import type { Clock } from '../../core/clock.js';
import { canSeeProject } from '../../core/policy/policy-engine.js';
import type { PolicyService } from '../../core/policy/policy-service.js';
import type { ProjectService } from '../../core/projects/project-service.js';
import { auditAs, txAudit, txAuditAs } from '../audit-middleware.js';
import type { HttpEnv } from '../http-env.js';
import { limitLogin, type AuthRouteDeps } from '../routes/auth-routes.js';
import { envelope, envelopeOf, vaultBody, type VaultAuth } from './vault-envelope.js';
import { mountDescription } from './vault-kv-routes.js';

export interface VaultAuthDeps {
  tokens: Pick<TokenService, 'get' | 'renew' | 'revoke'>;
  identities: Pick<IdentityService, 'login'>;
  policies: Pick<PolicyService, 'namesFor'>;
  projects: Pick<ProjectService, 'get' | 'list'>;
  limits: AuthRouteDeps['limits'];
  auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>;
  clock: Clock;
  version: string;
}

const approleLogin = z.object({
  role_id: z.string().max(100).optional(),
  secret_id: z.string().max(200).optional(),
});

function secondsUntil(clock: Clock, time: string | null): number {
  if (time === null) return 0;
  return Math.max(0, Math.floor((Date.parse(time) - clock.now().getTime()) / 1000));
}

function secondsBetween(from: string, to: string | null): number {
  return to === null ? 0 : Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));
}

/** The token the request came with (the auth middleware accepted it). */
function presentedToken(c: Context<HttpEnv>): string {
  return c.req.header('x-vault-token') ?? (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
}

/** `sys/health`, mount discovery, token self-service and AppRole login, as Vault clients call them. */
export function vaultAuthRoutes(deps: VaultAuthDeps) {
  const app = new Hono<HttpEnv>();

  /** Unauthenticated and unaudited, like Vault's. Keybox is never sealed nor a standby: always the active code. */
  app.on(['GET', 'HEAD'], '/sys/health', (c) => {
    const requested = Number(c.req.query('activecode') ?? '200');
    const status = Number.isInteger(requested) && requested >= 200 && requested <= 599 ? requested : 200;
    c.header('cache-control', 'no-store');
    const body = {
      initialized: true,
      sealed: false,
      standby: false,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(deps.clock.now().getTime() / 1000),
      version: `keybox-${deps.version}`,
      cluster_name: 'keybox',
      cluster_id: '',
    };
    if (c.req.method === 'HEAD' || status === 204 || status === 304) return c.body(null, status as 204);
    return c.json(body, status as 200);
  });

  /**
   * What the Vault CLI, Vault Agent and consul-template ask before their first read: the mount a path is under, a
   * KV version 2. A project the caller has no access to, or that does not exist, is a 403 either way.
   */
  app.get('/sys/internal/ui/mounts/*', async (c) => {
    const project = c.req.path.slice('/v1/sys/internal/ui/mounts/'.length).split('/')[0] ?? '';
    auditAs(c, 'vault.mount.read', `project:${project.slice(0, 64)}`);
    const denied = new AppError('FORBIDDEN', `no access to a mount named "${project.slice(0, 64)}"`);
    if (project === '' || !canSeeProject(c.get('principal').policies, project)) throw denied;
    try {
      await deps.projects.get(project);
    } catch (error) {
      if (error instanceof AppError && error.code === 'NOT_FOUND') throw denied;
      throw error;
    }
    return envelope(c, { data: mountDescription(project), mountType: 'system' });
  });

  /**
   * The mounts the caller can see: each project it has some access to, as a KV v2 mount (`vault secrets list`,
   * node-vault's `mounts()`). Like Vault's `sys/` listings, the map is also copied to the top level.
   */
  app.get('/sys/mounts', async (c) => {
    auditAs(c, 'vault.mounts.list', 'projects');
    const policies = c.get('principal').policies;
    const visible = (await deps.projects.list()).filter((p) => canSeeProject(policies, p.slug));
    const mounts = Object.fromEntries(visible.map((p) => [`${p.slug}/`, mountDescription(p.slug)]));
    c.get('audit').details['mounts'] = visible.length;
    return c.json({ ...mounts, ...envelopeOf(c, { data: mounts, mountType: 'system' }) });
  });

  const lookupSelf = async (c: Context<HttpEnv>) => {
    const principal = c.get('principal');
    auditAs(c, 'vault.token.lookup-self', `token:${principal.tokenId}`);
    const token = await deps.tokens.get(principal.tokenId);
    const created = Math.floor(Date.parse(token.createdAt) / 1000);
    return envelope(c, {
      mountType: 'token',
      data: {
        accessor: token.id,
        creation_time: created,
        creation_ttl: secondsBetween(token.createdAt, token.expiresAt),
        display_name: token.name,
        entity_id: '',
        expire_time: token.expiresAt,
        explicit_max_ttl: secondsBetween(token.createdAt, token.maxExpiresAt),
        id: presentedToken(c),
        issue_time: token.createdAt,
        meta: { keybox_actor: principal.actor, keybox_kind: token.kind },
        num_uses: token.usesRemaining ?? 0,
        orphan: true,
        path: token.kind === 'access' ? 'auth/approle/login' : 'auth/token/create',
        policies: principal.policies.map((p) => p.name),
        renewable: token.expiresAt !== null,
        ttl: secondsUntil(deps.clock, token.expiresAt),
        type: 'service',
      },
    });
  };
  app.get('/auth/token/lookup-self', lookupSelf);
  app.post('/auth/token/lookup-self', lookupSelf);

  /** Extends the token by its original TTL, never past its max TTL (the answer says so: renewable turns false). */
  app.on(['POST', 'PUT'], '/auth/token/renew-self', async (c) => {
    const principal = c.get('principal');
    auditAs(c, 'vault.token.renew-self', `token:${principal.tokenId}`);
    const renewed = await deps.tokens.renew(principal.tokenId, txAudit(c, deps.auditLog));
    const token = await deps.tokens.get(principal.tokenId);
    return envelope(c, {
      mountType: 'token',
      auth: {
        client_token: presentedToken(c),
        accessor: principal.tokenId,
        policies: principal.policies.map((p) => p.name),
        token_policies: principal.policies.map((p) => p.name),
        metadata: null,
        lease_duration: secondsUntil(deps.clock, renewed.expiresAt),
        renewable: renewed.expiresAt !== null && !renewed.capped,
        entity_id: '',
        token_type: 'service',
        orphan: true,
        mfa_requirement: null,
        num_uses: token.usesRemaining ?? 0,
      },
    });
  });

  app.on(['POST', 'PUT'], '/auth/token/revoke-self', async (c) => {
    const principal = c.get('principal');
    auditAs(c, 'vault.token.revoke-self', `token:${principal.tokenId}`);
    await deps.tokens.revoke(principal.tokenId, txAudit(c, deps.auditLog));
    return c.body(null, 204);
  });

  /**
   * AppRole login with a Keybox machine identity: role_id is its client id, secret_id a client secret. Every
   * refusal is the same 400 (no enumeration); the audit entry records why.
   */
  app.on(['POST', 'PUT'], '/auth/approle/login', async (c) => {
    const parsed = approleLogin.safeParse(await vaultBody(c));
    if (!parsed.success) throw invalidInput('invalid body: role_id and secret_id are strings');
    const { role_id: roleId, secret_id: secretId } = parsed.data;
    auditAs(c, 'vault.approle.login', `identity:${(roleId ?? '').slice(0, 40)}`);
    if (roleId === undefined || roleId === '') throw invalidInput('missing role_id');
    if (secretId === undefined || secretId === '') throw invalidInput('missing secret_id');
    limitLogin(c, deps.limits, `identity:${roleId}`);
    let result: Awaited<ReturnType<IdentityService['login']>>;
    try {
      result = await deps.identities.login(roleId, secretId, c.get('clientIp'), txAuditAs(c, deps.auditLog));
    } catch (error) {
      if (error instanceof AppError && error.code === 'UNAUTHENTICATED') {
        throw new AppError('INVALID_INPUT', 'invalid role or secret ID', undefined, { audit: error.audit ?? {} });
      }
      throw error;
    }
    const policies = await deps.policies.namesFor('identity', roleId);
    const auth: VaultAuth = {
      client_token: result.accessToken,
      accessor: result.tokenId,
      policies,
      token_policies: policies,
      metadata: { role_name: result.identity },
      lease_duration: result.expiresIn,
      renewable: result.maxTtl > result.expiresIn,
      entity_id: '',
      token_type: 'service',
      orphan: true,
      mfa_requirement: null,
      num_uses: result.uses ?? 0,
    };
    return envelope(c, { auth, mountType: 'approle' });
  });

  return app;
}
