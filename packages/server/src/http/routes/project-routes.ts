import { Hono } from 'hono';
import { z } from 'zod';
import type { ProjectService } from '../../core/projects/project-service.js';
import type { HttpEnv } from '../http-env.js';
import { boolParam, parseBody, parseQuery } from '../validate.js';

const createProjectBody = z.object({
  slug: z.string().max(64),
  name: z.string().max(200).optional(),
  environments: z.array(z.string().max(64)).max(50).optional(),
});
const renameBody = z.object({ name: z.string().max(200) });
const createEnvBody = z.object({ slug: z.string().max(64), name: z.string().max(200).optional() });
const forceQuery = z.object({ force: boolParam });

export function projectRoutes(projects: ProjectService) {
  const app = new Hono<HttpEnv>();

  app.get('/', async (c) => c.json({ projects: await projects.list() }));

  app.post('/', async (c) => {
    const body = await parseBody(c, createProjectBody);
    return c.json({ project: await projects.create(body) }, 201);
  });

  app.get('/:project', async (c) => c.json({ project: await projects.get(c.req.param('project')) }));

  app.patch('/:project', async (c) => {
    const body = await parseBody(c, renameBody);
    return c.json({ project: await projects.rename(c.req.param('project'), body.name) });
  });

  app.delete('/:project', async (c) => {
    const { force } = parseQuery(c, forceQuery);
    await projects.remove(c.req.param('project'), { force });
    return c.body(null, 204);
  });

  app.get('/:project/environments', async (c) => {
    const project = await projects.get(c.req.param('project'));
    return c.json({ environments: project.environments });
  });

  app.post('/:project/environments', async (c) => {
    const body = await parseBody(c, createEnvBody);
    return c.json({ environment: await projects.createEnvironment(c.req.param('project'), body.slug, body.name) }, 201);
  });

  app.patch('/:project/environments/:env', async (c) => {
    const body = await parseBody(c, renameBody);
    return c.json({
      environment: await projects.renameEnvironment(c.req.param('project'), c.req.param('env'), body.name),
    });
  });

  app.delete('/:project/environments/:env', async (c) => {
    const { force } = parseQuery(c, forceQuery);
    await projects.removeEnvironment(c.req.param('project'), c.req.param('env'), { force });
    return c.body(null, 204);
  });

  return app;
}
