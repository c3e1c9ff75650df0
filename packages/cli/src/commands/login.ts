import { bool, parseCommand, str, type CommandSpec } from '../args.js';
import { CONNECTION_OPTIONS, JSON_OPTION } from '../command-context.js';
import { connect, tlsFromEnv } from '../config/connection.js';
import { findProjectFile } from '../config/project-file.js';
import { readSession, removeSession, writeSession } from '../config/session.js';
import { CliError, usageError } from '../errors.js';
import { note, printJson, printLine } from '../output/print.js';
import { readSecretInput } from '../secrets/read-hidden.js';

const loginSpec: CommandSpec = {
  name: 'keybox login',
  usage: ['keybox login --user NAME [--addr URL] [--password-stdin]'],
  summary: 'Sign in as a user; the session token is kept in ~/.config/keybox/session.json (0600).',
  details: [
    'The password is read from the terminal without echo, or from stdin with --password-stdin (or when stdin is',
    'not a terminal). Sessions last 12 hours. Commands use the session when no KEYBOX_TOKEN or machine identity',
    'is set. `keybox logout` ends it on the server and deletes the file.',
  ],
  options: {
    user: { type: 'string', short: 'u', value: 'NAME', description: 'user name (default: KEYBOX_USER)' },
    'password-stdin': { type: 'boolean', description: 'read the password from stdin' },
    ...CONNECTION_OPTIONS,
    ...JSON_OPTION,
  },
};

const logoutSpec: CommandSpec = {
  name: 'keybox logout',
  usage: ['keybox logout'],
  summary: 'End the keybox login session on the server and delete it locally.',
  options: {},
};

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(loginSpec, argv);
  const user = str(values, 'user') ?? (process.env['KEYBOX_USER'] || undefined);
  if (user === undefined) throw usageError('--user is required');
  const addr =
    str(values, 'addr') ??
    (process.env['KEYBOX_ADDR'] || process.env['SECRETS_API_URL'] || undefined) ??
    findProjectFile(process.cwd())?.addr;
  if (addr === undefined) throw usageError('no server address', 'pass --addr or set KEYBOX_ADDR');
  if (bool(values, 'password-stdin') && process.stdin.isTTY) throw usageError('--password-stdin needs a pipe on stdin');
  const password = await readSecretInput(`Password for ${user}: `);
  if (password === '') throw new CliError('INVALID_INPUT', 'empty password');
  const client = connect({ addr, ...tlsFromEnv(process.env) });
  const result = await client.request<{ token: string; expiresAt: string | null; user: string }>(
    'POST',
    '/api/v1/auth/user-login',
    { body: { name: user, password } },
  );
  const file = writeSession(process.env, { addr, token: result.token, user: result.user, expiresAt: result.expiresAt });
  if (bool(values, 'json')) printJson({ user: result.user, addr, expiresAt: result.expiresAt, sessionFile: file });
  else note(`signed in to ${addr} as ${result.user} until ${result.expiresAt ?? 'revoked'} (session in ${file})`);
  return 0;
}

export async function logout(argv: string[]): Promise<number> {
  parseCommand(logoutSpec, argv);
  const session = readSession(process.env);
  if (session === undefined) {
    removeSession(process.env);
    note('not signed in');
    return 0;
  }
  const client = connect({ addr: session.addr, token: session.token, ...tlsFromEnv(process.env) });
  try {
    await client.request('POST', '/api/v1/auth/token/revoke');
  } catch (error) {
    // An expired or already revoked session is gone either way; anything else is worth saying.
    if ((error as { code?: string }).code !== 'UNAUTHENTICATED') note(`could not revoke the session on the server`);
  }
  removeSession(process.env);
  printLine(`signed out of ${session.addr}`);
  return 0;
}
