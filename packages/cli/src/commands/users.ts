import { bool, parseCommand, str, strs, type CommandSpec, onePositional } from '../args.js';
import { clientOnly, CONNECTION_OPTIONS, JSON_OPTION } from '../command-context.js';
import { openClient, resolveConnection } from '../config/connection.js';
import { findProjectFile } from '../config/project-file.js';
import { readSession } from '../config/session.js';
import { usageError } from '../errors.js';
import { formatTime, note, printJson, printTable } from '../output/print.js';
import { readSecretInput } from '../secrets/read-hidden.js';
import { dispatch } from '../subcommands.js';
import { policyAttachmentCommands } from './policy-attachments.js';

interface User {
  name: string;
  admin: boolean;
  policies: string[];
  createdAt: string;
  disabled: boolean;
  lastLoginAt: string | null;
}

const common = { ...CONNECTION_OPTIONS, ...JSON_OPTION };
const passwordDetails = [
  'The password is read from the terminal without echo, or from stdin when it is not a terminal (at least 12',
  'characters); it never goes in argv.',
];

const specs = {
  create: {
    name: 'keybox users create',
    usage: ['keybox users create NAME [--admin] [--policy P ...]'],
    summary: 'Create a user (for keybox login and the web UI).',
    details: passwordDetails,
    options: {
      ...common,
      admin: { type: 'boolean', description: 'attach the built-in admin policy' },
      policy: { type: 'string', multiple: true, value: 'P', description: 'policy to attach' },
    },
    positionals: true,
  },
  list: { name: 'keybox users list', usage: ['keybox users list'], summary: 'List users.', options: common },
  passwd: {
    name: 'keybox users passwd',
    usage: ['keybox users passwd NAME'],
    summary: "Set a user's password (yours, or anyone's as an admin); their sessions end.",
    details: [
      ...passwordDetails,
      'Your own password, from your login session, needs the current one first: on a terminal it is asked for;',
      'from stdin, give the current password on the first line and the new one on the second.',
    ],
    options: common,
    positionals: true,
  },
  disable: {
    name: 'keybox users disable',
    usage: ['keybox users disable NAME'],
    summary: 'Disable a user and end their sessions.',
    options: common,
    positionals: true,
  },
  enable: {
    name: 'keybox users enable',
    usage: ['keybox users enable NAME'],
    summary: 'Enable a user again.',
    options: common,
    positionals: true,
  },
  delete: {
    name: 'keybox users delete',
    usage: ['keybox users delete NAME'],
    summary: 'Delete a user.',
    options: CONNECTION_OPTIONS,
    positionals: true,
  },
} satisfies Record<string, CommandSpec>;

const one = (positionals: string[]) => onePositional(positionals, 'user name');

async function newPassword(name: string): Promise<string> {
  const password = await readSecretInput(`New password for ${name}: `);
  if (process.stdin.isTTY) {
    const again = await readSecretInput('Again: ');
    if (again !== password) throw usageError('the passwords differ');
  }
  return password;
}

const at = (name: string) => `/api/v1/users/${encodeURIComponent(name)}`;

export function run(argv: string[]) {
  const setDisabled = (disabled: boolean, spec: CommandSpec) => async (args: string[]) => {
    const { values, positionals } = parseCommand(spec, args);
    const name = one(positionals);
    const { client } = await clientOnly(values);
    const res = await client.request<{ user: User }>('PATCH', at(name), { body: { disabled } });
    if (bool(values, 'json')) return printJson(res);
    note(`${disabled ? 'disabled' : 'enabled'} user ${name}`);
  };
  return dispatch(
    'users',
    {
      create: {
        summary: specs.create.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.create, args);
          const name = one(positionals);
          const password = await newPassword(name);
          const { client } = await clientOnly(values);
          const res = await client.request<{ user: User }>('POST', '/api/v1/users', {
            body: { name, password, admin: bool(values, 'admin'), policies: strs(values, 'policy') },
          });
          if (bool(values, 'json')) return printJson(res);
          note(
            `created user ${name}${res.user.admin ? ' (admin)' : ''}; they sign in with: keybox login --user ${name}`,
          );
        },
      },
      list: {
        summary: specs.list.summary,
        async run(args) {
          const { values } = parseCommand(specs.list, args);
          const { client } = await clientOnly(values);
          const res = await client.request<{ users: User[] }>('GET', '/api/v1/users');
          if (bool(values, 'json')) return printJson(res);
          printTable(
            ['NAME', 'POLICIES', 'CREATED', 'LAST LOGIN'],
            res.users.map((u) => [
              u.disabled ? `${u.name} (disabled)` : u.name,
              u.policies.join(','),
              formatTime(u.createdAt),
              u.lastLoginAt === null ? '-' : formatTime(u.lastLoginAt),
            ]),
          );
        },
      },
      passwd: {
        summary: specs.passwd.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.passwd, args);
          const name = one(positionals);
          const connection = resolveConnection(
            { addr: str(values, 'addr') },
            process.env,
            findProjectFile(process.cwd()),
          );
          // Changing your own password (signed in with your login session) needs the current one.
          const session = readSession(process.env);
          const self = session !== undefined && session.user === name && connection.token === session.token;
          let currentPassword: string | undefined;
          let password: string;
          if (self && !process.stdin.isTTY) {
            const lines = (await readSecretInput('')).split(/\r?\n/);
            if (lines.length !== 2) throw usageError('give the current password and the new one on two lines of stdin');
            [currentPassword, password] = lines as [string, string];
          } else {
            currentPassword = self ? await readSecretInput('Current password: ') : undefined;
            password = await newPassword(name);
          }
          const client = await openClient(connection);
          await client.request('PATCH', at(name), { body: { password, currentPassword } });
          note(`password changed for ${name}; their sessions have ended`);
        },
      },
      disable: { summary: specs.disable.summary, run: setDisabled(true, specs.disable) },
      enable: { summary: specs.enable.summary, run: setDisabled(false, specs.enable) },
      delete: {
        summary: specs.delete.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.delete, args);
          const name = one(positionals);
          const { client } = await clientOnly(values);
          await client.request('DELETE', at(name));
          note(`deleted user ${name}`);
        },
      },
      ...policyAttachmentCommands('users', 'user'),
    },
    argv,
  );
}
