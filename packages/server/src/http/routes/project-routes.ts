import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog } from '../../core/audit/audit-log.js';
import { canSeeProject } from '../../core/policy/policy-engine.js';
import type { ProjectService } from '../../core/projects/project-service.js';
import { auditAs, txAudit } from '../audit-middleware.js';
import { authorize } from '../authorize.js';
import type { HttpEnv } from '../http-env.js';
import { boolParam, parseBody, parseQuery } from '../validate.js';
import { AppError } from '../../core/app-error.js';

const createProjectBody = z.object({
  slug: z.string().max(64),
  name: z.string().max(200).optional(),
  environments: z.array(z.string().max(64)).max(50).optional(),
});
const renameBody = z.object({ name: z.string().max(200) });
const createEnvBody = z.object({ slug: z.string().max(64), name: z.string().max(200).optional() });
const forceQuery = z.object({ force: boolParam });

export function projectRoutes({
  projects,
  auditLog,
}: {
  projects: ProjectService;
  auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>;
}) {
  const app = new Hono<HttpEnv>();

  /** A project the caller has no rule for is reported as forbidden, whether it exists or not. */
  function assertVisible(c: Parameters<typeof authorize>[0], project: string) {
    if (!canSeeProject(c.get('principal').policies, project)) {
      throw new AppError('FORBIDDEN', `${c.get('principal').actor} has no access to project ${project}`, undefined, {
        audit: { reason: 'no-rule' },
      });
    }
  }

  app.get('/', async (c) => {
    auditAs(c, 'projects.list', 'projects');
    const policies = c.get('principal').policies;
    // Only the projects the caller has some access to: listing never reveals the others.
    const visible = (await projects.list()).filter((p) => canSeeProject(policies, p.slug));
    return c.json({ projects: visible });
  });

  app.post('/', async (c) => {
    const body = await parseBody(c, createProjectBody);
    auditAs(c, 'project.create', `project:${body.slug}`);
    authorize(c, { capability: 'admin', project: body.slug });
    return c.json({ project: await projects.create(body, txAudit(c, auditLog)) }, 201);
  });

  app.get('/:project', async (c) => {
    const slug = c.req.param('project');
    auditAs(c, 'project.read', `project:${slug}`);
    assertVisible(c, slug);
    return c.json({ project: await projects.get(slug) });
  });

  app.patch('/:project', async (c) => {
    const slug = c.req.param('project');
    auditAs(c, 'project.update', `project:${slug}`);
    authorize(c, { capability: 'admin', project: slug });
    const body = await parseBody(c, renameBody);
    return c.json({ project: await projects.rename(slug, body.name, txAudit(c, auditLog)) });
  });

  app.delete('/:project', async (c) => {
    const slug = c.req.param('project');
    auditAs(c, 'project.delete', `project:${slug}`);
    authorize(c, { capability: 'admin', project: slug });
    const { force } = parseQuery(c, forceQuery);
    await projects.remove(slug, { force }, txAudit(c, auditLog));
    return c.body(null, 204);
  });

  app.get('/:project/environments', async (c) => {
    const slug = c.req.param('project');
    auditAs(c, 'environments.list', `project:${slug}`);
    assertVisible(c, slug);
    const project = await projects.get(slug);
    return c.json({ environments: project.environments });
  });

  app.post('/:project/environments', async (c) => {
    const slug = c.req.param('project');
    const body = await parseBody(c, createEnvBody);
    auditAs(c, 'environment.create', `${slug}/${body.slug}`);
    authorize(c, { capability: 'admin', project: slug, env: body.slug });
    return c.json(
      { environment: await projects.createEnvironment(slug, body.slug, body.name, txAudit(c, auditLog)) },
      201,
    );
  });

  app.patch('/:project/environments/:env', async (c) => {
    const slug = c.req.param('project');
    const env = c.req.param('env');
    auditAs(c, 'environment.update', `${slug}/${env}`);
    authorize(c, { capability: 'admin', project: slug, env });
    const body = await parseBody(c, renameBody);
    return c.json({ environment: await projects.renameEnvironment(slug, env, body.name, txAudit(c, auditLog)) });
  });

  app.delete('/:project/environments/:env', async (c) => {
    const slug = c.req.param('project');
    const env = c.req.param('env');
    auditAs(c, 'environment.delete', `${slug}/${env}`);
    authorize(c, { capability: 'admin', project: slug, env });
    const { force } = parseQuery(c, forceQuery);
    await projects.removeEnvironment(slug, env, { force }, txAudit(c, auditLog));
    return c.body(null, 204);
  });

  return app;
}
