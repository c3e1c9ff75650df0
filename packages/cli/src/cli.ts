import { isKeyboxError } from '@keybox/sdk';
import { CliError, EXIT } from './errors.js';
import { writeStderr } from './output/print.js';

export const VERSION = '0.1.0';

export interface Command {
  run(argv: string[]): Promise<number | void>;
}

/** Every command, loaded only when called, so `keybox run` never loads the server or the export formats. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  run: { summary: 'start a command with its secrets in the environment', load: () => import('./commands/run.js') },
  agent: {
    summary: 'write secrets to files (NAME_FILE) and keep them current',
    load: () => import('./commands/agent.js'),
  },
  secrets: {
    summary: 'set, get, list, delete, import secrets; history and rollback',
    load: () => import('./commands/secrets.js'),
  },
  export: { summary: 'print secrets as dotenv, JSON, YAML or shell', load: () => import('./commands/export.js') },
  projects: { summary: 'list, create, rename and delete projects', load: () => import('./commands/projects.js') },
  envs: { summary: 'list, create and delete environments of a project', load: () => import('./commands/envs.js') },
  folders: { summary: 'list folders and their revision history', load: () => import('./commands/folders.js') },
  init: { summary: 'write .keybox.json naming the project and environment', load: () => import('./commands/init.js') },
  check: {
    summary: "show each manifest item's presence and source (never values)",
    load: () => import('./commands/check.js'),
  },
  manifest: { summary: 'draft or validate keybox.manifest.json', load: () => import('./commands/manifest.js') },
  login: {
    summary: 'sign in as a user (the session is kept in ~/.config/keybox)',
    load: () => import('./commands/login.js'),
  },
  logout: { summary: 'end the login session', load: () => import('./commands/logout.js') },
  whoami: { summary: 'show the current credential and its policies', load: () => import('./commands/whoami.js') },
  identities: {
    summary: 'machine identities: client ids, client secrets, policies',
    load: () => import('./commands/identities.js'),
  },
  users: { summary: 'people: create, passwords, disable, policies', load: () => import('./commands/users.js') },
  policies: {
    summary: 'least-privilege policies: list, show, put, delete',
    load: () => import('./commands/policies.js'),
  },
  tokens: { summary: 'static API tokens: create, list, revoke', load: () => import('./commands/tokens.js') },
  audit: {
    summary: 'the audit log (list, verify); permissions of keys and files (perms)',
    load: () => import('./commands/audit.js'),
  },
  backup: { summary: "download a consistent copy of the server's store", load: () => import('./commands/backup.js') },
  rotate: { summary: 'rotate the root key or the data key', load: () => import('./commands/rotate.js') },
  server: { summary: 'start the Keybox server', load: () => import('./commands/server.js') },
};

const ALIASES: Record<string, string> = {
  environments: 'envs',
  secret: 'secrets',
  project: 'projects',
  identity: 'identities',
  user: 'users',
  policy: 'policies',
  token: 'tokens',
};

function topHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  return [
    'Usage: keybox <command> [options]',
    '',
    'Keybox: self-hosted secrets manager and runtime secret injector.',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    "Run `keybox <command> --help` for a command's options.",
    'Connection: KEYBOX_ADDR (or SECRETS_API_URL) and KEYBOX_TOKEN (or SECRETS_API_TOKEN, KEYBOX_TOKEN_FILE),',
    'or KEYBOX_CLIENT_ID + KEYBOX_CLIENT_SECRET (a machine identity), or `keybox login`.',
    '',
  ].join('\n');
}

/** The one error boundary: errors become `keybox: error: …` plus a hint, and an exit code. */
export async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(topHelp());
    process.exitCode = first === undefined ? EXIT.usage : EXIT.ok;
    return;
  }
  if (first === '--version' || first === 'version') {
    process.stdout.write(`keybox ${VERSION} (node ${process.version})\n`);
    return;
  }
  const name = ALIASES[first] ?? first;
  const entry = COMMANDS[name];
  if (entry === undefined) {
    writeStderr(`keybox: error: unknown command "${first.slice(0, 40)}"\nhint: see keybox --help\n`);
    process.exitCode = EXIT.usage;
    return;
  }
  try {
    const command = await entry.load();
    const code = await command.run(rest);
    if (typeof code === 'number') process.exitCode = code;
  } catch (error) {
    process.exitCode = report(error, name === 'run' ? EXIT.runFailed : undefined);
  }
}

/** Prints an error and returns the exit code. `forced` overrides it (run uses 125 for every own failure). */
export function report(error: unknown, forced?: number): number {
  if (error instanceof CliError) {
    writeStderr(`keybox: error: ${error.message}\n${error.hint === undefined ? '' : `hint: ${error.hint}\n`}`);
    return forced ?? error.exitCode;
  }
  if (isKeyboxError(error)) {
    const hint = hintFor(error.code, error.details);
    const id = error.requestId === undefined ? '' : ` (request ${error.requestId})`;
    writeStderr(`keybox: error: ${error.message} [${error.code}]${id}\n${hint === undefined ? '' : `hint: ${hint}\n`}`);
    return forced ?? EXIT.error;
  }
  const message = error instanceof Error ? error.message : String(error);
  writeStderr(`keybox: error: unexpected failure: ${message}\n`);
  if (process.env['KEYBOX_DEBUG'] === '1' && error instanceof Error) writeStderr(`${error.stack ?? ''}\n`);
  return forced ?? EXIT.error;
}

function hintFor(code: string, details: Record<string, unknown> | undefined): string | undefined {
  switch (code) {
    case 'UNAUTHENTICATED':
      return 'the credential was rejected: check KEYBOX_TOKEN (SECRETS_API_TOKEN, KEYBOX_TOKEN_FILE) or KEYBOX_CLIENT_ID/SECRET, or keybox login again';
    case 'FORBIDDEN':
      return 'your policies do not allow this: see keybox whoami';
    case 'RATE_LIMITED':
      return 'too many attempts from here; wait and retry';
    case 'UNREACHABLE':
    case 'TIMEOUT':
      return 'is the server running? check KEYBOX_ADDR';
    case 'CONFLICT':
      // Only a failed check-and-set carries `expected`; other conflicts explain themselves.
      return details?.['expected'] === undefined
        ? undefined
        : 'it changed since you read it; look again (history, folders history) and retry with the current number';
    default:
      return undefined;
  }
}
