import { CliError } from '../errors.js';

// Builtins come from process.getBuiltinModule: an ESM `import` of a builtin costs 2-8 ms each on Node 24 (the
// namespace is built eagerly), and this file is on the path of `keybox run`.
const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');
export const PROJECT_FILE = '.keybox.json';

/** `.keybox.json`: names the project and default environment of a repository. Never holds a credential. */
export interface ProjectFile {
  project?: string;
  env?: string;
  path?: string;
  addr?: string;
  /** Where the file was found. */
  file: string;
}

/** Finds `.keybox.json` in `cwd` or the nearest parent directory. */
export function findProjectFile(cwd: string): ProjectFile | undefined {
  let dir = cwd;
  for (;;) {
    const file = path.join(dir, PROJECT_FILE);
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        throw new CliError('CONFIG_INVALID', `cannot read ${file}: ${code ?? 'error'}`);
      }
    }
    if (text !== undefined) return parseProjectFile(text, file);
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export function parseProjectFile(text: string, file: string): ProjectFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new CliError('CONFIG_INVALID', `${file} is not valid JSON`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new CliError('CONFIG_INVALID', `${file} must hold a JSON object`);
  }
  const result: ProjectFile = { file };
  for (const key of ['project', 'env', 'path', 'addr'] as const) {
    const value = (data as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new CliError('CONFIG_INVALID', `${file}: "${key}" must be a string`);
    result[key] = value;
  }
  for (const key of Object.keys(data)) {
    if (/token|secret|passw|credential|api.?key|private.?key|auth/i.test(key)) {
      throw new CliError(
        'CONFIG_INVALID',
        `${file}: "${key}" looks like a credential; .keybox.json is committed, so it must not hold one`,
      );
    }
  }
  return result;
}
