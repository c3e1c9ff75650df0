import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthResponse } from '@keybox/sdk';
import type { Logger } from 'pino';
import type { AuditLog } from '../core/audit/audit-log.js';
import type { AuthResult, TokenService } from '../core/auth/token-service.js';
import type { SecretService } from '../core/secrets/secret-service.js';
import { AUDIT_FAILED_MESSAGE, auditEntryOf } from './audit-middleware.js';
import { errorBody } from './error-handler.js';
import { BEARER, REQUEST_ID, SECURITY_HEADERS } from './http-contract.js';
import {
  authorizeBulk,
  bulkQuery,
  type BulkQuery,
  bulkReadAudit,
  bulkScope,
  JSON_UTF8,
} from './routes/secret-routes.js';
import { parseSearchParams } from './validate.js';
import { serveVaultRead, vaultReadOf } from './vault/direct-vault-read.js';

/*
 * `GET /api/v1/secrets` is what every `keybox run` and SDK start asks for, so it is answered straight from node:http:
 * the same token check, policy decision, bulk read, audit entry (the response waits for its commit) and headers as
 * the route in secret-routes.ts, built from the same functions, without the framework's per-request objects (about
 * a third of that request's CPU). Only a request that will succeed is answered here. Anything else (another route, a
 * body, a refused token, a policy refusal, a bad query, a missing folder, any error) goes on to the Hono app, which
 * answers it the one way every other route is answered; a token already checked here travels with the request, so
 * a use-limited token is counted once.
 */

/** The routes this listener answers itself (the authorization matrix also runs them through a real listener). */
export const DIRECT_ROUTES = ['GET /api/v1/secrets', 'GET /v1/:mount/data/*', 'GET /healthz'] as const;

const CHECKED = Symbol('keybox.checkedToken');
const PATH = '/api/v1/secrets';
const HEALTH = '/healthz';

/**
 * The check of `token` the direct path already made for this request, if it did: its result, or its error (not to
 * be retried: it may have counted a use of a use-limited token).
 */
export function checkedToken(incoming: unknown, token: string): Promise<AuthResult> | undefined {
  if (typeof incoming !== 'object' || incoming === null) return undefined;
  const checked = (incoming as { [CHECKED]?: { token: string; check: Promise<AuthResult> } })[CHECKED];
  return checked?.token === token ? checked.check : undefined;
}

export interface DirectBulkReadDeps {
  tokens: Pick<TokenService, 'authenticate'>;
  secrets: Pick<SecretService, 'bulkRead' | 'readFolder'>;
  auditLog: Pick<AuditLog, 'append'>;
  logger: Logger;
  /** The server's version, as `/healthz` gives it. */
  version: string;
}

export type Listener = (req: IncomingMessage, res: ServerResponse) => void;

// Host and request-target forms that @hono/node-server takes as they are (its URL check would change nothing);
// for any other the app decides (a 400, or a normalised URL). Percent-escapes are kept: clients encode `/` in
// `path=%2Fbackend`.
const PLAIN_HOST = /^[a-z0-9._-]+(?::(\d{1,5}))?$/i;
const PLAIN_TARGET = /^\/(?:[!#$&-;=?-[\]_a-z~]|%[0-9A-Fa-f]{2})*$/;
const DOT_SEGMENT = /\/\.\.?(?:[/?#]|$)/;

function plainHost(host: string): boolean {
  const match = PLAIN_HOST.exec(host);
  return match !== null && (match[1] === undefined || Number(match[1]) <= 65535);
}

/**
 * Whether a header node:http keeps only the first of (and the app's adapter joins) is repeated: the two would see
 * different credentials or user agents, so the app answers.
 */
function repeatsOneOf(raw: readonly string[]): boolean {
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const bit = SINGLE_HEADERS.get((raw[i] as string).toLowerCase()) ?? 0;
    if ((seen & bit) !== 0) return true;
    seen |= bit;
  }
  return false;
}
const SINGLE_HEADERS = new Map([
  ['authorization', 1],
  ['user-agent', 2],
  ['host', 4],
  ['x-vault-token', 8],
]);

/**
 * A node:http listener that answers the bulk read (and the Vault KV read of a folder, vault/direct-vault-read.ts)
 * and the health check itself and hands everything else to `next` (the Hono app). The health check is what load
 * balancers ask every few seconds; answered here, a server that only gets those never loads the app's adapter (see
 * listener.ts). It answers what the app's route would: the same body and headers.
 */
export function directBulkRead(deps: DirectBulkReadDeps, next: Listener): Listener {
  const health = Buffer.from(JSON.stringify({ status: 'ok', version: deps.version } satisfies HealthResponse));
  return (req, res) => {
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    // Which of the three this could be, before any other check: every other request goes straight on.
    const bearer = path === PATH ? BEARER.exec(req.headers.authorization ?? '') : null;
    const vaultToken = bearer === null ? req.headers['x-vault-token'] : undefined;
    const vaultRead = typeof vaultToken === 'string' ? vaultReadOf(url) : undefined;
    const healthCheck = path === HEALTH && (req.method === 'GET' || req.method === 'HEAD');
    const read = req.method === 'GET' && (bearer !== null || vaultRead !== undefined);
    const host = req.headers.host;
    if (
      !(read || healthCheck) ||
      req.headers['content-length'] !== undefined ||
      req.headers['transfer-encoding'] !== undefined ||
      // What the app's adapter takes as it is; anything else it may normalise or refuse, so it answers.
      host === undefined ||
      !plainHost(host) ||
      !PLAIN_TARGET.test(url) ||
      DOT_SEGMENT.test(url) ||
      repeatsOneOf(req.rawHeaders)
    ) {
      next(req, res);
      return;
    }
    if (healthCheck) {
      serveHealth(deps, req, res, health);
      return;
    }
    const answer =
      bearer !== null
        ? serve(deps, req, res, bearer[1] as string, query === -1 ? '' : url.slice(query + 1))
        : serveVaultRead(deps, req, res, {
            check: checkToken(deps, req, vaultToken as string),
            requestId: requestIdOf(req),
            read: vaultRead as NonNullable<typeof vaultRead>,
          });
    answer.then(
      (answered) => {
        if (!answered) next(req, res);
      },
      () => {
        // Nothing was sent yet: the app answers (and logs) whatever went wrong, the one way it answers errors.
        if (!res.headersSent) next(req, res);
      },
    );
  };
}

/** `/healthz`: what the app's route answers (a HEAD without the body or its length, as the app's adapter does). */
function serveHealth(deps: DirectBulkReadDeps, req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const started = performance.now();
  const requestId = requestIdOf(req);
  const head = req.method === 'HEAD';
  res.writeHead(200, {
    'content-type': 'application/json',
    ...SECURITY_HEADERS,
    'x-request-id': requestId,
    ...(head ? {} : { 'content-length': String(body.length) }),
  });
  res.end(head ? undefined : body);
  if (deps.logger.isLevelEnabled('info')) {
    const ms = Math.round((performance.now() - started) * 10) / 10;
    deps.logger.info({ requestId, method: req.method, path: HEALTH, status: 200, ms }, 'request');
  }
}

/** Checks a token for a request the direct path serves, and leaves the check on it for the app (see checkedToken). */
export function checkToken(deps: DirectBulkReadDeps, req: IncomingMessage, token: string): Promise<AuthResult> {
  const check = deps.tokens.authenticate(token, req.socket.remoteAddress ?? '');
  (req as unknown as Record<symbol, unknown>)[CHECKED] = { token, check };
  return check;
}

/** The request id to answer with: a well-formed incoming one, or a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const incomingId = req.headers['x-request-id'];
  return typeof incomingId === 'string' && REQUEST_ID.test(incomingId) ? incomingId : randomUUID();
}

// Every start of one app asks with the same query string: parsed and checked once (a bad one throws, uncached).
const QUERIES_MAX = 1000;
const queries = new Map<string, { q: BulkQuery; paths: string[]; resource: string }>();

function parsedQuery(search: string) {
  let parsed = queries.get(search);
  if (parsed === undefined) {
    const q = parseSearchParams(new URLSearchParams(search), bulkQuery);
    parsed = { q, ...bulkScope(q) };
    if (queries.size >= QUERIES_MAX) queries.clear();
    queries.set(search, parsed);
  }
  return parsed;
}

/** Answers the request if it is a bulk read that succeeds; false (nothing sent) for the app to answer instead. */
async function serve(
  deps: DirectBulkReadDeps,
  req: IncomingMessage,
  res: ServerResponse,
  token: string,
  search: string,
): Promise<boolean> {
  const started = performance.now();
  const clientIp = req.socket.remoteAddress ?? '';
  const result = await checkToken(deps, req, token).catch(() => undefined);
  if (result?.ok !== true) return false;
  const { principal } = result;
  const { q, paths, resource } = parsedQuery(search);
  const allow = authorizeBulk(principal, q, paths);
  const ifNoneMatch = req.headers['if-none-match'];
  const outcome = await deps.secrets.bulkRead(q.project, q.env, paths, q.recursive, { ifNoneMatch, allow });

  const requestId = requestIdOf(req);
  const entry = auditEntryOf(
    {
      principal,
      audit: { action: 'secrets.read', resource, details: {}, ...bulkReadAudit(outcome) },
      clientIp,
      userAgent: (req.headers['user-agent'] ?? '').slice(0, 200),
      requestId,
    },
    'success',
    {},
  );
  let status: number = outcome.status;
  try {
    await deps.auditLog.append(entry);
  } catch (error) {
    deps.logger.error({ err: error, requestId }, 'audit entry could not be stored; refusing the response');
    status = 500;
    const body = Buffer.from(JSON.stringify(errorBody('INTERNAL', AUDIT_FAILED_MESSAGE, requestId)));
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'content-length': String(body.length),
      'content-type': 'application/json',
      'x-request-id': requestId,
    });
    res.end(body);
  }
  if (status !== 500) {
    const headers: Record<string, string> = {
      'cache-control': 'no-store',
      ...SECURITY_HEADERS,
      etag: outcome.etag,
      'x-request-id': requestId,
    };
    if (outcome.status === 304) {
      res.writeHead(304, headers);
      res.end();
    } else {
      // Given explicitly: after writeHead, node:http would otherwise send the body chunked.
      headers['content-length'] = String(outcome.body.length);
      headers['content-type'] = JSON_UTF8;
      res.writeHead(200, headers);
      res.end(outcome.body);
    }
  }
  if (deps.logger.isLevelEnabled('info')) {
    const ms = Math.round((performance.now() - started) * 10) / 10;
    deps.logger.info({ requestId, method: 'GET', path: PATH, status, ms }, 'request');
  }
  return true;
}
