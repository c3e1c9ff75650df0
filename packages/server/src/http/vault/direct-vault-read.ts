import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AuditLog } from '../../core/audit/audit-log.js';
import type { AuthResult } from '../../core/auth/token-service.js';
import { assertPath } from '../../core/secrets/locations.js';
import type { SecretService } from '../../core/secrets/secret-service.js';
import { AUDIT_FAILED_MESSAGE, auditEntryOf } from '../audit-middleware.js';
import { authorizePrincipal } from '../authorize.js';
import { SECURITY_HEADERS } from '../http-contract.js';
import { bulkReadAudit } from '../routes/secret-routes.js';
import { kvReadBody } from './vault-envelope.js';

/*
 * `GET /v1/<project>/data/<env>/<folder>` with an X-Vault-Token is what Vault Agent, External Secrets and Vault SDKs
 * poll, so the listener answers it as it answers the bulk read (direct-bulk-read.ts): the same token check, policy
 * decision, folder read, audit entry and bytes as the route in vault-kv-routes.ts, without the framework. Only a
 * read that succeeds with live secrets is answered here; anything else (a query string such as ?version=, a refusal,
 * a missing or deleted folder, any error) goes on to the app.
 */

/** A KV data path with no query string, percent-escape or empty segment: `/v1/<project>/data/<env>[/<folder>]`. */
const DATA_PATH = /^\/v1\/([^/%?]+)\/data\/([^/%?]+)((?:\/[^/%?]+)*)\/?$/;

export interface VaultRead {
  project: string;
  env: string;
  path: string;
}

/** The folder a request target reads, if it is a plain KV data read; otherwise the app decides. */
export function vaultReadOf(url: string): VaultRead | undefined {
  const match = DATA_PATH.exec(url);
  if (match === null) return undefined;
  try {
    return { project: match[1] as string, env: match[2] as string, path: assertPath(match[3] || '/') };
  } catch {
    return undefined;
  }
}

export interface DirectVaultReadDeps {
  secrets: Pick<SecretService, 'readFolder'>;
  auditLog: Pick<AuditLog, 'append'>;
  logger: Logger;
}

/** Answers the read if it succeeds; false (nothing sent) for the app to answer instead. */
export async function serveVaultRead(
  deps: DirectVaultReadDeps,
  req: IncomingMessage,
  res: ServerResponse,
  request: { check: Promise<AuthResult>; requestId: string; read: VaultRead },
): Promise<boolean> {
  const started = performance.now();
  const { project, env, path } = request.read;
  const result = await request.check.catch(() => undefined);
  if (result?.ok !== true) return false;
  const { principal } = result;
  try {
    authorizePrincipal(principal, { capability: 'read', project, env, path });
  } catch {
    return false;
  }
  const read = await deps.secrets.readFolder(project, env, path);
  if (read.count === 0) return false;

  const { requestId } = request;
  const entry = auditEntryOf(
    {
      principal,
      audit: {
        action: 'vault.kv.read',
        resource: `${project}/${env}:${path}`,
        details: {},
        ...bulkReadAudit({ status: 200, folders: read.folders }),
      },
      clientIp: req.socket.remoteAddress ?? '',
      userAgent: (req.headers['user-agent'] ?? '').slice(0, 200),
      requestId,
    },
    'success',
    {},
  );
  let status = 200;
  let body: Buffer;
  try {
    await deps.auditLog.append(entry);
    body = Buffer.from(kvReadBody(requestId, read));
  } catch (error) {
    deps.logger.error({ err: error, requestId }, 'audit entry could not be stored; refusing the response');
    status = 500;
    body = Buffer.from(JSON.stringify({ errors: ['internal error', AUDIT_FAILED_MESSAGE] }));
  }
  // Given explicitly: after writeHead, node:http would otherwise send the body chunked.
  res.writeHead(status, {
    'x-request-id': requestId,
    'content-type': 'application/json',
    ...SECURITY_HEADERS,
    'cache-control': 'no-store',
    'content-length': String(body.length),
  });
  res.end(body);
  if (deps.logger.isLevelEnabled('info')) {
    const ms = Math.round((performance.now() - started) * 10) / 10;
    deps.logger.info({ requestId, method: 'GET', path: req.url, status, ms }, 'request');
  }
  return true;
}
