import {
  checkSecretName,
  mergeFolders,
  type MergedSecret,
  type BatchResult,
  type FolderRollbackResult,
  type SecretChange,
  type SecretMeta,
  type SecretVersionInfo,
  type SecretWithValue,
} from '@keybox/sdk';
import { bool, int, parseCommand, str, type CommandSpec, type OptionSpec, onePositional } from '../args.js';
import { envPrefix, JSON_OPTION, SCOPE_OPTIONS, scopedContext, singlePath } from '../command-context.js';
import { CliError, usageError } from '../errors.js';
import { formatTime, note, printJson, printLine, printTable } from '../output/print.js';
import { parseAssignments, readAllStdin } from '../secrets/assignments.js';
import { dispatch } from '../subcommands.js';

// Builtins via process.getBuiltinModule, not `import`: the CLI is one bundle, and an ESM import of a builtin there
// costs every command, `keybox run` included, ~2 ms each (see config/project-file.ts).
const { readFileSync } = process.getBuiltinModule('node:fs');

const common = { ...SCOPE_OPTIONS, ...JSON_OPTION };
const ifVersion: Record<string, OptionSpec> = {
  'if-version': {
    type: 'string',
    value: 'N',
    description: 'only if the secret is at version N (0: has never existed)',
  },
};
const ifRevision: Record<string, OptionSpec> = {
  'if-revision': { type: 'string', value: 'N', description: 'only if the folder is at revision N' },
};

const specs = {
  set: {
    name: 'keybox secrets set',
    usage: ['keybox secrets set KEY=VALUE|KEY=@FILE|KEY=- ... [options]'],
    summary: 'Set one or more secrets in a folder, as one change (one folder revision).',
    details: [
      'KEY=@FILE reads the value from a file and KEY=- from stdin (one trailing newline dropped), so values need',
      'not appear in argv. KEY=VALUE is convenient but puts the value in your shell history and, while the command',
      'runs, in the process list of this machine.',
    ],
    options: { ...common, ...ifVersion, ...ifRevision },
    positionals: true,
    examples: [
      'keybox secrets set DB_URL=@db-url.txt --project shop --env dev --path /backend',
      'printf %s "$TOKEN" | keybox secrets set API_KEY=-',
    ],
  },
  get: {
    name: 'keybox secrets get',
    usage: ['keybox secrets get KEY [--version N] [options]'],
    summary: 'Print the bare value of a secret on stdout (a newline is added only on a terminal).',
    options: { ...common, version: { type: 'string', value: 'N', description: 'an older version' } },
    positionals: true,
  },
  list: {
    name: 'keybox secrets list',
    usage: ['keybox secrets list [--recursive] [--deleted] [--reveal] [options]'],
    summary: 'List names, versions and who changed them last. Values only with --reveal.',
    options: {
      ...common,
      recursive: { type: 'boolean', short: 'r', description: 'include sub-folders' },
      deleted: { type: 'boolean', description: 'include deleted secrets' },
      reveal: { type: 'boolean', description: 'show values too' },
    },
  },
  delete: {
    name: 'keybox secrets delete',
    usage: ['keybox secrets delete KEY... [options]'],
    summary: 'Delete secrets (soft: history stays, and rollback brings them back).',
    options: { ...common, ...ifVersion, ...ifRevision },
    positionals: true,
  },
  history: {
    name: 'keybox secrets history',
    usage: ['keybox secrets history KEY [options]'],
    summary: 'Show every version of a secret: who, when, what kind of change. Never values.',
    options: common,
    positionals: true,
  },
  rollback: {
    name: 'keybox secrets rollback',
    usage: [
      'keybox secrets rollback KEY --to-version N [--if-version N] [options]',
      'keybox secrets rollback --to-revision R | --to-time TIME [--if-revision N] [options]',
    ],
    summary: 'Restore one secret to an older version, or a whole folder to a revision or point in time.',
    details: ['A rollback is itself a new version (and a new folder revision): nothing is rewritten.'],
    options: {
      ...common,
      ...ifVersion,
      ...ifRevision,
      'to-version': { type: 'string', value: 'N', description: 'restore KEY to version N' },
      'to-revision': { type: 'string', value: 'R', description: 'restore the folder to revision R' },
      'to-time': { type: 'string', value: 'TIME', description: 'restore the folder to how it was at TIME (ISO-8601)' },
    },
    positionals: true,
  },
  destroy: {
    name: 'keybox secrets destroy',
    usage: ['keybox secrets destroy KEY --version N [options]'],
    summary: "Permanently erase one version's value. The history row stays; the value cannot be recovered.",
    options: { ...common, version: { type: 'string', value: 'N', description: 'the version to destroy' } },
    positionals: true,
  },
  import: {
    name: 'keybox secrets import',
    usage: ['keybox secrets import FILE.env [--dry-run] [--if-revision N] [options]'],
    summary: 'Move a dotenv file into a folder (one revision) and report what it created and changed.',
    details: ['FILE may be - for stdin. After importing, delete the plain file: it is what Keybox replaces.'],
    options: { ...common, ...ifRevision, 'dry-run': { type: 'boolean', description: 'report only; write nothing' } },
    positionals: true,
  },
} satisfies Record<string, CommandSpec>;

const one = onePositional;

/** Checks a name before it goes into a URL path, without echoing it (it may be a value typed by mistake). */
function secretName(name: string): string {
  const check = checkSecretName(name);
  if (!check.ok) throw usageError(`the secret name is ${check.reason}`);
  return name;
}

function printBatch(result: BatchResult, json: boolean) {
  if (json) return printJson(result);
  for (const r of result.results) printLine(`${r.outcome.padEnd(9)} ${r.name} v${r.version}`);
  printLine(`folder ${result.path} at revision ${result.revision}`);
}

export function run(argv: string[]) {
  return dispatch(
    'secrets',
    {
      set: {
        summary: specs.set.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.set, args);
          if (positionals.length === 0) throw usageError('nothing to set', 'keybox secrets set KEY=VALUE ...');
          const expected = int(values, 'if-version');
          if (expected !== undefined && positionals.length !== 1)
            throw usageError('--if-version applies to one secret');
          const assignments = await parseAssignments(positionals, readAllStdin);
          const { scope, client } = await scopedContext(values);
          const changes: SecretChange[] = assignments.map((a) => ({ ...a, ifVersion: expected }));
          const result = await client.request<BatchResult>('POST', `${envPrefix(scope)}/secrets`, {
            query: { path: singlePath(scope) },
            body: { changes, ifRevision: int(values, 'if-revision') },
          });
          printBatch(result, bool(values, 'json'));
        },
      },
      get: {
        summary: specs.get.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.get, args);
          const name = secretName(one(positionals, 'secret name'));
          const { scope, client } = await scopedContext(values);
          const res = await client.request<{ secret: SecretWithValue }>(
            'GET',
            `${envPrefix(scope)}/secrets/${encodeURIComponent(name)}`,
            { query: { path: singlePath(scope), version: str(values, 'version') } },
          );
          if (bool(values, 'json')) return printJson(res);
          process.stdout.write(process.stdout.isTTY ? `${res.secret.value}\n` : res.secret.value);
        },
      },
      list: {
        summary: specs.list.summary,
        async run(args) {
          const { values } = parseCommand(specs.list, args);
          const { scope, client } = await scopedContext(values);
          const recursive = bool(values, 'recursive');
          const res = await client.request<{ secrets: SecretMeta[] }>('GET', `${envPrefix(scope)}/secrets`, {
            query: {
              path: singlePath(scope),
              recursive: recursive ? 'true' : undefined,
              deleted: bool(values, 'deleted') ? 'true' : undefined,
            },
          });
          let revealed: Map<string, string> | undefined;
          if (bool(values, 'reveal')) {
            const bulk = await client.bulkRead({
              project: scope.project,
              env: scope.env,
              paths: [singlePath(scope)],
              recursive,
            });
            revealed = new Map();
            if (!bulk.notModified) {
              for (const folder of bulk.data.folders) {
                for (const s of folder.secrets) revealed.set(`${folder.path}\0${s.name}`, s.value);
              }
            }
          }
          const rows = res.secrets.map((s) => ({
            ...s,
            ...(revealed === undefined
              ? {}
              : { value: s.deleted ? null : (revealed.get(`${s.path}\0${s.name}`) ?? null) }),
          }));
          if (bool(values, 'json')) return printJson({ secrets: rows });
          printTable(
            [
              'NAME',
              ...(recursive ? ['PATH'] : []),
              'VERSION',
              'UPDATED',
              'BY',
              ...(revealed === undefined ? [] : ['VALUE']),
            ],
            rows.map((s) => [
              s.deleted ? `${s.name} (deleted)` : s.name,
              ...(recursive ? [s.path] : []),
              s.version,
              formatTime(s.updatedAt),
              s.updatedBy,
              ...('value' in s ? [s.value ?? ''] : []),
            ]),
          );
        },
      },
      delete: {
        summary: specs.delete.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.delete, args);
          if (positionals.length === 0) throw usageError('name at least one secret to delete');
          const expected = int(values, 'if-version');
          if (expected !== undefined && positionals.length !== 1)
            throw usageError('--if-version applies to one secret');
          const { scope, client } = await scopedContext(values);
          const result = await client.request<BatchResult>('POST', `${envPrefix(scope)}/secrets`, {
            query: { path: singlePath(scope) },
            body: {
              changes: positionals.map((name) => ({ name: secretName(name), delete: true, ifVersion: expected })),
              ifRevision: int(values, 'if-revision'),
            },
          });
          printBatch(result, bool(values, 'json'));
        },
      },
      history: {
        summary: specs.history.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.history, args);
          const name = secretName(one(positionals, 'secret name'));
          const { scope, client } = await scopedContext(values);
          const res = await client.request<{ versions: SecretVersionInfo[] }>(
            'GET',
            `${envPrefix(scope)}/secrets/${encodeURIComponent(name)}/versions`,
            { query: { path: singlePath(scope) } },
          );
          if (bool(values, 'json')) return printJson(res);
          printTable(
            ['VERSION', 'CHANGE', 'WHEN', 'BY', 'REVISION', 'NOTE'],
            res.versions.map((v) => [
              v.version,
              v.op,
              formatTime(v.createdAt),
              v.createdBy,
              v.folderRevision,
              [
                v.restoredFrom === null ? '' : `restored v${v.restoredFrom}`,
                v.destroyed ? `value destroyed ${formatTime(v.destroyedAt ?? '')} by ${v.destroyedBy ?? '?'}` : '',
              ]
                .filter((s) => s !== '')
                .join('; '),
            ]),
          );
        },
      },
      rollback: {
        summary: specs.rollback.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.rollback, args);
          const toVersion = int(values, 'to-version');
          const toRevision = int(values, 'to-revision');
          const toTime = str(values, 'to-time');
          const { scope, client } = await scopedContext(values);
          if (positionals.length > 0) {
            const name = secretName(one(positionals, 'secret name'));
            if (toVersion === undefined) throw usageError('rolling back a secret needs --to-version N');
            const result = await client.request<BatchResult>(
              'POST',
              `${envPrefix(scope)}/secrets/${encodeURIComponent(name)}/rollback`,
              { query: { path: singlePath(scope) }, body: { toVersion, ifVersion: int(values, 'if-version') } },
            );
            return printBatch(result, bool(values, 'json'));
          }
          if ((toRevision === undefined) === (toTime === undefined)) {
            throw usageError('give a secret name with --to-version, or --to-revision or --to-time for the folder');
          }
          const result = await client.request<FolderRollbackResult>('POST', `${envPrefix(scope)}/folders/rollback`, {
            query: { path: singlePath(scope) },
            body: { toRevision, toTime, ifRevision: int(values, 'if-revision') },
          });
          if (bool(values, 'json')) return printJson(result);
          note(`restored ${result.path} to its state at revision ${result.restoredRevision}`);
          printBatch(result, false);
        },
      },
      destroy: {
        summary: specs.destroy.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.destroy, args);
          const name = secretName(one(positionals, 'secret name'));
          const version = int(values, 'version');
          if (version === undefined) throw usageError('--version N is required');
          const { scope, client } = await scopedContext(values);
          await client.request(
            'POST',
            `${envPrefix(scope)}/secrets/${encodeURIComponent(name)}/versions/${version}/destroy`,
            { query: { path: singlePath(scope) } },
          );
          if (bool(values, 'json')) return printJson({ name, version, destroyed: true });
          note(`destroyed the value of ${name} version ${version}`);
        },
      },
      import: {
        summary: specs.import.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.import, args);
          const file = one(positionals, 'dotenv file');
          let text: string;
          try {
            text = file === '-' ? await readAllStdin() : readFileSync(file, 'utf8');
          } catch (error) {
            throw new CliError(
              'CONFIG_INVALID',
              `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
            );
          }
          const { parseDotenv } = await import('../secrets/dotenv-format.js');
          const entries = await parseDotenv(text, file);
          if (entries.length === 0) throw new CliError('INVALID_INPUT', `${file} holds no variables`);
          const { scope, client } = await scopedContext(values);
          const path = singlePath(scope);
          if (bool(values, 'dry-run')) {
            const current = await client
              .bulkRead({ project: scope.project, env: scope.env, paths: [path] })
              .catch((error: unknown) => {
                if ((error as { code?: string }).code === 'NOT_FOUND') return undefined;
                throw error;
              });
            const expectedRevision = int(values, 'if-revision');
            const revision =
              current === undefined || current.notModified ? 0 : (current.data.folders[0]?.revision ?? 0);
            if (expectedRevision !== undefined && expectedRevision !== revision) {
              throw new CliError('CONFLICT', `folder ${path} is at revision ${revision}, not ${expectedRevision}`);
            }
            const live: ReadonlyMap<string, MergedSecret> =
              current === undefined || current.notModified ? new Map() : mergeFolders(current.data.folders).secrets;
            const results = entries.map(({ name, value }) => {
              const existing = live.get(name);
              const outcome = existing === undefined ? 'created' : existing.value === value ? 'unchanged' : 'updated';
              return { name, outcome, version: existing?.version ?? 0 };
            });
            if (bool(values, 'json')) return printJson({ path, dryRun: true, results });
            for (const r of results)
              printLine(
                `${`would ${r.outcome === 'unchanged' ? 'keep' : r.outcome.replace(/d$/, '')}`.padEnd(14)} ${r.name}`,
              );
            return;
          }
          const result = await client.request<BatchResult>('POST', `${envPrefix(scope)}/secrets`, {
            query: { path },
            body: { changes: entries, ifRevision: int(values, 'if-revision') },
          });
          printBatch(result, bool(values, 'json'));
          if (!bool(values, 'json')) {
            const count = (o: string) => result.results.filter((r) => r.outcome === o).length;
            note(
              `imported ${file}: ${count('created')} created, ${count('updated')} updated, ${count('unchanged')} unchanged`,
            );
          }
        },
      },
    },
    argv,
  );
}
