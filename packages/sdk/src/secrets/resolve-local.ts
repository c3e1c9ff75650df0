import type { DeclaredItem } from '../manifest/parse-manifest.js';
import type { InjectedManifest } from '../resolve/injected.js';
import type { KeyboxOrigin, Problem } from './status-types.js';

export type EnvLike = Readonly<Record<string, string | undefined>>;

/** Reads a whole file as UTF-8; injectable so tests can simulate failures. */
export type ReadFile = (path: string) => string;

export interface Found {
  value: string;
  source: 'env' | 'file' | 'keybox' | 'legacy';
  variable?: string;
  file?: string;
  keybox?: KeyboxOrigin;
}

export interface LocalResolution {
  found: Found | undefined;
  problems: Problem[];
}

/**
 * The environment part of resolution: every direct variable in `envVars` order, then every `_FILE` variable in the
 * same order. Env-first, as the ADR asks; a file is read only when no direct variable is set, so a stale mount
 * cannot fail an app that has its value. A value `keybox run` injected is reported as `keybox`, not `env`.
 */
export function resolveLocal(
  item: DeclaredItem,
  env: EnvLike,
  readFile: ReadFile,
  injected: InjectedManifest | undefined,
): LocalResolution {
  const problems: Problem[] = [];
  const set: string[] = [];
  let found: Found | undefined;

  for (const variable of item.envVars) {
    const value = env[variable];
    if (value === undefined) continue;
    if (value === '') {
      problems.push(warning('EMPTY', `${variable} is set but empty; it is ignored`));
      continue;
    }
    set.push(variable);
    if (found !== undefined) continue;
    const stored = injected?.secrets[variable];
    found =
      injected === undefined || stored === undefined
        ? { value, source: 'env', variable }
        : {
            value,
            source: 'keybox',
            variable,
            keybox: { via: 'run', project: injected.project, env: injected.env, ...stored },
          };
  }

  for (const variable of item.fileVars) {
    const path = env[variable];
    if (path === undefined) continue;
    if (path === '') {
      problems.push(warning('EMPTY', `${variable} is set but empty; it is ignored`));
      continue;
    }
    set.push(variable);
    if (found !== undefined) continue;
    let content: string;
    try {
      content = stripOneNewline(readFile(path));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      problems.push({
        code: 'FILE_UNREADABLE',
        level: 'error',
        message: `${variable} names ${path}, which cannot be read (${code})`,
      });
      continue;
    }
    if (content === '') {
      problems.push(warning('EMPTY', `the file ${path} named by ${variable} is empty; it is ignored`));
      continue;
    }
    found = { value: content, source: 'file', variable, file: path };
  }

  if (set.length > 1 && found?.variable !== undefined) {
    const all = set.length === 2 ? 'are both set' : 'are all set';
    problems.push(warning('SHADOWED', `${listed(set)} ${all}; ${found.variable} is used`));
  }
  return { found, problems };
}

/** One trailing newline is an artefact of how the file was written (`echo`, editors), not part of the value. */
export function stripOneNewline(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  if (text.endsWith('\n')) return text.slice(0, -1);
  return text;
}

function warning(code: Problem['code'], message: string): Problem {
  return { code, level: 'warning', message };
}

function listed(names: readonly string[]): string {
  if (names.length === 2) return `${names[0]} and ${names[1]}`;
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
