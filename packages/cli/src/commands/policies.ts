import { bool, parseCommand, str, type CommandSpec, onePositional } from '../args.js';
import { clientOnly, CONNECTION_OPTIONS, JSON_OPTION } from '../command-context.js';
import { normalisePath } from '../config/scope.js';
import { CliError, usageError } from '../errors.js';
import { formatTime, note, printJson, printLine, printTable } from '../output/print.js';
import { dispatch } from '../subcommands.js';

// Builtins via process.getBuiltinModule, not `import`: the CLI is one bundle, and an ESM import of a builtin there
// costs every command, `keybox run` included, ~2 ms each (see config/project-file.ts).
const { readFileSync } = process.getBuiltinModule('node:fs');

interface Rule {
  effect: 'allow' | 'deny';
  projects: string[];
  environments: string[];
  paths: string[];
  capabilities: string[];
}
interface Policy {
  name: string;
  description: string;
  rules: Rule[];
  builtin: boolean;
  updatedAt: string;
  updatedBy: string;
}

const common = { ...CONNECTION_OPTIONS, ...JSON_OPTION };

const specs = {
  list: { name: 'keybox policies list', usage: ['keybox policies list'], summary: 'List policies.', options: common },
  get: {
    name: 'keybox policies get',
    usage: ['keybox policies get NAME'],
    summary: "Show a policy's rules.",
    options: common,
    positionals: true,
  },
  put: {
    name: 'keybox policies put',
    usage: [
      'keybox policies put NAME --file rules.json [--description TEXT]',
      'keybox policies put NAME --role ci-reader|project-admin --project P [--env E --path /p]',
    ],
    summary: 'Create or replace a policy, from a rules file or from a role template.',
    details: [
      'Rules (JSON array): {"effect":"allow"|"deny", "projects":["shop"|"*"], "environments":["prod"|"*"],',
      '"paths":["/backend/**"], "capabilities":["read","list","write","delete","admin"]}. Deny by default; an',
      'explicit deny wins. Paths: /a (that folder), /a/* (its sub-folders), /a/** (it and everything below).',
      'Built in: admin (everything), developer (all but writes and deletes in prod).',
    ],
    options: {
      ...common,
      file: { type: 'string', short: 'f', value: 'FILE', description: 'rules as JSON (- for stdin)' },
      role: { type: 'string', value: 'ROLE', description: 'ci-reader or project-admin' },
      project: { type: 'string', short: 'p', value: 'P', description: 'scope of the role' },
      env: { type: 'string', short: 'e', value: 'E', description: 'scope of the role' },
      path: { type: 'string', value: '/PATH', description: 'scope of the role' },
      description: { type: 'string', value: 'TEXT', description: 'what it is for' },
    },
    positionals: true,
  },
  delete: {
    name: 'keybox policies delete',
    usage: ['keybox policies delete NAME'],
    summary: 'Delete a policy (it is detached from everyone who had it).',
    options: CONNECTION_OPTIONS,
    positionals: true,
  },
} satisfies Record<string, CommandSpec>;

const one = (positionals: string[]) => onePositional(positionals, 'policy name');

function show(policy: Policy) {
  printLine(`${policy.name}${policy.builtin ? ' (built in)' : ''}: ${policy.description}`);
  printTable(
    ['EFFECT', 'PROJECTS', 'ENVIRONMENTS', 'PATHS', 'CAPABILITIES'],
    policy.rules.map((r) => [
      r.effect,
      r.projects.join(','),
      r.environments.join(','),
      r.paths.join(','),
      r.capabilities.join(','),
    ]),
  );
}

const at = (name: string) => `/api/v1/policies/${encodeURIComponent(name)}`;

export function run(argv: string[]) {
  return dispatch(
    'policies',
    {
      list: {
        summary: specs.list.summary,
        async run(args) {
          const { values } = parseCommand(specs.list, args);
          const { client } = await clientOnly(values);
          const res = await client.request<{ policies: Policy[] }>('GET', '/api/v1/policies');
          if (bool(values, 'json')) return printJson(res);
          printTable(
            ['NAME', 'RULES', 'DESCRIPTION', 'UPDATED'],
            res.policies.map((p) => [
              p.builtin ? `${p.name} (built in)` : p.name,
              p.rules.length,
              p.description,
              formatTime(p.updatedAt),
            ]),
          );
        },
      },
      get: {
        summary: specs.get.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.get, args);
          const { client } = await clientOnly(values);
          const res = await client.request<{ policy: Policy }>('GET', at(one(positionals)));
          if (bool(values, 'json')) return printJson(res);
          show(res.policy);
        },
      },
      put: {
        summary: specs.put.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.put, args);
          const name = one(positionals);
          const file = str(values, 'file');
          const role = str(values, 'role');
          if ((file === undefined) === (role === undefined)) throw usageError('give --file or --role');
          let body: Record<string, unknown> = { description: str(values, 'description') };
          if (file !== undefined) {
            let rules: unknown;
            try {
              rules = JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8')) as unknown;
            } catch (error) {
              throw new CliError(
                'CONFIG_INVALID',
                `${file}: ${error instanceof SyntaxError ? 'not valid JSON' : 'cannot be read'}`,
              );
            }
            body = { ...body, rules };
          } else {
            const project = str(values, 'project');
            if (project === undefined) throw usageError(`--role ${role ?? ''} needs --project`);
            body = {
              ...body,
              role,
              scope: { project, env: str(values, 'env') ?? '*', path: normalisePath(str(values, 'path') ?? '/') },
            };
          }
          const { client } = await clientOnly(values);
          const res = await client.request<{ policy: Policy }>('PUT', at(name), { body });
          if (bool(values, 'json')) return printJson(res);
          show(res.policy);
        },
      },
      delete: {
        summary: specs.delete.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.delete, args);
          const name = one(positionals);
          const { client } = await clientOnly(values);
          await client.request('DELETE', at(name));
          note(`deleted policy ${name}`);
        },
      },
    },
    argv,
  );
}
