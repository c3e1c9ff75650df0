import { checkSlug } from '@keybox/sdk';
import { bool, parseCommand, str, type CommandSpec } from '../args.js';
import { PROJECT_FILE } from '../config/project-file.js';
import { normalisePath } from '../config/scope.js';
import { usageError } from '../errors.js';
import { note } from '../output/print.js';

// Builtins via process.getBuiltinModule, not `import`: the CLI is one bundle, and an ESM import of a builtin there
// costs every command, `keybox run` included, ~2 ms each (see config/project-file.ts).
const { existsSync, writeFileSync } = process.getBuiltinModule('node:fs');
const nodePath = process.getBuiltinModule('node:path');

export const spec: CommandSpec = {
  name: 'keybox init',
  usage: ['keybox init --project P --env E [--path /PATH] [--addr URL] [--force]'],
  summary: 'Write .keybox.json in this directory, naming the project and default environment for every command.',
  details: ['The file is meant to be committed: it never holds a token.'],
  options: {
    project: { type: 'string', short: 'p', value: 'P', description: 'project slug' },
    env: { type: 'string', short: 'e', value: 'E', description: 'default environment' },
    path: { type: 'string', value: '/PATH', description: 'default folder path' },
    addr: { type: 'string', value: 'URL', description: 'server address for this repository' },
    force: { type: 'boolean', description: 'overwrite an existing .keybox.json' },
  },
  examples: ['keybox init --project shop --env dev --path /backend'],
};

export function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(spec, argv);
  const project = str(values, 'project');
  const env = str(values, 'env');
  if (project === undefined || env === undefined) throw usageError('--project and --env are required');
  for (const [kind, slug] of [
    ['project', project],
    ['environment', env],
  ] as const) {
    const check = checkSlug(kind, slug);
    if (!check.ok) throw usageError(check.reason);
  }
  const file = nodePath.join(process.cwd(), PROJECT_FILE);
  if (existsSync(file) && !bool(values, 'force')) {
    throw usageError(`${file} already exists`, 'pass --force to overwrite it');
  }
  const path = str(values, 'path');
  const addr = str(values, 'addr');
  const content = {
    project,
    env,
    ...(path === undefined ? {} : { path: normalisePath(path) }),
    ...(addr === undefined ? {} : { addr }),
  };
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
  note(`wrote ${file}`);
  return Promise.resolve(0);
}
