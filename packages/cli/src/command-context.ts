import type { KeyboxClient } from '@keybox/sdk';
import { str, strs, type OptionSpec, type Values } from './args.js';
import { openClient, resolveConnection, type Connection } from './config/connection.js';
import { findProjectFile, type ProjectFile } from './config/project-file.js';
import { resolveScope, type Scope } from './config/scope.js';

/** Options every command that talks to a server shares. */
export const CONNECTION_OPTIONS: Record<string, OptionSpec> = {
  addr: { type: 'string', value: 'URL', description: 'server address (default: KEYBOX_ADDR, SECRETS_API_URL)' },
};

/** Options that pick a project, environment and folder. */
export const SCOPE_OPTIONS: Record<string, OptionSpec> = {
  project: {
    type: 'string',
    short: 'p',
    value: 'P',
    description: 'project slug (default: KEYBOX_PROJECT, .keybox.json)',
  },
  env: { type: 'string', short: 'e', value: 'E', description: 'environment slug (default: KEYBOX_ENV, .keybox.json)' },
  path: { type: 'string', value: '/PATH', description: 'folder path (default: KEYBOX_PATH, .keybox.json, /)' },
  ...CONNECTION_OPTIONS,
};

export const JSON_OPTION: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print machine-readable JSON on stdout' },
};

export interface CommandContext {
  scope: Scope;
  client: KeyboxClient;
  projectFile: ProjectFile | undefined;
}

/** Scope and connection from flags, environment and `.keybox.json`, without contacting the server. */
export function resolveContext(values: Values): {
  scope: Scope;
  connection: Connection;
  projectFile: ProjectFile | undefined;
} {
  const projectFile = findProjectFile(process.cwd());
  const scope = resolveScope(
    { project: str(values, 'project'), env: str(values, 'env'), paths: strs(values, 'path') },
    process.env,
    projectFile,
  );
  return { scope, connection: resolveConnection({ addr: str(values, 'addr') }, process.env, projectFile), projectFile };
}

/** Resolves scope and connection from flags, environment and `.keybox.json`, and connects. */
export async function scopedContext(values: Values, options: { timeoutMs?: number } = {}): Promise<CommandContext> {
  const { scope, connection, projectFile } = resolveContext(values);
  return { scope, client: await openClient(connection, options.timeoutMs), projectFile };
}

/** A client without a project scope (for `projects` and `envs`). */
export async function clientOnly(
  values: Values,
): Promise<{ client: KeyboxClient; projectFile: ProjectFile | undefined }> {
  const projectFile = findProjectFile(process.cwd());
  const client = await openClient(resolveConnection({ addr: str(values, 'addr') }, process.env, projectFile));
  return { client, projectFile };
}

/** The environment-scoped API prefix for a scope. */
export function envPrefix(scope: Pick<Scope, 'project' | 'env'>): string {
  return `/api/v1/projects/${encodeURIComponent(scope.project)}/environments/${encodeURIComponent(scope.env)}`;
}

/** The one folder a single-folder command works on. */
export function singlePath(scope: Scope): string {
  return scope.paths[scope.paths.length - 1] ?? '/';
}
