import { parseManifest, type Manifest } from '@keybox/sdk';
import { CliError } from '../errors.js';

// Builtins via process.getBuiltinModule, not `import`: the CLI is one bundle, and an ESM import of a builtin there
// costs every command, `keybox run` included, ~2 ms each (see config/project-file.ts).
const { existsSync, readFileSync } = process.getBuiltinModule('node:fs');
const nodePath = process.getBuiltinModule('node:path');

/** Looked up in this order in the current directory when no --manifest is given. */
export const MANIFEST_NAMES = ['keybox.manifest.json', 'keybox.manifest.yaml', 'keybox.manifest.yml'];

export interface LoadedManifest {
  file: string;
  manifest: Manifest;
  /** The document as read (JSON or YAML), for storing it on the server as written. */
  document: unknown;
}

export function isYamlFile(file: string): boolean {
  return /\.ya?ml$/i.test(file);
}

/**
 * Reads a manifest as JSON, or as YAML for `.yaml`/`.yml` (the SDK reads JSON only; YAML is a CLI convenience), and
 * validates it with the SDK's own rules, so `keybox check` and the app agree on what a manifest means.
 */
export async function loadManifest(explicit: string | undefined, cwd: string): Promise<LoadedManifest> {
  const file = explicit === undefined ? findManifest(cwd) : nodePath.resolve(cwd, explicit);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError('CONFIG_INVALID', `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const data = isYamlFile(file) ? await parseYaml(text, file) : parseJson(text, file);
  const parsed = parseManifest(data);
  if (!parsed.ok) {
    throw new CliError(
      'CONFIG_INVALID',
      `${file} is not a valid manifest: ${parsed.issues.map((i) => `${i.at}: ${i.message}`).join('; ')}`,
      {
        hint: 'see docs/sdk.md for the manifest format',
      },
    );
  }
  return { file, manifest: parsed.manifest, document: data };
}

function findManifest(cwd: string): string {
  for (const name of MANIFEST_NAMES) {
    const file = nodePath.join(cwd, name);
    if (existsSync(file)) return file;
  }
  throw new CliError('CONFIG_INVALID', `no ${MANIFEST_NAMES.join(', ')} in ${cwd}`, {
    hint: 'pass --manifest FILE, or draft one with `keybox manifest init`',
  });
}

// Parser messages quote the text around a mistake; a manifest holds no values, but one pasted by mistake must not
// reach a terminal log, so only the position is reported.
function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new CliError('CONFIG_INVALID', `${file} is not valid JSON`);
  }
}

async function parseYaml(text: string, file: string): Promise<unknown> {
  const { parse, YAMLError } = await import('yaml');
  try {
    return parse(text);
  } catch (error) {
    const at = error instanceof YAMLError ? error.linePos?.[0] : undefined;
    const where = at === undefined ? '' : ` (line ${at.line}, column ${at.col})`;
    throw new CliError('CONFIG_INVALID', `${file} is not valid YAML${where}`);
  }
}
