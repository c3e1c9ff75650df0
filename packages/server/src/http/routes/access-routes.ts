import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog } from '../../core/audit/audit-log.js';
import type { IdentityService } from '../../core/auth/identity-service.js';
import type { TokenService } from '../../core/auth/token-service.js';
import type { UserService } from '../../core/auth/user-service.js';
import type { PolicyService, PrincipalType } from '../../core/policy/policy-service.js';
import { auditAs, txAudit } from '../audit-middleware.js';
import { AppError } from '../../core/app-error.js';
import { authorize } from '../authorize.js';
import type { HttpEnv } from '../http-env.js';
import { parseBody } from '../validate.js';
import { limitLogin, type AuthRouteDeps } from './auth-routes.js';

export interface AccessRouteDeps {
  identities: IdentityService;
  users: UserService;
  tokens: TokenService;
  policies: PolicyService;
  auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>;
  /** The login limits: checking a current password is a login attempt too. */
  limits: AuthRouteDeps['limits'];
}

const seconds = z.number().int().positive();
const identityBody = z.object({
  name: z.string().max(64),
  description: z.string().max(500).optional(),
  policies: z.array(z.string().max(64)).max(50).optional(),
  tokenTtl: seconds.optional(),
  tokenMaxTtl: seconds.optional(),
  tokenUses: z.number().int().min(0).optional(),
  trustedCidrs: z.array(z.string().max(64)).max(100).optional(),
  secretTtl: seconds.optional(),
});
const identityPatch = identityBody
  .omit({ name: true, policies: true, secretTtl: true })
  .extend({ disabled: z.boolean().optional() });
const secretBody = z.object({ ttl: seconds.optional(), description: z.string().max(200).optional() });
const userBody = z.object({
  name: z.string().max(64),
  password: z.string().max(1024),
  admin: z.boolean().optional(),
  policies: z.array(z.string().max(64)).max(50).optional(),
});
const userPatch = z.object({
  password: z.string().max(1024).optional(),
  currentPassword: z.string().max(1024).optional(),
  disabled: z.boolean().optional(),
});
const policiesBody = z.object({ policies: z.array(z.string().max(64)).min(1).max(50) });
const policyBody = z.object({
  description: z.string().max(500).optional(),
  rules: z.unknown().optional(),
  role: z.string().max(64).optional(),
  scope: z.object({ project: z.string(), env: z.string(), path: z.string() }).optional(),
});
const tokenBody = z.object({
  name: z.string().min(1).max(100),
  policies: z.array(z.string().max(64)).max(50).optional(),
  ttl: seconds.optional(),
});

/** Identities, users, policies and static tokens: all system-wide, so all need admin on project `*`. */
export function accessRoutes({ identities, users, tokens, policies, auditLog, limits }: AccessRouteDeps) {
  const app = new Hono<HttpEnv>();
  const admin = (c: Parameters<typeof authorize>[0]) => authorize(c, { capability: 'admin' });

  async function principalId(type: PrincipalType, name: string): Promise<string> {
    if (type === 'identity') return (await identities.get(name)).clientId;
    if (type === 'token') return (await tokens.get(name)).id;
    return users.idOf(name);
  }

  // Identities
  app.get('/identities', async (c) => {
    auditAs(c, 'identities.list', 'identities');
    admin(c);
    return c.json({ identities: await identities.list() });
  });
  app.post('/identities', async (c) => {
    const body = await parseBody(c, identityBody);
    auditAs(c, 'identity.create', `identity:${body.name}`);
    admin(c);
    const created = await identities.create(body.name, body, c.get('principal').actor, txAudit(c, auditLog));
    c.header('cache-control', 'no-store');
    return c.json(created, 201);
  });
  app.get('/identities/:name', async (c) => {
    auditAs(c, 'identity.read', `identity:${c.req.param('name')}`);
    admin(c);
    return c.json({ identity: await identities.get(c.req.param('name')) });
  });
  app.patch('/identities/:name', async (c) => {
    auditAs(c, 'identity.update', `identity:${c.req.param('name')}`);
    admin(c);
    const body = await parseBody(c, identityPatch);
    return c.json({ identity: await identities.update(c.req.param('name'), body, txAudit(c, auditLog)) });
  });
  app.delete('/identities/:name', async (c) => {
    auditAs(c, 'identity.delete', `identity:${c.req.param('name')}`);
    admin(c);
    await identities.remove(c.req.param('name'), txAudit(c, auditLog));
    return c.body(null, 204);
  });
  app.get('/identities/:name/secrets', async (c) => {
    auditAs(c, 'identity.secrets.list', `identity:${c.req.param('name')}`);
    admin(c);
    return c.json({ secrets: await identities.listSecrets(c.req.param('name')) });
  });
  app.post('/identities/:name/secrets', async (c) => {
    auditAs(c, 'identity.secret.create', `identity:${c.req.param('name')}`);
    admin(c);
    const body = await parseBody(c, secretBody);
    const created = await identities.addSecret(
      c.req.param('name'),
      c.get('principal').actor,
      { ttlSeconds: body.ttl, description: body.description },
      txAudit(c, auditLog),
    );
    c.header('cache-control', 'no-store');
    return c.json(created, 201);
  });
  app.delete('/identities/:name/secrets/:id', async (c) => {
    auditAs(c, 'identity.secret.revoke', `identity:${c.req.param('name')}`);
    admin(c);
    await identities.revokeSecret(c.req.param('name'), c.req.param('id'), txAudit(c, auditLog));
    return c.body(null, 204);
  });

  // Users
  app.get('/users', async (c) => {
    auditAs(c, 'users.list', 'users');
    admin(c);
    return c.json({ users: await users.list() });
  });
  app.post('/users', async (c) => {
    const body = await parseBody(c, userBody);
    auditAs(c, 'user.create', `user:${body.name}`);
    admin(c);
    return c.json({ user: await users.create(body, c.get('principal').actor, txAudit(c, auditLog)) }, 201);
  });
  app.get('/users/:name', async (c) => {
    auditAs(c, 'user.read', `user:${c.req.param('name')}`);
    admin(c);
    return c.json({ user: await users.get(c.req.param('name')) });
  });
  app.patch('/users/:name', async (c) => {
    const name = c.req.param('name');
    auditAs(c, 'user.update', `user:${name}`);
    const body = await parseBody(c, userPatch);
    const principal = c.get('principal');
    // People change their own password; everything else is an admin's job.
    const self = principal.type === 'user' && principal.name === name && body.disabled === undefined;
    if (!self) admin(c);
    // A stolen session must not be enough to take the account over: changing your own password needs the old one,
    // an admin's own included (as docs/access.md says; an admin changes anyone else's without theirs).
    else if (body.password !== undefined) {
      // Limited like a login, or a stolen session could guess the password at leisure.
      limitLogin(c, limits, `user:${name}`);
      if (!(await users.verifyCurrentPassword(name, body.currentPassword ?? ''))) {
        throw new AppError('UNAUTHENTICATED', 'the current password is wrong', undefined, {
          audit: { reason: 'wrong password' },
        });
      }
    }
    if (body.password !== undefined) await users.setPassword(name, body.password, txAudit(c, auditLog));
    if (body.disabled !== undefined) await users.setDisabled(name, body.disabled, txAudit(c, auditLog));
    return c.json({ user: await users.get(name) });
  });
  app.delete('/users/:name', async (c) => {
    auditAs(c, 'user.delete', `user:${c.req.param('name')}`);
    admin(c);
    await users.remove(c.req.param('name'), txAudit(c, auditLog));
    return c.body(null, 204);
  });

  // Policies
  app.get('/policies', async (c) => {
    auditAs(c, 'policies.list', 'policies');
    admin(c);
    return c.json({ policies: await policies.list() });
  });
  app.get('/policies/:name', async (c) => {
    auditAs(c, 'policy.read', `policy:${c.req.param('name')}`);
    admin(c);
    return c.json({ policy: await policies.get(c.req.param('name')) });
  });
  app.put('/policies/:name', async (c) => {
    auditAs(c, 'policy.put', `policy:${c.req.param('name')}`);
    admin(c);
    const body = await parseBody(c, policyBody);
    const policy = await policies.put(c.req.param('name'), body, c.get('principal').actor, txAudit(c, auditLog));
    return c.json({ policy });
  });
  app.delete('/policies/:name', async (c) => {
    auditAs(c, 'policy.delete', `policy:${c.req.param('name')}`);
    admin(c);
    await policies.remove(c.req.param('name'), txAudit(c, auditLog));
    return c.body(null, 204);
  });

  // Attaching policies to identities, users and tokens
  for (const [segment, type] of [
    ['identities', 'identity'],
    ['users', 'user'],
    ['tokens', 'token'],
  ] as const) {
    app.post(`/${segment}/:name/policies`, async (c) => {
      auditAs(c, 'policy.attach', `${type}:${c.req.param('name')}`);
      admin(c);
      const body = await parseBody(c, policiesBody);
      c.get('audit').details['policies'] = body.policies;
      const id = await principalId(type, c.req.param('name'));
      const hook = txAudit(c, auditLog);
      await policies.attachAudited(type, id, body.policies, hook);
      return c.json({ policies: await policies.namesFor(type, id) });
    });
    app.delete(`/${segment}/:name/policies/:policy`, async (c) => {
      auditAs(c, 'policy.detach', `${type}:${c.req.param('name')}`, { policies: [c.req.param('policy')] });
      admin(c);
      const id = await principalId(type, c.req.param('name'));
      await policies.detachAudited(type, id, [c.req.param('policy')], txAudit(c, auditLog));
      return c.json({ policies: await policies.namesFor(type, id) });
    });
  }

  // Static API tokens (their metadata survives restarts; the token itself is shown once)
  app.get('/tokens', async (c) => {
    auditAs(c, 'tokens.list', 'tokens');
    admin(c);
    return c.json({ tokens: await tokens.list({ kind: 'api' }) });
  });
  app.post('/tokens', async (c) => {
    const body = await parseBody(c, tokenBody);
    auditAs(c, 'token.create', `token:${body.name}`);
    admin(c);
    const created = await tokens.create(
      { name: body.name, createdBy: c.get('principal').actor, ttlSeconds: body.ttl, policies: body.policies },
      { attach: policies.attach, audit: txAudit(c, auditLog) },
    );
    c.header('cache-control', 'no-store');
    return c.json({ token: created.token, id: created.id, expiresAt: created.expiresAt }, 201);
  });
  app.get('/tokens/:id', async (c) => {
    auditAs(c, 'token.read', `token:${c.req.param('id')}`);
    admin(c);
    const token = await tokens.get(c.req.param('id'));
    return c.json({ token, policies: await policies.namesFor(token.principalType, token.principalId ?? token.id) });
  });
  app.delete('/tokens/:id', async (c) => {
    auditAs(c, 'token.revoke', `token:${c.req.param('id')}`);
    admin(c);
    await tokens.revoke(c.req.param('id'), txAudit(c, auditLog));
    return c.body(null, 204);
  });

  return app;
}
