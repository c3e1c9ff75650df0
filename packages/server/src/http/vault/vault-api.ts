import { Hono, type MiddlewareHandler } from 'hono';
import { AppError } from '../../core/app-error.js';
import type { AuditLog } from '../../core/audit/audit-log.js';
import type { RateLimiter } from '../../core/auth/rate-limiter.js';
import type { TokenService } from '../../core/auth/token-service.js';
import { AUDIT_FAILED_MESSAGE, auditMiddleware } from '../audit-middleware.js';
import { BEARER } from '../http-contract.js';
import type { HttpEnv } from '../http-env.js';
import { VaultHttpError } from './vault-errors.js';
import { authenticateRequest } from '../request-auth.js';
import { vaultAdminRoutes, type VaultAdminDeps } from './vault-admin-routes.js';
import { vaultAuthRoutes, type VaultAuthDeps } from './vault-auth-routes.js';
import { vaultKvRoutes, type VaultKvDeps } from './vault-kv-routes.js';

export type VaultApiDeps = VaultKvDeps &
  Omit<VaultAuthDeps, 'tokens' | 'auditLog' | 'identities' | 'policies'> & {
    tokens: Pick<TokenService, 'authenticate' | 'get' | 'renew' | 'revoke' | 'create'>;
    identities: VaultAuthDeps['identities'] & VaultAdminDeps['identities'];
    policies: VaultAuthDeps['policies'] & VaultAdminDeps['policies'];
    auditLog: Pick<AuditLog, 'append' | 'appendIn' | 'publishedWhen'>;
    authFailuresPerIp: RateLimiter;
  };

const HEALTH = '/v1/sys/health';
const LOGIN = '/v1/auth/approle/login';

/**
 * The Vault-compatible API, mounted at `/v1`: KV v2 over projects, tokens and AppRole (login, self-service, and
 * the admin side of handing out credentials), `sys/health` and mount discovery. Tokens come in `X-Vault-Token` (or `Authorization: Bearer`); every request but the health check is
 * audited like the native API's, and answered with `Cache-Control: no-store`.
 */
export function vaultApi(deps: VaultApiDeps) {
  const app = new Hono<HttpEnv>();
  const audit = auditMiddleware(deps.auditLog, () => ({ errors: ['internal error', AUDIT_FAILED_MESSAGE] }));

  app.use(async (c, next) => {
    await next();
    c.res.headers.set('cache-control', 'no-store');
  });
  app.use((c, next) => (c.req.path === HEALTH ? next() : audit(c, next)));
  // Asked-for protections Keybox cannot give are refused, never ignored: a wrapped secret id must not go out bare.
  app.use(async (c, next) => {
    if ((c.req.header('x-vault-wrap-ttl') ?? '') !== '') {
      throw new VaultHttpError(400, 'response wrapping (X-Vault-Wrap-TTL) is not supported by Keybox');
    }
    const namespace = c.req.header('x-vault-namespace') ?? '';
    if (namespace !== '' && namespace !== 'root' && namespace !== 'root/') {
      throw new VaultHttpError(400, 'namespaces (X-Vault-Namespace) are not supported by Keybox');
    }
    return next();
  });
  const authenticate: MiddlewareHandler<HttpEnv> = async (c, next) => {
    if (c.req.path === HEALTH || c.req.path === LOGIN) return next();
    const given = c.req.header('x-vault-token');
    const header = given === '' ? undefined : given;
    const bearer = header === undefined ? BEARER.exec(c.req.header('authorization') ?? '')?.[1] : undefined;
    const result = await authenticateRequest(c, header ?? bearer, deps);
    if (result === true) return next();
    const reason = result === undefined ? 'missing' : result.ok ? 'unknown' : result.reason;
    throw new AppError('UNAUTHENTICATED', result === undefined ? 'missing X-Vault-Token' : 'invalid token', undefined, {
      audit: { reason },
    });
  };
  app.use(authenticate);

  app.route('/', vaultAuthRoutes(deps));
  app.route('/', vaultAdminRoutes(deps));
  app.route('/', vaultKvRoutes(deps));
  return app;
}
