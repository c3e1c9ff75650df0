import { randomUUID } from 'node:crypto';
import type { HealthResponse } from '@keybox/sdk';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import { AppError } from '../core/app-error.js';
import type { AuditLog } from '../core/audit/audit-log.js';
import type { IdentityService } from '../core/auth/identity-service.js';
import { createRateLimiter, type RateLimiter } from '../core/auth/rate-limiter.js';
import type { TokenService } from '../core/auth/token-service.js';
import type { UserService } from '../core/auth/user-service.js';
import type { Clock } from '../core/clock.js';
import type { PolicyService } from '../core/policy/policy-service.js';
import type { ManifestService } from '../core/manifests/manifest-service.js';
import type { ProjectService } from '../core/projects/project-service.js';
import type { ServerStatus } from '../core/status/server-status.js';
import type { ChangeFeed } from '../core/secrets/change-feed.js';
import type { SecretService } from '../core/secrets/secret-service.js';
import { auditMiddleware } from './audit-middleware.js';
import { BEARER, REQUEST_ID, SECURITY_HEADERS } from './http-contract.js';
import { handleError } from './error-handler.js';
import { authenticateRequest } from './request-auth.js';
import type { HttpEnv } from './http-env.js';
import { accessRoutes } from './routes/access-routes.js';
import { auditRoutes, type AuditRouteDeps } from './routes/audit-routes.js';
import { backupRoutes } from './routes/backup-routes.js';
import type { BackupService } from '../core/backup/backup-service.js';
import { authRoutes } from './routes/auth-routes.js';
import { clearSession, sessionCookieOf, sessionRoutes, sessionToken } from './routes/session-routes.js';
import { webRoutes } from '../web/web-routes.js';
import { manifestRoutes } from './routes/manifest-routes.js';
import { projectRoutes } from './routes/project-routes.js';
import { bulkReadRoute, secretRoutes } from './routes/secret-routes.js';
import { vaultApi } from './vault/vault-api.js';
import { isVaultPath, vaultErrorResponse } from './vault/vault-errors.js';

export interface AppLimits {
  /** Login attempts per client address. */
  loginPerIp: RateLimiter;
  /** Login attempts per identity or user name. */
  loginPerName: RateLimiter;
  /** Requests with a bad token per client address. */
  authFailuresPerIp: RateLimiter;
}

export interface AppDeps {
  projects: ProjectService;
  secrets: SecretService;
  changes: ChangeFeed;
  tokens: TokenService;
  identities: IdentityService;
  users: UserService;
  policies: PolicyService;
  auditLog: Pick<AuditLog, 'append' | 'appendIn' | 'publishedWhen'>;
  audit: AuditRouteDeps;
  manifests: ManifestService;
  backups: BackupService;
  /** What `/api/secrets/status` answers. */
  status: () => Promise<ServerStatus>;
  logger: Logger;
  clock: Clock;
  version: string;
  limits?: Partial<AppLimits>;
  /** Where the web UI's built files are (dist/web-ui): the UI is served at / when this is given. */
  webRoot?: string;
}

export const MAX_BODY_BYTES = 8 * 1024 * 1024;
const PUBLIC_ROUTES = new Set(['/api/v1/auth/login', '/api/v1/auth/user-login']);
/** Starting a web UI session needs no token (a password or the token is in the body); ending one does. */
const SESSION_PATH = '/api/v1/auth/session';

const SECURITY_ENTRIES = Object.entries(SECURITY_HEADERS);

export function defaultLimits(clock: Clock): AppLimits {
  return {
    loginPerIp: createRateLimiter({ capacity: 30, perSeconds: 60, clock }),
    loginPerName: createRateLimiter({ capacity: 10, perSeconds: 60, clock }),
    authFailuresPerIp: createRateLimiter({ capacity: 60, perSeconds: 60, clock }),
  };
}

/** The client's address from the socket (node server), or '' where there is none (app.request in tests). */
function clientIpOf(c: Context<HttpEnv>): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? '';
}

/** The whole HTTP surface as a Hono app: served by main.ts, called directly with `app.request()` in tests. */
export function createApp(deps: AppDeps) {
  const app = new Hono<HttpEnv>();
  const limits = { ...defaultLimits(deps.clock), ...deps.limits };

  app.use(async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const log = deps.logger.child({ requestId });
    c.set('requestId', requestId);
    c.set('log', log);
    c.set('clientIp', clientIpOf(c));
    c.set('userAgent', (c.req.header('user-agent') ?? '').slice(0, 200));
    c.header('x-request-id', requestId);
    const started = performance.now();
    await next();
    // The path is logged without its query string; no header, body or value is.
    log.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      },
      'request',
    );
  });
  app.use(async (c, next) => {
    await next();
    for (const [name, value] of SECURITY_ENTRIES) c.res.headers.set(name, value);
  });
  const limitBody: MiddlewareHandler<HttpEnv> = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new AppError('PAYLOAD_TOO_LARGE', `request body over ${MAX_BODY_BYTES / 1024 / 1024} MiB`);
    },
  });
  // No GET or HEAD route reads a body; asking whether there is one would build a whole Request per call.
  const limitBodies: MiddlewareHandler<HttpEnv> = (c, next) =>
    c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limitBody(c, next);
  app.use('/api/*', limitBodies);
  app.use('/v1/*', limitBodies);

  app.get('/healthz', (c) => c.json<HealthResponse>({ status: 'ok', version: deps.version }));
  // For monitors, without a token: states, counts and ages only — no value and no name.
  app.get('/api/secrets/status', async (c) => {
    const status = await deps.status();
    c.header('cache-control', 'no-store');
    return c.json(status, status.status === 'ok' ? 200 : 503);
  });

  app.use('/api/v1/*', auditMiddleware(deps.auditLog));
  app.use('/api/v1/*', async (c, next) => {
    if (PUBLIC_ROUTES.has(c.req.path) || (c.req.path === SESSION_PATH && c.req.method === 'POST')) return next();
    const header = c.req.header('authorization');
    // No Authorization header: the web UI's session cookie, honoured only on the UI's own requests.
    const session = header === undefined ? sessionCookieOf(c) : undefined;
    if (session !== undefined) {
      const token = sessionToken(c, session, limits.authFailuresPerIp);
      const result = await authenticateRequest(c, token, {
        tokens: deps.tokens,
        authFailuresPerIp: limits.authFailuresPerIp,
      });
      if (result === true) {
        c.set('sessionMode', session === 'several' ? undefined : session.mode);
        return next();
      }
      clearSession(c);
      throw new AppError('UNAUTHENTICATED', 'the session has ended: sign in again', undefined, {
        audit: { reason: result?.ok === false ? result.reason : 'unknown', via: 'session cookie' },
      });
    }
    const match = header === undefined ? null : BEARER.exec(header);
    const result = await authenticateRequest(c, match?.[1], {
      tokens: deps.tokens,
      authFailuresPerIp: limits.authFailuresPerIp,
    });
    if (result === true) return next();
    if (header === undefined) throw new AppError('UNAUTHENTICATED', 'missing Authorization: Bearer <token>');
    if (match === null || result === undefined) {
      throw new AppError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"');
    }
    const reason = result.ok ? 'is not valid' : describeFailure(result.reason);
    throw new AppError('UNAUTHENTICATED', `the token ${reason}`, undefined, {
      audit: { reason: result.ok ? 'unknown' : result.reason },
    });
  });

  app.route(
    '/api/v1/auth',
    authRoutes({
      identities: deps.identities,
      users: deps.users,
      tokens: deps.tokens,
      limits,
      auditLog: deps.auditLog,
    }),
  );
  app.route('/api/v1/auth', sessionRoutes({ users: deps.users, tokens: deps.tokens, limits, auditLog: deps.auditLog }));
  app.route('/api/v1/secrets', bulkReadRoute({ secrets: deps.secrets, changes: deps.changes }));
  app.route('/api/v1/projects', projectRoutes({ projects: deps.projects, auditLog: deps.auditLog }));
  app.route(
    '/api/v1/projects/:project/environments/:env',
    secretRoutes({ secrets: deps.secrets, auditLog: deps.auditLog }),
  );
  app.route(
    '/api/v1/projects/:project/environments/:env',
    manifestRoutes({ manifests: deps.manifests, auditLog: deps.auditLog }),
  );
  app.route('/api/v1/audit', auditRoutes(deps.audit));
  app.route('/api/v1/sys', backupRoutes({ backups: deps.backups, auditLog: deps.auditLog }));
  app.route(
    '/api/v1',
    accessRoutes({
      identities: deps.identities,
      users: deps.users,
      tokens: deps.tokens,
      policies: deps.policies,
      auditLog: deps.auditLog,
      limits,
    }),
  );

  app.route(
    '/v1',
    vaultApi({
      secrets: deps.secrets,
      projects: deps.projects,
      tokens: deps.tokens,
      identities: deps.identities,
      policies: deps.policies,
      limits,
      authFailuresPerIp: limits.authFailuresPerIp,
      auditLog: deps.auditLog,
      clock: deps.clock,
      version: deps.version,
    }),
  );

  if (deps.webRoot !== undefined) app.route('/', webRoutes({ webRoot: deps.webRoot }));

  app.notFound((c) => {
    if (isVaultPath(c.req.path)) throw new AppError('NOT_FOUND', `no handler for route "${c.req.path.slice(4)}"`);
    throw new AppError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`);
  });
  app.onError((error, c) => (isVaultPath(c.req.path) ? vaultErrorResponse(error, c) : handleError(error, c)));
  return app;
}

function describeFailure(reason: string): string {
  switch (reason) {
    case 'malformed':
      return 'is malformed';
    case 'unknown':
      return 'is not valid';
    case 'address':
      return 'may not be used from this address';
    default:
      return `is ${reason}`;
  }
}

export type App = ReturnType<typeof createApp>;
