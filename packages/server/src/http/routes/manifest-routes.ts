import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog } from '../../core/audit/audit-log.js';
import type { ManifestService } from '../../core/manifests/manifest-service.js';
import { auditAs, txAudit } from '../audit-middleware.js';
import { allows, authorize } from '../authorize.js';
import type { HttpEnv } from '../http-env.js';
import { parseBody } from '../validate.js';

/**
 * `/api/v1/projects/:project/environments/:env/manifest`: an app's declared secrets stored with the environment, and
 * for each, the folders where a secret of that name exists (names only) — what the UI shows as "expected and set".
 */
export function manifestRoutes({
  manifests,
  auditLog,
}: {
  manifests: ManifestService;
  auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>;
}) {
  const app = new Hono<HttpEnv>();

  app.get('/manifest', async (c) => {
    const project = c.req.param('project') ?? '';
    const env = c.req.param('env') ?? '';
    auditAs(c, 'manifest.read', `${project}/${env}`);
    // Listing the whole environment: the answer says where names exist, folder by folder.
    authorize(c, { capability: 'list', project, env, path: '/' });
    const stored = await manifests.get(project, env, (path) => allows(c, { capability: 'list', project, env, path }));
    return c.json(stored);
  });

  app.put('/manifest', async (c) => {
    const project = c.req.param('project') ?? '';
    const env = c.req.param('env') ?? '';
    auditAs(c, 'manifest.put', `${project}/${env}`);
    authorize(c, { capability: 'admin', project, env });
    // Any JSON: the manifest's own parser checks it and names every issue.
    const body = await parseBody(c, z.unknown());
    await manifests.put(project, env, body, c.get('principal').actor, txAudit(c, auditLog));
    return c.body(null, 204);
  });

  return app;
}
