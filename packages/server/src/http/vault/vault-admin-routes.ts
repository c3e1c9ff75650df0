import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { invalidInput } from '../../core/app-error.js';
import type { AuditLog } from '../../core/audit/audit-log.js';
import type { IdentityService } from '../../core/auth/identity-service.js';
import type { TokenService } from '../../core/auth/token-service.js';
import type { PolicyService } from '../../core/policy/policy-service.js';
import { auditAs, txAudit } from '../audit-middleware.js';
import { authorize } from '../authorize.js';
import type { HttpEnv } from '../http-env.js';
import { envelope, parseBool, vaultBody, type VaultAuth } from './vault-envelope.js';

/*
 * What an operator or a CI orchestrator does through Vault's API to hand out credentials: create a token, read an
 * AppRole's role id, mint and destroy secret ids. An AppRole role is a Keybox machine identity (its name), its role
 * id the identity's client id, a secret id one of its client secrets. Like their native counterparts
 * (/api/v1/tokens, /api/v1/identities), all need admin on everything. Roles themselves are created and changed
 * with `keybox identities`: their settings map onto an identity's, not the other way round.
 */

export interface VaultAdminDeps {
  tokens: Pick<TokenService, 'create'>;
  identities: Pick<IdentityService, 'get' | 'list' | 'addSecret' | 'revokeSecret'>;
  policies: Pick<PolicyService, 'attach'>;
  auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>;
}

const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** A Vault duration (`3600`, `"3600"`, `"90m"`, `"1h30m"`) in whole seconds; undefined when not given. */
export function vaultSeconds(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'string') {
    if (/^\d+$/.test(value)) return Number(value);
    const match = DURATION.exec(value);
    if (match !== null) return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
  }
  throw invalidInput(`${field}: expected seconds or a duration such as "90m" or "1h30m"`);
}

const tokenCreate = z.object({
  policies: z.array(z.string().max(64)).max(50).optional(),
  ttl: z.union([z.string(), z.number()]).optional(),
  display_name: z.string().max(100).optional(),
  num_uses: z.number().int().min(0).optional(),
  explicit_max_ttl: z.union([z.string(), z.number()]).optional(),
  period: z.union([z.string(), z.number()]).optional(),
  renewable: z.boolean().optional(),
  no_parent: z.boolean().optional(),
  no_default_policy: z.boolean().optional(),
  meta: z.record(z.string(), z.string()).nullish(),
  type: z.enum(['service', 'batch']).optional(),
});

const secretIdCreate = z.object({
  ttl: z.union([z.string(), z.number()]).optional(),
  num_uses: z.number().int().min(0).optional(),
  metadata: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
  cidr_list: z.union([z.string(), z.array(z.string())]).optional(),
  token_bound_cidrs: z.union([z.string(), z.array(z.string())]).optional(),
});

const secretIdDestroy = z.object({ secret_id_accessor: z.string().min(1).max(100) });

function parsed<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue === undefined || issue.path.length === 0 ? 'body' : issue.path.join('.');
  throw invalidInput(`invalid body: ${field}: ${issue?.message ?? 'invalid'}`);
}

/** Refuses an option Keybox cannot honour, rather than ignoring it. */
function unsupported(given: boolean, what: string): void {
  if (given) throw invalidInput(`${what} is not supported by Keybox`);
}

export function vaultAdminRoutes(deps: VaultAdminDeps) {
  const app = new Hono<HttpEnv>();
  const admin = (c: Context<HttpEnv>) => authorize(c, { capability: 'admin' });

  /** A static API token with the given policies; its lifetime is `ttl` (none: it lasts until revoked). */
  app.on(['POST', 'PUT'], '/auth/token/create', async (c) => {
    auditAs(c, 'vault.token.create', 'token');
    admin(c);
    const body = parsed(tokenCreate, await vaultBody(c));
    const name = body.display_name ?? 'vault-token';
    c.get('audit').resource = `token:${name}`;
    unsupported((body.num_uses ?? 0) > 0, 'num_uses on a created token');
    unsupported(vaultSeconds(body.explicit_max_ttl, 'explicit_max_ttl') !== undefined, 'explicit_max_ttl');
    unsupported(vaultSeconds(body.period, 'period') !== undefined, 'a periodic token');
    unsupported(body.type === 'batch', 'a batch token');
    unsupported(Object.keys(body.meta ?? {}).length > 0, 'token metadata (meta)');
    const ttl = vaultSeconds(body.ttl, 'ttl');
    const policies = (body.policies ?? []).filter((p) => p !== 'default');
    const created = await deps.tokens.create(
      { name, createdBy: c.get('principal').actor, ttlSeconds: ttl, policies },
      { attach: deps.policies.attach, audit: txAudit(c, deps.auditLog) },
    );
    const auth: VaultAuth = {
      client_token: created.token,
      accessor: created.id,
      policies,
      token_policies: policies,
      metadata: null,
      lease_duration: ttl ?? 0,
      renewable: false,
      entity_id: '',
      token_type: 'service',
      orphan: true,
      mfa_requirement: null,
      num_uses: 0,
    };
    return envelope(c, { auth, mountType: 'token' });
  });

  /** The roles (identities), as a listing: `GET ?list=true`. */
  app.get('/auth/approle/role', async (c) => {
    auditAs(c, 'vault.approle.list', 'identities');
    admin(c);
    if (parseBool(c.req.query('list') ?? 'false') !== true) throw invalidInput('list the roles with ?list=true');
    const keys = (await deps.identities.list()).map((i) => i.name);
    return keys.length === 0 ? c.json({ errors: [] }, 404) : envelope(c, { data: { keys }, mountType: 'approle' });
  });

  app.get('/auth/approle/role/:name', async (c) => {
    const name = c.req.param('name');
    auditAs(c, 'vault.approle.read', `identity:${name}`);
    admin(c);
    const identity = await deps.identities.get(name);
    return envelope(c, {
      mountType: 'approle',
      data: {
        bind_secret_id: true,
        secret_id_bound_cidrs: null,
        secret_id_num_uses: 0,
        secret_id_ttl: 0,
        token_bound_cidrs: identity.trustedCidrs,
        token_explicit_max_ttl: 0,
        token_max_ttl: identity.tokenMaxTtl,
        token_no_default_policy: true,
        token_num_uses: identity.tokenUses,
        token_period: 0,
        token_policies: identity.policies,
        token_ttl: identity.tokenTtl,
        token_type: 'service',
      },
    });
  });

  app.get('/auth/approle/role/:name/role-id', async (c) => {
    const name = c.req.param('name');
    auditAs(c, 'vault.approle.role-id', `identity:${name}`);
    admin(c);
    const identity = await deps.identities.get(name);
    return envelope(c, { data: { role_id: identity.clientId }, mountType: 'approle' });
  });

  /** A new client secret for the identity: shown now and never again. */
  app.on(['POST', 'PUT'], '/auth/approle/role/:name/secret-id', async (c) => {
    const name = c.req.param('name');
    auditAs(c, 'vault.approle.secret-id', `identity:${name}`);
    admin(c);
    const body = parsed(secretIdCreate, await vaultBody(c));
    unsupported((body.num_uses ?? 0) > 0, 'num_uses on a secret id');
    unsupported(body.cidr_list !== undefined || body.token_bound_cidrs !== undefined, 'binding CIDRs to one secret id');
    const ttl = vaultSeconds(body.ttl, 'ttl');
    const created = await deps.identities.addSecret(
      name,
      c.get('principal').actor,
      { ttlSeconds: ttl === 0 ? undefined : ttl, description: 'vault api' },
      txAudit(c, deps.auditLog),
    );
    return envelope(c, {
      mountType: 'approle',
      data: {
        secret_id: created.clientSecret,
        secret_id_accessor: created.secretId,
        secret_id_ttl: ttl ?? 0,
        secret_id_num_uses: 0,
      },
    });
  });

  /** Revokes one client secret, and every access token it issued. */
  app.on(['POST', 'PUT'], '/auth/approle/role/:name/secret-id-accessor/destroy', async (c) => {
    const name = c.req.param('name');
    auditAs(c, 'vault.approle.secret-id-destroy', `identity:${name}`);
    admin(c);
    const body = parsed(secretIdDestroy, await vaultBody(c));
    await deps.identities.revokeSecret(name, body.secret_id_accessor, txAudit(c, deps.auditLog));
    return c.body(null, 204);
  });

  return app;
}
