import { createKeyboxClient, type KeyboxClient } from '@keybox/sdk';
import { CliError } from '../errors.js';
import type { ProjectFile } from './project-file.js';

// Builtins come from process.getBuiltinModule: an ESM `import` of a builtin costs 2-8 ms each on Node 24 (the
// namespace is built eagerly), and this file is on the path of `keybox run`.
const { readFileSync } = process.getBuiltinModule('node:fs');

export interface Connection {
  addr: string;
  token: string;
  caCert: Buffer | undefined;
}

/**
 * Where the server is and how to authenticate: `--addr`, then `KEYBOX_ADDR` / `SECRETS_API_URL`, then `.keybox.json`;
 * the token from `KEYBOX_TOKEN` / `SECRETS_API_TOKEN`, or the file named by `KEYBOX_TOKEN_FILE`. There is no
 * `--token` flag on purpose: argv is visible to every user of the machine.
 */
export function resolveConnection(
  flags: { addr?: string | undefined },
  env: NodeJS.ProcessEnv,
  file: ProjectFile | undefined,
): Connection {
  const addr = first(flags.addr, env['KEYBOX_ADDR'], env['SECRETS_API_URL'], file?.addr);
  if (addr === undefined) {
    throw new CliError('CREDENTIALS_MISSING', 'no Keybox server address', {
      hint: 'set KEYBOX_ADDR (or SECRETS_API_URL), e.g. export KEYBOX_ADDR=http://127.0.0.1:8210',
    });
  }
  let token = first(env['KEYBOX_TOKEN'], env['SECRETS_API_TOKEN']);
  const tokenFile = first(env['KEYBOX_TOKEN_FILE']);
  if (token === undefined && tokenFile !== undefined) token = readSmallFile(tokenFile, 'KEYBOX_TOKEN_FILE').trim();
  if (token === undefined || token === '') {
    throw new CliError('CREDENTIALS_MISSING', 'no Keybox token', {
      hint: 'set KEYBOX_TOKEN (or SECRETS_API_TOKEN), or KEYBOX_TOKEN_FILE to a file holding it',
    });
  }
  const caFile = first(env['KEYBOX_CACERT']);
  const caCert = caFile === undefined ? undefined : Buffer.from(readSmallFile(caFile, 'KEYBOX_CACERT'));
  return { addr, token, caCert };
}

export function connect(connection: Connection, timeoutMs?: number): KeyboxClient {
  return createKeyboxClient({
    addr: connection.addr,
    token: connection.token,
    caCert: connection.caCert,
    timeoutMs,
    userAgent: 'keybox-cli/0.1.0',
  });
}

function readSmallFile(path: string, label: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(
      'CONFIG_INVALID',
      `${label}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

function first(...values: (string | undefined)[]): string | undefined {
  return values.find((v) => v !== undefined && v !== '');
}
