import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { invalidInput } from '../../core/app-error.js';
import type { SecretService, Scope } from '../../core/secrets/secret-service.js';
import type { HttpEnv } from '../http-env.js';
import { boolParam, intParam, parseBody, parseQuery } from '../validate.js';

const value = z.string();
const version = z.number().int().min(0);

const bulkQuery = z.object({
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

function scopeOf(c: Context<HttpEnv>, path: string | undefined): Scope {
  return { project: c.req.param('project') ?? '', env: c.req.param('env') ?? '', path: path ?? '/' };
}

/** `GET /api/v1/secrets`: the bulk read `keybox run` makes. */
export function bulkReadRoute(secrets: SecretService) {
  const app = new Hono<HttpEnv>();
  app.get('/', async (c) => {
    const q = parseQuery(c, bulkQuery);
    const paths = q.path === undefined ? ['/'] : typeof q.path === 'string' ? [q.path] : q.path;
    const outcome = await secrets.bulkRead(q.project, q.env, paths, q.recursive, c.req.header('if-none-match'));
    c.header('etag', outcome.etag);
    c.header('cache-control', 'no-store');
    if (outcome.status === 304) return c.body(null, 304);
    c.header('content-type', 'application/json; charset=utf-8');
    return c.body(outcome.body);
  });
  return app;
}

/** Everything under `/api/v1/projects/:project/environments/:env`. */
export function secretRoutes(secrets: SecretService) {
  const app = new Hono<HttpEnv>();

  app.get('/secrets', async (c) => {
    const q = parseQuery(c, listQuery);
    const list = await secrets.list(scopeOf(c, q.path), { recursive: q.recursive, includeDeleted: q.deleted });
    return c.json({ secrets: list });
  });

  app.post('/secrets', async (c) => {
    const q = parseQuery(c, pathQuery);
    const body = await parseBody(c, batchBody);
    const result = await secrets.applyChanges(scopeOf(c, q.path), body.changes, {
      actor: c.get('principal').actor,
      ifRevision: body.ifRevision,
    });
    return c.json(result);
  });

  app.get('/secrets/:name', async (c) => {
    const q = parseQuery(c, getQuery);
    c.header('cache-control', 'no-store');
    return c.json({ secret: await secrets.get(scopeOf(c, q.path), c.req.param('name'), q.version) });
  });

  app.put('/secrets/:name', async (c) => {
    const q = parseQuery(c, pathQuery);
    const body = await parseBody(c, putBody);
    const result = await secrets.applyChanges(
      scopeOf(c, q.path),
      [{ name: c.req.param('name'), value: body.value, ifVersion: body.ifVersion }],
      { actor: c.get('principal').actor, ifRevision: body.ifRevision },
    );
    return c.json(result);
  });

  app.delete('/secrets/:name', async (c) => {
    const q = parseQuery(c, deleteQuery);
    const result = await secrets.applyChanges(
      scopeOf(c, q.path),
      [{ name: c.req.param('name'), delete: true, ifVersion: q.ifVersion }],
      { actor: c.get('principal').actor, ifRevision: q.ifRevision },
    );
    return c.json(result);
  });

  app.get('/secrets/:name/versions', async (c) => {
    const q = parseQuery(c, pathQuery);
    return c.json({ versions: await secrets.history(scopeOf(c, q.path), c.req.param('name')) });
  });

  app.post('/secrets/:name/rollback', async (c) => {
    const q = parseQuery(c, pathQuery);
    const body = await parseBody(c, rollbackBody);
    const result = await secrets.rollbackSecret(scopeOf(c, q.path), c.req.param('name'), body.toVersion, {
      actor: c.get('principal').actor,
      ifVersion: body.ifVersion,
    });
    return c.json(result);
  });

  app.post('/secrets/:name/versions/:version/destroy', async (c) => {
    const q = parseQuery(c, pathQuery);
    const v = intParam.safeParse(c.req.param('version'));
    if (!v.success) throw invalidInput('the version in the URL is not a number');
    await secrets.destroyVersion(scopeOf(c, q.path), c.req.param('name'), v.data, {
      actor: c.get('principal').actor,
    });
    return c.body(null, 204);
  });

  app.get('/folders', async (c) => {
    const q = parseQuery(c, pathQuery);
    return c.json({ folders: await secrets.listFolders(scopeOf(c, q.path)) });
  });

  app.get('/folders/history', async (c) => {
    const q = parseQuery(c, historyQuery);
    return c.json({ revisions: await secrets.folderHistory(scopeOf(c, q.path), q.limit ?? 50) });
  });

  app.post('/folders/rollback', async (c) => {
    const q = parseQuery(c, pathQuery);
    const body = await parseBody(c, folderRollbackBody);
    const result = await secrets.rollbackFolder(
      scopeOf(c, q.path),
      { toRevision: body.toRevision, toTime: body.toTime },
      { actor: c.get('principal').actor, ifRevision: body.ifRevision },
    );
    return c.json(result);
  });

  return app;
}
