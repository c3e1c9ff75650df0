import { randomUUID } from 'node:crypto';
import type { HealthResponse } from '@keybox/sdk';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import type { Logger } from 'pino';
import { AppError } from '../core/app-error.js';
import type { TokenService } from '../core/auth/token-service.js';
import type { ProjectService } from '../core/projects/project-service.js';
import type { SecretService } from '../core/secrets/secret-service.js';
import { handleError } from './error-handler.js';
import type { HttpEnv } from './http-env.js';
import { projectRoutes } from './routes/project-routes.js';
import { bulkReadRoute, secretRoutes } from './routes/secret-routes.js';

export interface AppDeps {
  projects: ProjectService;
  secrets: SecretService;
  tokens: Pick<TokenService, 'authenticate'>;
  logger: Logger;
  version: string;
}

export const MAX_BODY_BYTES = 8 * 1024 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._-]{8,128}$/;

/** The whole HTTP surface as a Hono app: served by main.ts, called directly with `app.request()` in tests. */
export function createApp(deps: AppDeps) {
  const app = new Hono<HttpEnv>();

  app.use(async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const log = deps.logger.child({ requestId });
    c.set('requestId', requestId);
    c.set('log', log);
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
  app.use(secureHeaders({ strictTransportSecurity: 'max-age=31536000', crossOriginResourcePolicy: 'same-origin' }));
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new AppError('PAYLOAD_TOO_LARGE', `request body over ${MAX_BODY_BYTES / 1024 / 1024} MiB`);
      },
    }),
  );

  app.get('/healthz', (c) => c.json<HealthResponse>({ status: 'ok', version: deps.version }));

  app.use('/api/v1/*', async (c, next) => {
    const header = c.req.header('authorization');
    if (header === undefined) throw new AppError('UNAUTHENTICATED', 'missing Authorization: Bearer <token>');
    const match = /^Bearer ([^\s]+)$/i.exec(header);
    if (match === null) throw new AppError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"');
    const result = await deps.tokens.authenticate(match[1] as string);
    if (!result.ok) {
      const reason =
        result.reason === 'malformed'
          ? 'is malformed'
          : result.reason === 'unknown'
            ? 'is not valid'
            : `is ${result.reason}`;
      throw new AppError('UNAUTHENTICATED', `the token ${reason}`);
    }
    c.set('principal', result.principal);
    await next();
  });

  app.route('/api/v1/secrets', bulkReadRoute(deps.secrets));
  app.route('/api/v1/projects', projectRoutes(deps.projects));
  app.route('/api/v1/projects/:project/environments/:env', secretRoutes(deps.secrets));

  app.notFound((c) => {
    throw new AppError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`);
  });
  app.onError(handleError);
  return app;
}

export type App = ReturnType<typeof createApp>;
