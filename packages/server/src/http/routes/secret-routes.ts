import { Hono, type Context } from 'hono';
import { isWithinFolder } from '@keybox/sdk';
import { z } from 'zod';
import { invalidInput } from '../../core/app-error.js';
import type { AuditLog } from '../../core/audit/audit-log.js';
import type { Principal } from '../../core/auth/principal.js';
import { decide, mayReachBelow } from '../../core/policy/policy-engine.js';
import type { Capability } from '../../core/policy/policy-rules.js';
import type { ChangeFeed } from '../../core/secrets/change-feed.js';
import type { BulkReadOutcome, SecretService, Scope } from '../../core/secrets/secret-service.js';
import { namesList, namesRef, type NamesList } from '../../core/audit/audit-names.js';
import { auditAs, txAudit } from '../audit-middleware.js';
import { authorizePrincipal } from '../authorize.js';
import type { HttpEnv } from '../http-env.js';
import { boolParam, intParam, parseBody, parseQuery } from '../validate.js';
import { assertPath } from '../../core/secrets/locations.js';

const value = z.string();
const version = z.number().int().min(0);

export const bulkQuery = z.object({
  project: z.string().min(1),
  env: z.string().min(1),
  path: z.union([z.string(), z.array(z.string()).max(50)]).optional(),
  recursive: boolParam,
});
const pathQuery = z.object({ path: z.string().optional() });
const listQuery = z.object({ path: z.string().optional(), recursive: boolParam, deleted: boolParam });
const getQuery = z.object({ path: z.string().optional(), version: intParam.optional() });
const deleteQuery = z.object({
  path: z.string().optional(),
  ifVersion: intParam.optional(),
  ifRevision: intParam.optional(),
});
const historyQuery = z.object({ path: z.string().optional(), limit: intParam.optional() });

const change = z.union([
  z.object({ name: z.string(), value, ifVersion: version.optional() }).strict(),
  z.object({ name: z.string(), delete: z.literal(true), ifVersion: version.optional() }).strict(),
]);
const batchBody = z.object({ changes: z.array(change).min(1).max(1000), ifRevision: version.optional() });
const putBody = z.object({ value, ifVersion: version.optional(), ifRevision: version.optional() });
const rollbackBody = z.object({ toVersion: version.min(1), ifVersion: version.optional() });
const folderRollbackBody = z
  .object({ toRevision: version.optional(), toTime: z.string().optional(), ifRevision: version.optional() })
  .refine((b) => (b.toRevision === undefined) !== (b.toTime === undefined), 'give exactly one of toRevision, toTime');

export interface SecretRouteDeps {
  secrets: SecretService;
  auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>;
}

/** The scope of a route under /projects/:project/environments/:env, checked against the caller's policies. */
function scopeOf(c: Context<HttpEnv>, rawPath: string | undefined): Scope {
  return { project: c.req.param('project') ?? '', env: c.req.param('env') ?? '', path: assertPath(rawPath ?? '/') };
}

function resourceOf(scope: Scope, name?: string): string {
  return `${scope.project}/${scope.env}:${scope.path}${name === undefined ? '' : `#${name}`}`;
}

/**
 * Authorizes a folder-scoped request: exactly the folder, or (recursive) anything at or below it that the caller's
 * policies reach. Returns the per-folder filter for recursive reads and listings.
 */
function authorizeFolder(principal: Principal, capability: Capability, scope: Scope, recursive: boolean) {
  const request = { capability, project: scope.project, env: scope.env, path: scope.path };
  if (!recursive) {
    authorizePrincipal(principal, request);
    return undefined;
  }
  const allowed = (path: string) => decide(principal.policies, { ...request, path }).allowed;
  if (!allowed(scope.path) && !mayReachBelow(principal.policies, request)) authorizePrincipal(principal, request);
  return allowed;
}

export type BulkQuery = z.infer<typeof bulkQuery>;

/** The folders of a bulk read or watch, normalised, and how the audit log names them. */
export function bulkScope(q: BulkQuery): { paths: string[]; resource: string } {
  const paths = (q.path === undefined ? ['/'] : typeof q.path === 'string' ? [q.path] : q.path).map(assertPath);
  return { paths, resource: `${q.project}/${q.env}:${paths.join(',')}${q.recursive ? ' (recursive)' : ''}` };
}

/** Authorizes reading those folders; for a recursive read, returns the filter of the folders it may return. */
export function authorizeBulk(principal: Principal, q: BulkQuery, paths: readonly string[]) {
  const filters = paths.map((path) =>
    authorizeFolder(principal, 'read', { project: q.project, env: q.env, path }, q.recursive),
  );
  return q.recursive ? (path: string) => filters.some((f) => f?.(path) === true) : undefined;
}

/** The folders of a bulk read or watch, named in the audit entry and authorized for reading. */
function readScope(c: Context<HttpEnv>, q: BulkQuery, action: string) {
  const { paths, resource } = bulkScope(q);
  auditAs(c, action, resource);
  return { paths, allow: authorizeBulk(c.get('principal'), q, paths) };
}

/**
 * What a bulk read records in the audit log: every folder served with its revision and its names and versions,
 * never a value. The names list is the folder's stored index (JSON written by the store), referenced by hash and
 * stored once (core/audit/audit-names.ts): at 200 secrets, writing and hashing the whole list into every entry was
 * the largest cost of the read. The route and the direct listener (direct-bulk-read.ts) both record this.
 */
export function bulkReadAudit(outcome: Pick<BulkReadOutcome, 'status' | 'folders'>): {
  detailsJson: string;
  namesLists: NamesList[];
} {
  // An unchanged scope serves the same folder index object on every read: the same text (the same string, which
  // the audit chain's canonical form can then reuse too) until it changes.
  let kept = auditOf.get(outcome.folders);
  if (kept === undefined) {
    const namesLists: NamesList[] = [];
    const folders = outcome.folders.map((f) => {
      let secrets = '[]';
      if (f.names !== null) {
        const list = namesList(f.names);
        namesLists.push(list);
        secrets = namesRef(list.hash);
      }
      return `{"path":${JSON.stringify(f.path)},"revision":${f.revision},"secrets":${secrets}}`;
    });
    const json = `{"folders":[${folders.join(',')}]`;
    kept = { served: `${json}}`, notModified: `${json},"notModified":true}`, namesLists };
    auditOf.set(outcome.folders, kept);
  }
  return { detailsJson: outcome.status === 304 ? kept.notModified : kept.served, namesLists: kept.namesLists };
}
const auditOf = new WeakMap<
  BulkReadOutcome['folders'],
  { served: string; notModified: string; namesLists: NamesList[] }
>();

export const JSON_UTF8 = 'application/json; charset=utf-8';

const watchQuery = bulkQuery.extend({
  etag: z.string().max(100).optional(),
  wait: intParam.optional(),
});

export const WATCH_MAX_WAIT_SECONDS = 60;

/** `GET /api/v1/secrets` (the bulk read `keybox run` makes) and `GET /api/v1/secrets/watch`. */
export function bulkReadRoute({ secrets, changes }: Pick<SecretRouteDeps, 'secrets'> & { changes: ChangeFeed }) {
  const app = new Hono<HttpEnv>();

  /**
   * Long poll: answers at once when the scope's ETag differs from `etag`, else when a change in the scope is
   * committed (through this server, or another one on the same PostgreSQL database), else after `wait` seconds
   * (default 25), with `{ changed, etag }`.
   */
  app.get('/watch', async (c) => {
    const q = parseQuery(c, watchQuery);
    const { paths, allow } = readScope(c, q, 'secrets.watch');
    const current = () => secrets.scopeEtag(q.project, q.env, paths, q.recursive, allow);
    let etag = await current();
    const wait = Math.min(q.wait ?? 25, WATCH_MAX_WAIT_SECONDS);
    if (etag === q.etag && wait > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          unsubscribe();
          resolve();
        };
        const timer = setTimeout(done, wait * 1000);
        const unsubscribe = changes.subscribe((change) => {
          // A folder the caller may not read must not wake it: its changes are none of its business.
          const inScope =
            change.project === q.project &&
            change.env === q.env &&
            paths.some((p) => (q.recursive ? isWithinFolder(change.path, p) : change.path === p)) &&
            (allow === undefined || allow(change.path));
          if (inScope) done();
        });
        c.req.raw.signal.addEventListener('abort', done, { once: true });
      });
      etag = await current();
    }
    c.get('audit').details['changed'] = etag !== q.etag;
    c.header('cache-control', 'no-store');
    return c.json({ changed: etag !== q.etag, etag });
  });

  app.get('/', async (c) => {
    const q = parseQuery(c, bulkQuery);
    const { paths, allow } = readScope(c, q, 'secrets.read');
    const outcome = await secrets.bulkRead(q.project, q.env, paths, q.recursive, {
      ifNoneMatch: c.req.header('if-none-match'),
      allow,
    });
    Object.assign(c.get('audit'), bulkReadAudit(outcome));
    c.header('etag', outcome.etag);
    c.header('cache-control', 'no-store');
    if (outcome.status === 304) return c.body(null, 304);
    c.header('content-type', JSON_UTF8);
    return c.body(outcome.body);
  });
  return app;
}

/** Everything under `/api/v1/projects/:project/environments/:env`. */
export function secretRoutes({ secrets, auditLog }: SecretRouteDeps) {
  const app = new Hono<HttpEnv>();
  const actorOf = (c: Context<HttpEnv>) => c.get('principal').actor;

  app.get('/secrets', async (c) => {
    const q = parseQuery(c, listQuery);
    const scope = scopeOf(c, q.path);
    auditAs(c, 'secrets.list', resourceOf(scope));
    const allow = authorizeFolder(c.get('principal'), 'list', scope, q.recursive);
    const list = await secrets.list(scope, { recursive: q.recursive, includeDeleted: q.deleted, allow });
    return c.json({ secrets: list });
  });

  app.post('/secrets', async (c) => {
    const q = parseQuery(c, pathQuery);
    const scope = scopeOf(c, q.path);
    auditAs(c, 'secrets.write', resourceOf(scope));
    const body = await parseBody(c, batchBody);
    if (body.changes.some((ch) => !('delete' in ch))) authorizeFolder(c.get('principal'), 'write', scope, false);
    if (body.changes.some((ch) => 'delete' in ch)) authorizeFolder(c.get('principal'), 'delete', scope, false);
    const result = await secrets.applyChanges(scope, body.changes, {
      actor: actorOf(c),
      ifRevision: body.ifRevision,
      audit: txAudit(c, auditLog),
    });
    return c.json(result);
  });

  app.get('/secrets/:name', async (c) => {
    const q = parseQuery(c, getQuery);
    const scope = scopeOf(c, q.path);
    const name = c.req.param('name');
    auditAs(c, 'secret.read', resourceOf(scope, name));
    authorizeFolder(c.get('principal'), 'read', scope, false);
    const secret = await secrets.get(scope, name, q.version);
    c.get('audit').details['version'] = secret.version;
    c.header('cache-control', 'no-store');
    return c.json({ secret });
  });

  app.put('/secrets/:name', async (c) => {
    const q = parseQuery(c, pathQuery);
    const scope = scopeOf(c, q.path);
    const name = c.req.param('name');
    auditAs(c, 'secrets.write', resourceOf(scope, name));
    authorizeFolder(c.get('principal'), 'write', scope, false);
    const body = await parseBody(c, putBody);
    const result = await secrets.applyChanges(scope, [{ name, value: body.value, ifVersion: body.ifVersion }], {
      actor: actorOf(c),
      ifRevision: body.ifRevision,
      audit: txAudit(c, auditLog),
    });
    return c.json(result);
  });

  app.delete('/secrets/:name', async (c) => {
    const q = parseQuery(c, deleteQuery);
    const scope = scopeOf(c, q.path);
    const name = c.req.param('name');
    auditAs(c, 'secrets.delete', resourceOf(scope, name));
    authorizeFolder(c.get('principal'), 'delete', scope, false);
    const result = await secrets.applyChanges(scope, [{ name, delete: true, ifVersion: q.ifVersion }], {
      actor: actorOf(c),
      ifRevision: q.ifRevision,
      audit: txAudit(c, auditLog),
    });
    return c.json(result);
  });

  app.get('/secrets/:name/versions', async (c) => {
    const q = parseQuery(c, pathQuery);
    const scope = scopeOf(c, q.path);
    const name = c.req.param('name');
    auditAs(c, 'secret.history', resourceOf(scope, name));
    authorizeFolder(c.get('principal'), 'list', scope, false);
    return c.json({ versions: await secrets.history(scope, name) });
  });

  app.post('/secrets/:name/rollback', async (c) => {
    const q = parseQuery(c, pathQuery);
    const scope = scopeOf(c, q.path);
    const name = c.req.param('name');
    auditAs(c, 'secret.rollback', resourceOf(scope, name));
    authorizeFolder(c.get('principal'), 'write', scope, false);
    const body = await parseBody(c, rollbackBody);
    const result = await secrets.rollbackSecret(scope, name, body.toVersion, {
      actor: actorOf(c),
      ifVersion: body.ifVersion,
      audit: txAudit(c, auditLog),
    });
    return c.json(result);
  });

  app.post('/secrets/:name/versions/:version/destroy', async (c) => {
    const q = parseQuery(c, pathQuery);
    const scope = scopeOf(c, q.path);
    const name = c.req.param('name');
    auditAs(c, 'secret.destroy', resourceOf(scope, name));
    authorizeFolder(c.get('principal'), 'delete', scope, false);
    const v = intParam.safeParse(c.req.param('version'));
    if (!v.success) throw invalidInput('the version in the URL is not a number');
    await secrets.destroyVersion(scope, name, v.data, { actor: actorOf(c), audit: txAudit(c, auditLog) });
    return c.body(null, 204);
  });

  app.get('/folders', async (c) => {
    const q = parseQuery(c, pathQuery);
    const scope = scopeOf(c, q.path);
    auditAs(c, 'folders.list', resourceOf(scope));
    const allow = authorizeFolder(c.get('principal'), 'list', scope, true);
    return c.json({ folders: await secrets.listFolders(scope, { allow }) });
  });

  app.get('/folders/history', async (c) => {
    const q = parseQuery(c, historyQuery);
    const scope = scopeOf(c, q.path);
    auditAs(c, 'folder.history', resourceOf(scope));
    authorizeFolder(c.get('principal'), 'list', scope, false);
    return c.json({ revisions: await secrets.folderHistory(scope, q.limit ?? 50) });
  });

  app.post('/folders/rollback', async (c) => {
    const q = parseQuery(c, pathQuery);
    const scope = scopeOf(c, q.path);
    auditAs(c, 'folder.rollback', resourceOf(scope));
    // A folder rollback can set and delete anything in the folder.
    authorizeFolder(c.get('principal'), 'write', scope, false);
    authorizeFolder(c.get('principal'), 'delete', scope, false);
    const body = await parseBody(c, folderRollbackBody);
    const result = await secrets.rollbackFolder(
      scope,
      { toRevision: body.toRevision, toTime: body.toTime },
      { actor: actorOf(c), ifRevision: body.ifRevision, audit: txAudit(c, auditLog) },
    );
    return c.json(result);
  });

  return app;
}
