import type { ProjectInfo } from '@keybox/sdk';
import { bool, parseCommand, str, type CommandSpec, onePositional } from '../args.js';
import { clientOnly, CONNECTION_OPTIONS, JSON_OPTION } from '../command-context.js';
import { usageError } from '../errors.js';
import { formatTime, note, printJson, printTable } from '../output/print.js';
import { dispatch } from '../subcommands.js';

const common = { ...CONNECTION_OPTIONS, ...JSON_OPTION };

const listSpec: CommandSpec = {
  name: 'keybox projects list',
  usage: ['keybox projects list [--json]'],
  summary: 'List projects and their environments.',
  options: common,
};
const createSpec: CommandSpec = {
  name: 'keybox projects create',
  usage: ['keybox projects create SLUG [--name NAME] [--envs dev,staging,prod] [--json]'],
  summary: 'Create a project with its environments (dev, staging and prod unless --envs says otherwise).',
  options: {
    ...common,
    name: { type: 'string', value: 'NAME', description: 'display name' },
    envs: { type: 'string', value: 'A,B', description: 'environment slugs to create' },
  },
  positionals: true,
};
const getSpec: CommandSpec = {
  name: 'keybox projects get',
  usage: ['keybox projects get SLUG [--json]'],
  summary: 'Show one project.',
  options: common,
  positionals: true,
};
const renameSpec: CommandSpec = {
  name: 'keybox projects rename',
  usage: ['keybox projects rename SLUG NAME [--json]'],
  summary: "Change a project's display name (the slug stays).",
  options: common,
  positionals: true,
};
const deleteSpec: CommandSpec = {
  name: 'keybox projects delete',
  usage: ['keybox projects delete SLUG [--force]'],
  summary: 'Delete a project. One that still holds secrets needs --force, and everything in it is gone.',
  options: { ...CONNECTION_OPTIONS, force: { type: 'boolean', description: 'delete even if it holds secrets' } },
  positionals: true,
};

const one = onePositional;

function show(projects: ProjectInfo[], json: boolean, single = false) {
  if (json) return printJson(single ? { project: projects[0] } : { projects });
  printTable(
    ['PROJECT', 'NAME', 'ENVIRONMENTS', 'CREATED'],
    projects.map((p) => [p.slug, p.name, p.environments.map((e) => e.slug).join(','), formatTime(p.createdAt)]),
  );
}

const projectPath = (slug: string) => `/api/v1/projects/${encodeURIComponent(slug)}`;

export function run(argv: string[]) {
  return dispatch(
    'projects',
    {
      list: {
        summary: listSpec.summary,
        async run(args) {
          const { values } = parseCommand(listSpec, args);
          const { client } = await clientOnly(values);
          const res = await client.request<{ projects: ProjectInfo[] }>('GET', '/api/v1/projects');
          show(res.projects, bool(values, 'json'));
        },
      },
      create: {
        summary: createSpec.summary,
        async run(args) {
          const { values, positionals } = parseCommand(createSpec, args);
          const slug = one(positionals, 'project slug');
          const envs = str(values, 'envs')
            ?.split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '');
          const { client } = await clientOnly(values);
          const res = await client.request<{ project: ProjectInfo }>('POST', '/api/v1/projects', {
            body: { slug, name: str(values, 'name'), environments: envs },
          });
          if (!bool(values, 'json')) note(`created project ${slug}`);
          show([res.project], bool(values, 'json'), true);
        },
      },
      get: {
        summary: getSpec.summary,
        async run(args) {
          const { values, positionals } = parseCommand(getSpec, args);
          const { client } = await clientOnly(values);
          const res = await client.request<{ project: ProjectInfo }>(
            'GET',
            projectPath(one(positionals, 'project slug')),
          );
          show([res.project], bool(values, 'json'), true);
        },
      },
      rename: {
        summary: renameSpec.summary,
        async run(args) {
          const { values, positionals } = parseCommand(renameSpec, args);
          if (positionals.length !== 2) throw usageError('give the project slug and the new name');
          const { client } = await clientOnly(values);
          const res = await client.request<{ project: ProjectInfo }>('PATCH', projectPath(positionals[0] as string), {
            body: { name: positionals[1] },
          });
          show([res.project], bool(values, 'json'), true);
        },
      },
      delete: {
        summary: deleteSpec.summary,
        async run(args) {
          const { values, positionals } = parseCommand(deleteSpec, args);
          const slug = one(positionals, 'project slug');
          const { client } = await clientOnly(values);
          await client.request('DELETE', projectPath(slug), {
            query: { force: bool(values, 'force') ? 'true' : undefined },
          });
          note(`deleted project ${slug}`);
        },
      },
    },
    argv,
  );
}
