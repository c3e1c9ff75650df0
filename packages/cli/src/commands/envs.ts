import type { EnvironmentInfo } from '@keybox/sdk';
import { bool, parseCommand, str, type CommandSpec, onePositional } from '../args.js';
import { clientOnly, CONNECTION_OPTIONS, JSON_OPTION } from '../command-context.js';
import { findProjectFile } from '../config/project-file.js';
import { usageError } from '../errors.js';
import { formatTime, note, printJson, printTable } from '../output/print.js';
import { dispatch } from '../subcommands.js';

const projectOption = {
  project: {
    type: 'string',
    short: 'p',
    value: 'P',
    description: 'project slug (default: KEYBOX_PROJECT, .keybox.json)',
  },
} as const;
const common = { ...projectOption, ...CONNECTION_OPTIONS, ...JSON_OPTION };

const listSpec: CommandSpec = {
  name: 'keybox envs list',
  usage: ['keybox envs list [--project P] [--json]'],
  summary: "List a project's environments.",
  options: common,
};
const createSpec: CommandSpec = {
  name: 'keybox envs create',
  usage: ['keybox envs create SLUG [--project P] [--name NAME] [--json]'],
  summary: 'Add an environment to a project.',
  options: { ...common, name: { type: 'string', value: 'NAME', description: 'display name' } },
  positionals: true,
};
const renameSpec: CommandSpec = {
  name: 'keybox envs rename',
  usage: ['keybox envs rename SLUG NAME [--project P] [--json]'],
  summary: "Change an environment's display name (the slug stays).",
  options: common,
  positionals: true,
};
const deleteSpec: CommandSpec = {
  name: 'keybox envs delete',
  usage: ['keybox envs delete SLUG [--project P] [--force]'],
  summary: 'Delete an environment. One that still holds secrets needs --force.',
  options: {
    ...projectOption,
    ...CONNECTION_OPTIONS,
    force: { type: 'boolean', description: 'delete even if it holds secrets' },
  },
  positionals: true,
};

function projectOf(values: Record<string, unknown>): string {
  const flag = typeof values['project'] === 'string' ? values['project'] : undefined;
  const project = flag ?? (process.env['KEYBOX_PROJECT'] || undefined) ?? findProjectFile(process.cwd())?.project;
  if (project === undefined) throw usageError('no project given', 'pass --project or set KEYBOX_PROJECT');
  return project;
}

function envsPath(project: string, env?: string): string {
  const base = `/api/v1/projects/${encodeURIComponent(project)}/environments`;
  return env === undefined ? base : `${base}/${encodeURIComponent(env)}`;
}

const one = (positionals: string[]) => onePositional(positionals, 'environment slug');

export function run(argv: string[]) {
  return dispatch(
    'envs',
    {
      list: {
        summary: listSpec.summary,
        async run(args) {
          const { values } = parseCommand(listSpec, args);
          const { client } = await clientOnly(values);
          const res = await client.request<{ environments: EnvironmentInfo[] }>('GET', envsPath(projectOf(values)));
          if (bool(values, 'json')) return printJson(res);
          printTable(
            ['ENV', 'NAME', 'CREATED'],
            res.environments.map((e) => [e.slug, e.name, formatTime(e.createdAt)]),
          );
        },
      },
      create: {
        summary: createSpec.summary,
        async run(args) {
          const { values, positionals } = parseCommand(createSpec, args);
          const slug = one(positionals);
          const project = projectOf(values);
          const { client } = await clientOnly(values);
          const res = await client.request<{ environment: EnvironmentInfo }>('POST', envsPath(project), {
            body: { slug, name: str(values, 'name') },
          });
          if (bool(values, 'json')) return printJson(res);
          note(`created environment ${slug} in ${project}`);
        },
      },
      rename: {
        summary: renameSpec.summary,
        async run(args) {
          const { values, positionals } = parseCommand(renameSpec, args);
          if (positionals.length !== 2) throw usageError('give the environment slug and the new name');
          const project = projectOf(values);
          const { client } = await clientOnly(values);
          const res = await client.request<{ environment: EnvironmentInfo }>(
            'PATCH',
            envsPath(project, positionals[0]),
            { body: { name: positionals[1] } },
          );
          if (bool(values, 'json')) return printJson(res);
          note(`renamed environment ${res.environment.slug} to "${res.environment.name}"`);
        },
      },
      delete: {
        summary: deleteSpec.summary,
        async run(args) {
          const { values, positionals } = parseCommand(deleteSpec, args);
          const slug = one(positionals);
          const project = projectOf(values);
          const { client } = await clientOnly(values);
          await client.request('DELETE', envsPath(project, slug), {
            query: { force: bool(values, 'force') ? 'true' : undefined },
          });
          note(`deleted environment ${slug} from ${project}`);
        },
      },
    },
    argv,
  );
}
