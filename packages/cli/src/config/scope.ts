import { checkFolderPath, checkSlug } from '@keybox/sdk';
import { CliError, usageError } from '../errors.js';
import type { ProjectFile } from './project-file.js';

export interface Scope {
  project: string;
  env: string;
  /** Normalised folder paths, in precedence order (later wins). */
  paths: string[];
}

export interface ScopeFlags {
  project?: string | undefined;
  env?: string | undefined;
  paths?: string[] | undefined;
}

/** Flags beat `KEYBOX_PROJECT`/`KEYBOX_ENV`/`KEYBOX_PATH`, which beat `.keybox.json`. */
export function resolveScope(flags: ScopeFlags, env: NodeJS.ProcessEnv, file: ProjectFile | undefined): Scope {
  const project = nonEmpty(flags.project) ?? nonEmpty(env['KEYBOX_PROJECT']) ?? nonEmpty(file?.project);
  const envSlug = nonEmpty(flags.env) ?? nonEmpty(env['KEYBOX_ENV']) ?? nonEmpty(file?.env);
  if (project === undefined) {
    throw usageError(
      'no project given',
      'pass --project, set KEYBOX_PROJECT, or run `keybox init` to write .keybox.json',
    );
  }
  if (envSlug === undefined) {
    throw usageError('no environment given', 'pass --env, set KEYBOX_ENV, or name one in .keybox.json');
  }
  const projectCheck = checkSlug('project', project);
  if (!projectCheck.ok) throw usageError(projectCheck.reason);
  const envCheck = checkSlug('environment', envSlug);
  if (!envCheck.ok) throw usageError(envCheck.reason);
  const flagPaths = (flags.paths ?? []).filter((p) => p !== '');
  const raw = flagPaths.length > 0 ? flagPaths : [nonEmpty(env['KEYBOX_PATH']) ?? nonEmpty(file?.path) ?? '/'];
  return { project, env: envSlug, paths: raw.map(normalisePath) };
}

export function normalisePath(path: string): string {
  const check = checkFolderPath(path);
  if (!check.ok) throw new CliError('USAGE', check.reason);
  return check.value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
