import { MANIFEST_FILE, type SecretMeta } from '@keybox/sdk';
import { bool, parseCommand, str, type CommandSpec } from '../args.js';
import { envPrefix, JSON_OPTION, SCOPE_OPTIONS, scopedContext, singlePath } from '../command-context.js';
import { CliError, usageError } from '../errors.js';
import { isYamlFile, loadManifest } from '../manifest/load-manifest.js';
import { note, printJson, printLine, printTable } from '../output/print.js';
import { dispatch } from '../subcommands.js';

// Builtins via process.getBuiltinModule, not `import`: the CLI is one bundle, and an ESM import of a builtin there
// costs every command, `keybox run` included, ~2 ms each (see config/project-file.ts).
const { existsSync, writeFileSync } = process.getBuiltinModule('node:fs');
const nodePath = process.getBuiltinModule('node:path');

const specs = {
  init: {
    name: 'keybox manifest init',
    usage: ['keybox manifest init [--path /PATH] [--recursive] [--output FILE|-] [--force] [options]'],
    summary: "Draft keybox.manifest.json from a folder's secret names (values are never fetched).",
    details: [
      'Every name becomes a required secret with an empty description: describe each, and mark settings that are',
      'not secret with "secret": false. An --output ending in .yaml or .yml is written as YAML; - prints it.',
    ],
    options: {
      ...SCOPE_OPTIONS,
      recursive: { type: 'boolean', short: 'r', description: 'include the names in sub-folders' },
      output: { type: 'string', short: 'o', value: 'FILE', description: `where to write (default ${MANIFEST_FILE})` },
      force: { type: 'boolean', description: 'overwrite an existing file' },
    },
    examples: ['keybox manifest init --project shop --env prod --path /backend'],
  },
  validate: {
    name: 'keybox manifest validate',
    usage: ['keybox manifest validate [FILE] [--json]'],
    summary: 'Check a manifest against the format @keybox/sdk reads, and list every issue.',
    options: JSON_OPTION,
    positionals: true,
  },
  push: {
    name: 'keybox manifest push',
    usage: ['keybox manifest push [--manifest FILE] --project P --env E'],
    summary: "Store the app's manifest with the environment, for `manifest status` and the web UI.",
    options: {
      ...SCOPE_OPTIONS,
      manifest: {
        type: 'string',
        short: 'm',
        value: 'FILE',
        description: 'the manifest (default: ./keybox.manifest.json)',
      },
    },
  },
  status: {
    name: 'keybox manifest status',
    usage: ['keybox manifest status --project P --env E [--json]'],
    summary: 'For each item of the stored manifest: required, secret, the variables that feed it, and where it is set.',
    details: [
      'Names only: whether a secret of that name exists and in which folders (those you may list), never a value.',
    ],
    options: { ...SCOPE_OPTIONS, ...JSON_OPTION },
  },
} satisfies Record<string, CommandSpec>;

interface StoredManifest {
  updatedAt: string;
  updatedBy: string;
  items: {
    name: string;
    required: boolean;
    secret: boolean;
    envVars: string[];
    fileVars: string[];
    folders: string[];
    present: boolean;
  }[];
  undeclared: { name: string; folders: string[] }[];
}

export function run(argv: string[]) {
  return dispatch(
    'manifest',
    {
      init: { summary: specs.init.summary, run: init },
      validate: { summary: specs.validate.summary, run: validate },
      push: { summary: specs.push.summary, run: push },
      status: { summary: specs.status.summary, run: status },
    },
    argv,
  );
}

async function init(argv: string[]): Promise<number> {
  const { values } = parseCommand(specs.init, argv);
  const output = str(values, 'output') ?? MANIFEST_FILE;
  const target = output === '-' ? undefined : nodePath.resolve(process.cwd(), output);
  if (target !== undefined && existsSync(target) && !bool(values, 'force')) {
    throw usageError(`${target} already exists`, 'pass --force to overwrite it');
  }
  const { scope, client } = await scopedContext(values);
  const path = singlePath(scope);
  // The list endpoint: names and versions only. A draft never needs a value.
  const { secrets } = await client.request<{ secrets: SecretMeta[] }>('GET', `${envPrefix(scope)}/secrets`, {
    query: { path, recursive: bool(values, 'recursive') ? 'true' : undefined },
  });
  const names = [...new Set(secrets.map((s) => s.name))].sort();
  const items: Record<string, Record<string, unknown>> = {};
  for (const name of names) {
    // A stored NAME_FILE next to NAME would be read as NAME's file variable; keep the draft valid.
    const fileClash = names.includes(`${name}_FILE`);
    items[name] = { description: '', secret: true, required: true, ...(fileClash ? { file: false } : {}) };
  }
  const draft = { version: 1, items };
  const yaml = target !== undefined && isYamlFile(target);
  const text = yaml ? (await import('yaml')).stringify(draft) : `${JSON.stringify(draft, null, 2)}\n`;
  if (target === undefined) {
    process.stdout.write(text);
    return 0;
  }
  try {
    writeFileSync(target, text);
  } catch (error) {
    throw new CliError(
      'CONFIG_INVALID',
      `cannot write ${target} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  note(`wrote ${names.length} item(s) from ${scope.project}/${scope.env} ${path} to ${target}`);
  note('describe each item, and mark settings that are not secret with "secret": false');
  return 0;
}

async function validate(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(specs.validate, argv);
  if (positionals.length > 1) throw usageError('give at most one manifest file');
  const { file, manifest } = await loadManifest(positionals[0], process.cwd());
  if (bool(values, 'json')) {
    printJson({ file, valid: true, items: manifest.items });
    return 0;
  }
  const secrets = manifest.items.filter((i) => i.secret).length;
  const required = manifest.items.filter((i) => i.required).length;
  printLine(`${file}: valid, ${manifest.items.length} item(s): ${secrets} secret, ${required} required`);
  return 0;
}

async function push(argv: string[]): Promise<number> {
  const { values } = parseCommand(specs.push, argv);
  const { file, manifest, document } = await loadManifest(str(values, 'manifest'), process.cwd());
  const { scope, client } = await scopedContext(values);
  await client.request('PUT', `${envPrefix(scope)}/manifest`, { body: document });
  note(`stored ${file} (${manifest.items.length} item(s)) with ${scope.project}/${scope.env}`);
  return 0;
}

async function status(argv: string[]): Promise<number> {
  const { values } = parseCommand(specs.status, argv);
  const { scope, client } = await scopedContext(values);
  const stored = await client.request<StoredManifest>('GET', `${envPrefix(scope)}/manifest`);
  if (bool(values, 'json')) {
    printJson(stored);
  } else {
    printTable(
      ['NAME', 'REQUIRED', 'SECRET', 'ENV VARS', 'SET IN'],
      stored.items.map((i) => [
        i.name,
        i.required ? 'yes' : 'no',
        i.secret ? 'yes' : 'no',
        [...i.envVars, ...i.fileVars].join(','),
        i.present ? i.folders.join(',') : 'MISSING',
      ]),
    );
    if (stored.undeclared.length > 0) {
      note(`not in the manifest: ${stored.undeclared.map((u) => u.name).join(', ')}`);
    }
  }
  return stored.items.some((i) => i.required && !i.present) ? 1 : 0;
}
