import { mergeFolders } from '@keybox/sdk';
import { bool, parseCommand, str, type CommandSpec } from '../args.js';
import { scopedContext, SCOPE_OPTIONS } from '../command-context.js';
import { CliError, usageError } from '../errors.js';
import { note, warn } from '../output/print.js';
import { writePrivateFile } from '../output/private-file.js';
import { expandScope } from '../run/expand-scope.js';
import { FORMATS, formatScope, isFormat } from '../secrets/scope-formats.js';

export const spec: CommandSpec = {
  name: 'keybox export',
  usage: ['keybox export [--format dotenv|json|yaml|shell] [--path /P ...] [--recursive] [--output FILE]'],
  summary: 'Print the secrets of a scope in a file format (values included: handle the output as a secret).',
  details: [
    'dotenv output reads back identically with the dotenv parser; shell output single-quotes every value, so',
    '`eval "$(keybox export --format shell)"` never runs anything inside a value. --output writes the file 0600.',
  ],
  options: {
    ...SCOPE_OPTIONS,
    path: {
      type: 'string',
      multiple: true,
      value: '/PATH',
      description: 'folder path; a later --path wins on a clash',
    },
    recursive: { type: 'boolean', short: 'r', description: 'include sub-folders (the deeper folder wins)' },
    format: { type: 'string', short: 'f', value: 'FORMAT', description: 'dotenv (default), json, yaml or shell' },
    output: { type: 'string', short: 'o', value: 'FILE', description: 'write to FILE (mode 0600) instead of stdout' },
    'no-expand': { type: 'boolean', description: 'do not expand ${...} references in values' },
  },
  examples: ['keybox export --format dotenv > .env.local', 'eval "$(keybox export --format shell)"'],
};

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(spec, argv);
  const format = str(values, 'format') ?? 'dotenv';
  if (!isFormat(format)) throw usageError(`--format must be one of ${FORMATS.join(', ')}`);
  const { scope, client } = await scopedContext(values);
  const bulk = await client.bulkRead({
    project: scope.project,
    env: scope.env,
    paths: scope.paths,
    recursive: bool(values, 'recursive'),
  });
  if (bulk.notModified) throw new CliError('BAD_RESPONSE', 'the server answered 304 to an unconditional read');
  const merged = mergeFolders(bulk.data.folders);
  for (const s of merged.shadowed)
    warn(`${s.name} is set in ${[...s.losers, s.winner].join(' and ')}; using ${s.winner}`);
  const raw = new Map([...merged.secrets].map(([name, s]) => [name, s.value]));
  const expanded = bool(values, 'no-expand') ? raw : await expandScope(raw, scope.project, client);
  const text = await formatScope(expanded, format);
  const output = str(values, 'output');
  if (output === undefined) {
    process.stdout.write(text);
  } else {
    // A new 0600 file renamed into place: an existing file keeps no wider mode, a symlink at the target is replaced
    // rather than followed, and a reader never sees half the content.
    try {
      writePrivateFile(output, text);
    } catch (error) {
      throw new CliError(
        'CONFIG_INVALID',
        `cannot write ${output} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    note(`wrote ${expanded.size} secret(s) to ${output} (0600)`);
  }
  return 0;
}
