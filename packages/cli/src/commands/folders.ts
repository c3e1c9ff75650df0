import type { FolderInfo, FolderRevisionInfo } from '@keybox/sdk';
import { bool, int, parseCommand, type CommandSpec } from '../args.js';
import { envPrefix, JSON_OPTION, SCOPE_OPTIONS, scopedContext, singlePath } from '../command-context.js';
import { formatTime, printJson, printTable } from '../output/print.js';
import { dispatch } from '../subcommands.js';

const common = { ...SCOPE_OPTIONS, ...JSON_OPTION };

const listSpec: CommandSpec = {
  name: 'keybox folders list',
  usage: ['keybox folders list [--path /P] [options]'],
  summary: 'List a folder and the folders below it, with their revision and secret count.',
  options: common,
};
const historySpec: CommandSpec = {
  name: 'keybox folders history',
  usage: ['keybox folders history [--path /P] [--limit N] [options]'],
  summary: "Show a folder's revisions: who changed what, when (names and versions, never values).",
  details: ['Use a revision with `keybox secrets rollback --to-revision R` to restore the folder to it.'],
  options: { ...common, limit: { type: 'string', value: 'N', description: 'how many revisions (default 50)' } },
};

export function run(argv: string[]) {
  return dispatch(
    'folders',
    {
      list: {
        summary: listSpec.summary,
        async run(args) {
          const { values } = parseCommand(listSpec, args);
          const { scope, client } = await scopedContext(values);
          const res = await client.request<{ folders: FolderInfo[] }>('GET', `${envPrefix(scope)}/folders`, {
            query: { path: singlePath(scope) },
          });
          if (bool(values, 'json')) return printJson(res);
          printTable(
            ['PATH', 'REVISION', 'SECRETS', 'UPDATED'],
            res.folders.map((f) => [f.path, f.revision, f.secretCount, formatTime(f.updatedAt)]),
          );
        },
      },
      history: {
        summary: historySpec.summary,
        async run(args) {
          const { values } = parseCommand(historySpec, args);
          const { scope, client } = await scopedContext(values);
          const res = await client.request<{ revisions: FolderRevisionInfo[] }>(
            'GET',
            `${envPrefix(scope)}/folders/history`,
            { query: { path: singlePath(scope), limit: int(values, 'limit') } },
          );
          if (bool(values, 'json')) return printJson(res);
          printTable(
            ['REVISION', 'WHEN', 'BY', 'ACTION', 'CHANGES'],
            res.revisions.map((r) => [
              r.revision,
              formatTime(r.createdAt),
              r.createdBy,
              r.action,
              r.changes.map((c) => `${c.op === 'delete' ? '-' : '+'}${c.name}@v${c.version}`).join(' '),
            ]),
          );
        },
      },
    },
    argv,
  );
}
