import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { AppError } from '../../core/app-error.js';
import type { IdentityService } from '../../core/auth/identity-service.js';
import type { RateLimiter } from '../../core/auth/rate-limiter.js';
import type { TokenService } from '../../core/auth/token-service.js';
import type { UserService } from '../../core/auth/user-service.js';
import type { AuditLog } from '../../core/audit/audit-log.js';
import { auditAs, txAudit, txAuditAs } from '../audit-middleware.js';
import type { HttpEnv } from '../http-env.js';
import { parseBody } from '../validate.js';

export interface AuthRouteDeps {
  identities: Pick<IdentityService, 'login'>;
  users: Pick<UserService, 'login'>;
  tokens: Pick<TokenService, 'get' | 'renew' | 'revoke'>;
  limits: { loginPerIp: RateLimiter; loginPerName: RateLimiter };
  auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>;
}

const identityLogin = z.object({ clientId: z.string().max(100), clientSecret: z.string().max(200) });
const userLogin = z.object({ name: z.string().max(64), password: z.string().max(1024) });

/** Logins are limited per client address and per identity or user name; a refusal says when to retry. */
export function limitLogin(c: Context<HttpEnv>, limits: AuthRouteDeps['limits'], name: string) {
  for (const [limiter, key] of [
    [limits.loginPerIp, c.get('clientIp')],
    [limits.loginPerName, name],
  ] as const) {
    const taken = limiter.take(key);
    if (!taken.ok) {
      c.header('retry-after', String(taken.retryAfter));
      throw new AppError('RATE_LIMITED', `too many login attempts; retry in ${taken.retryAfter} s`, {
        retryAfter: taken.retryAfter,
      });
    }
  }
}

/** `/api/v1/auth`: logins (no token needed) and what a token can do about itself. */
export function authRoutes(deps: AuthRouteDeps) {
  const app = new Hono<HttpEnv>();

  app.post('/login', async (c) => {
    const body = await parseBody(c, identityLogin);
    auditAs(c, 'auth.login', `identity:${body.clientId.slice(0, 40)}`);
    limitLogin(c, deps.limits, `identity:${body.clientId}`);
    // The token and its audit entry (made out to the identity, with the token's id) commit together.
    const result = await deps.identities.login(
      body.clientId,
      body.clientSecret,
      c.get('clientIp'),
      txAuditAs(c, deps.auditLog),
    );
    c.header('cache-control', 'no-store');
    return c.json({
      accessToken: result.accessToken,
      tokenType: 'Bearer',
      expiresIn: result.expiresIn,
      maxTtl: result.maxTtl,
      uses: result.uses,
      identity: result.identity,
    });
  });

  app.post('/user-login', async (c) => {
    const body = await parseBody(c, userLogin);
    auditAs(c, 'auth.user-login', `user:${body.name.slice(0, 64)}`);
    limitLogin(c, deps.limits, `user:${body.name}`);
    // Like identity logins, a failed attempt stays anonymous: the name it claimed is in the resource.
    const result = await deps.users.login(body.name, body.password, txAuditAs(c, deps.auditLog));
    c.header('cache-control', 'no-store');
    return c.json({ token: result.token, tokenType: 'Bearer', expiresAt: result.expiresAt, user: result.user });
  });

  app.get('/token', async (c) => {
    const principal = c.get('principal');
    auditAs(c, 'auth.lookup-self', `token:${principal.tokenId}`);
    const token = await deps.tokens.get(principal.tokenId);
    return c.json({
      token,
      principal: {
        type: principal.type,
        name: principal.name,
        actor: principal.actor,
        policies: principal.policies.map((p) => p.name),
      },
    });
  });

  app.post('/token/renew', async (c) => {
    const principal = c.get('principal');
    auditAs(c, 'auth.renew', `token:${principal.tokenId}`);
    const renewed = await deps.tokens.renew(principal.tokenId, txAudit(c, deps.auditLog));
    return c.json(renewed);
  });

  app.post('/token/revoke', async (c) => {
    const principal = c.get('principal');
    auditAs(c, 'auth.revoke-self', `token:${principal.tokenId}`);
    await deps.tokens.revoke(principal.tokenId, txAudit(c, deps.auditLog));
    return c.body(null, 204);
  });

  return app;
}
