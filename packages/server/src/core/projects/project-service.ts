import { randomUUID } from 'node:crypto';
import { checkSlug, type EnvironmentInfo, type ProjectInfo } from '@keybox/sdk';
import { AppError, conflict, invalidInput, notFound } from '../app-error.js';
import { isoNow, type Clock } from '../clock.js';
import { audited, type TxAudit } from '../audit/tx-audit.js';
import type { Db } from '../store/database.js';

export const DEFAULT_ENVIRONMENTS = ['dev', 'staging', 'prod'] as const;

export interface ProjectServiceDeps {
  db: Db;
  clock: Clock;
}

export interface CreateProjectInput {
  slug: string;
  name?: string | undefined;
  /** Environment slugs to create; default dev, staging, prod. */
  environments?: string[] | undefined;
}

export function createProjectService({ db, clock }: ProjectServiceDeps) {
  function assertSlug(kind: 'project' | 'environment', slug: string): string {
    const check = checkSlug(kind, slug);
    if (!check.ok) throw invalidInput(check.reason);
    return check.value;
  }

  async function findProject(slug: string) {
    const row = await db.selectFrom('projects').selectAll().where('slug', '=', slug).executeTakeFirst();
    if (row === undefined) throw notFound(`project "${slug}" does not exist`);
    return row;
  }

  async function environmentsOf(projectId: string): Promise<EnvironmentInfo[]> {
    const rows = await db
      .selectFrom('environments')
      .select(['slug', 'name', 'created_at'])
      .where('project_id', '=', projectId)
      .orderBy('position')
      .execute();
    return rows.map((r) => ({ slug: r.slug, name: r.name, createdAt: r.created_at }));
  }

  async function list(): Promise<ProjectInfo[]> {
    const projects = await db.selectFrom('projects').selectAll().orderBy('slug').execute();
    const envs = await db
      .selectFrom('environments')
      .select(['project_id', 'slug', 'name', 'created_at'])
      .orderBy('position')
      .execute();
    return projects.map((p) => ({
      slug: p.slug,
      name: p.name,
      createdAt: p.created_at,
      environments: envs
        .filter((e) => e.project_id === p.id)
        .map((e) => ({ slug: e.slug, name: e.name, createdAt: e.created_at })),
    }));
  }

  async function get(slug: string): Promise<ProjectInfo> {
    const p = await findProject(slug);
    return { slug: p.slug, name: p.name, createdAt: p.created_at, environments: await environmentsOf(p.id) };
  }

  async function create(input: CreateProjectInput, audit?: TxAudit): Promise<ProjectInfo> {
    const slug = assertSlug('project', input.slug);
    const envSlugs = input.environments ?? [...DEFAULT_ENVIRONMENTS];
    if (envSlugs.length === 0) throw invalidInput('a project needs at least one environment');
    for (const env of envSlugs) assertSlug('environment', env);
    if (new Set(envSlugs).size !== envSlugs.length) throw invalidInput('environment slugs must be unique');
    const name = (input.name ?? slug).trim() || slug;
    const now = isoNow(clock);
    await audited(
      db,
      audit,
      async (trx) => {
        const existing = await trx.selectFrom('projects').select('id').where('slug', '=', slug).executeTakeFirst();
        if (existing !== undefined) throw conflict(`project "${slug}" already exists`);
        const projectId = randomUUID();
        await trx
          .insertInto('projects')
          .values({ id: projectId, slug, name, created_at: now, updated_at: now })
          .execute();
        let position = 0;
        for (const env of envSlugs) {
          await insertEnvironment(trx, projectId, env, env, position++, now);
        }
      },
      () => ({ environments: envSlugs }),
    );
    return get(slug);
  }

  async function rename(slug: string, name: string, audit?: TxAudit): Promise<ProjectInfo> {
    const trimmed = name.trim();
    if (trimmed === '' || trimmed.length > 200) throw invalidInput('a project name is 1-200 characters');
    const p = await findProject(slug);
    await audited(db, audit, (trx) =>
      trx
        .updateTable('projects')
        .set({ name: trimmed, updated_at: isoNow(clock) })
        .where('id', '=', p.id)
        .execute(),
    );
    return get(slug);
  }

  /** Deletes a project. One that still holds secrets needs `force`, so a typo cannot wipe a project. */
  async function remove(slug: string, options: { force?: boolean } = {}, audit?: TxAudit): Promise<void> {
    await audited(db, audit, async (trx) => {
      const p = await trx.selectFrom('projects').select('id').where('slug', '=', slug).executeTakeFirst();
      if (p === undefined) throw notFound(`project "${slug}" does not exist`);
      if (options.force !== true) {
        const live = await countLiveSecrets(trx, 'project_id', p.id);
        if (live > 0) {
          throw conflict(
            `project "${slug}" still holds ${live} secret(s); delete them first or force the deletion (keybox: --force; API: ?force=true)`,
            {
              secrets: live,
            },
          );
        }
      }
      await trx.deleteFrom('projects').where('id', '=', p.id).execute();
    });
  }

  async function createEnvironment(
    projectSlug: string,
    slug: string,
    name?: string,
    audit?: TxAudit,
  ): Promise<EnvironmentInfo> {
    assertSlug('environment', slug);
    const now = isoNow(clock);
    await audited(db, audit, async (trx) => {
      const p = await trx.selectFrom('projects').select('id').where('slug', '=', projectSlug).executeTakeFirst();
      if (p === undefined) throw notFound(`project "${projectSlug}" does not exist`);
      const existing = await trx
        .selectFrom('environments')
        .select('id')
        .where('project_id', '=', p.id)
        .where('slug', '=', slug)
        .executeTakeFirst();
      if (existing !== undefined) throw conflict(`environment "${slug}" already exists in "${projectSlug}"`);
      const max = await trx
        .selectFrom('environments')
        .select((eb) => eb.fn.max('position').as('position'))
        .where('project_id', '=', p.id)
        .executeTakeFirst();
      await insertEnvironment(trx, p.id, slug, name?.trim() || slug, Number(max?.position ?? -1) + 1, now);
    });
    return { slug, name: name?.trim() || slug, createdAt: now };
  }

  async function renameEnvironment(
    projectSlug: string,
    slug: string,
    name: string,
    audit?: TxAudit,
  ): Promise<EnvironmentInfo> {
    const trimmed = name.trim();
    if (trimmed === '' || trimmed.length > 200) throw invalidInput('an environment name is 1-200 characters');
    const env = await db
      .selectFrom('environments')
      .innerJoin('projects', 'projects.id', 'environments.project_id')
      .select(['environments.id as id', 'environments.created_at as createdAt'])
      .where('projects.slug', '=', projectSlug)
      .where('environments.slug', '=', slug)
      .executeTakeFirst();
    if (env === undefined) throw notFound(`environment "${slug}" does not exist in project "${projectSlug}"`);
    await audited(db, audit, (trx) =>
      trx.updateTable('environments').set({ name: trimmed }).where('id', '=', env.id).execute(),
    );
    return { slug, name: trimmed, createdAt: env.createdAt };
  }

  async function removeEnvironment(
    projectSlug: string,
    slug: string,
    options: { force?: boolean } = {},
    audit?: TxAudit,
  ) {
    await audited(db, audit, async (trx) => {
      const env = await trx
        .selectFrom('environments')
        .innerJoin('projects', 'projects.id', 'environments.project_id')
        .select(['environments.id as id', 'projects.id as projectId'])
        .where('projects.slug', '=', projectSlug)
        .where('environments.slug', '=', slug)
        .executeTakeFirst();
      if (env === undefined) throw notFound(`environment "${slug}" does not exist in project "${projectSlug}"`);
      if (options.force !== true) {
        const live = await countLiveSecrets(trx, 'environment_id', env.id);
        if (live > 0) {
          throw conflict(
            `environment "${slug}" still holds ${live} secret(s); delete them first or force the deletion (keybox: --force; API: ?force=true)`,
            {
              secrets: live,
            },
          );
        }
      }
      const remaining = await trx
        .selectFrom('environments')
        .select('id')
        .where('project_id', '=', env.projectId)
        .execute();
      if (remaining.length <= 1) throw new AppError('CONFLICT', 'a project keeps at least one environment');
      await trx.deleteFrom('environments').where('id', '=', env.id).execute();
    });
  }

  async function insertEnvironment(
    trx: Db,
    projectId: string,
    slug: string,
    name: string,
    position: number,
    now: string,
  ) {
    const envId = randomUUID();
    await trx
      .insertInto('environments')
      .values({ id: envId, project_id: projectId, slug, name, position, created_at: now })
      .execute();
    // Every environment has its root folder, so `--path /` always resolves.
    await trx
      .insertInto('folders')
      .values({
        id: randomUUID(),
        environment_id: envId,
        path: '/',
        revision: 0,
        bundle: null,
        bundle_key_id: null,
        secret_count: 0,
        created_at: now,
        updated_at: now,
      })
      .execute();
  }

  return { list, get, create, rename, remove, createEnvironment, renameEnvironment, removeEnvironment };
}

async function countLiveSecrets(trx: Db, column: 'project_id' | 'environment_id', id: string): Promise<number> {
  const row = await trx
    .selectFrom('folders')
    .innerJoin('environments', 'environments.id', 'folders.environment_id')
    .select((eb) => eb.fn.sum<number>('folders.secret_count').as('n'))
    .where(column === 'project_id' ? 'environments.project_id' : 'environments.id', '=', id)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export type ProjectService = ReturnType<typeof createProjectService>;
