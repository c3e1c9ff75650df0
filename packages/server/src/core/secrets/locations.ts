import { checkFolderPath, checkSecretName } from '@keybox/sdk';
import { invalidInput, notFound } from '../app-error.js';
import type { Db } from '../store/database.js';

/** Where a single-folder operation applies. */
export interface Scope {
  project: string;
  env: string;
  path: string;
}

/** A resolved environment: the ids bound into ciphertext and the slugs shown to people. */
export interface EnvRef {
  projectId: string;
  envId: string;
  project: string;
  env: string;
}

/*
 * Associated-data strings. Ids (not slugs) are bound, so a project can be renamed; the folder path, the name and the
 * version are bound, so a blob copied to another folder, secret or version fails to decrypt.
 */
export function valueContext(env: EnvRef, path: string, name: string, version: number): string {
  return `keybox/secret/v1\0${env.projectId}\0${env.envId}\0${path}\0${name}\0${version}`;
}

export function bundleContext(env: EnvRef, path: string, revision: number): string {
  return `keybox/bundle/v1\0${env.projectId}\0${env.envId}\0${path}\0${revision}`;
}

export function assertPath(path: string): string {
  const check = checkFolderPath(path);
  if (!check.ok) throw invalidInput(check.reason);
  return check.value;
}

export function assertName(name: string): string {
  const check = checkSecretName(name);
  if (!check.ok) throw invalidInput(`secret name: ${check.reason}`);
  return check.value;
}

export async function resolveEnvironment(db: Db, project: string, env: string): Promise<EnvRef> {
  const row = await db
    .selectFrom('environments as e')
    .innerJoin('projects as p', 'p.id', 'e.project_id')
    .select(['e.id as envId', 'p.id as projectId'])
    .where('p.slug', '=', project)
    .where('e.slug', '=', env)
    .executeTakeFirst();
  if (row === undefined) throw await scopeNotFound(db, project, env);
  return { projectId: row.projectId, envId: row.envId, project, env };
}

/** Says precisely which part of a scope is missing. */
export async function scopeNotFound(db: Db, project: string, env: string) {
  const p = await db.selectFrom('projects').select('id').where('slug', '=', project).executeTakeFirst();
  if (p === undefined) return notFound(`project "${project}" does not exist`, { project });
  return notFound(`environment "${env}" does not exist in project "${project}"`, { project, env });
}

/** Rows of folders at `path` or (recursive) below it, in one index range; paths compare byte-wise. */
export function pathFilter(path: string, recursive: boolean) {
  return { path, recursive, lower: path === '/' ? '/' : `${path}/`, upper: path === '/' ? '0' : `${path}0` };
}

/** The folder at `path` in the environment, or undefined. */
export function folderAtPath(db: Db, ref: EnvRef, path: string) {
  return db
    .selectFrom('folders')
    .select(['id', 'path', 'revision', 'custom_metadata', 'updated_at'])
    .where('environment_id', '=', ref.envId)
    .where('path', '=', path)
    .executeTakeFirst();
}

/** The folder at `path`, or NOT_FOUND. */
export async function findFolder(db: Db, ref: EnvRef, path: string) {
  const folder = await folderAtPath(db, ref, path);
  if (folder === undefined) throw notFound(`folder ${path} does not exist in ${ref.project}/${ref.env}`, { path });
  return folder;
}

/** The head row of one secret, with its resolved environment and normalised path. */
export async function findSecret(db: Db, scope: Scope, name: string) {
  const ref = await resolveEnvironment(db, scope.project, scope.env);
  const path = assertPath(scope.path);
  const secret = await db
    .selectFrom('secrets as s')
    .innerJoin('folders as f', 'f.id', 's.folder_id')
    .selectAll('s')
    .where('f.environment_id', '=', ref.envId)
    .where('f.path', '=', path)
    .where('s.name', '=', assertName(name))
    .executeTakeFirst();
  if (secret === undefined) throw notFound(`secret ${name} does not exist in ${path}`, { name, path });
  return { ref, path, secret };
}
