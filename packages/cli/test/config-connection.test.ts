import { writeFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keybox, serverEnv, startServer, tempDir, type RunResult, type TestServer } from './support/keybox.js';

/* Connection settings, usage errors, exit codes and --help, through the built `keybox` binary. */

let server: TestServer;
let cwd: string;
let closedPort: number;
const scope = ['--project', 'conn', '--env', 'dev'];

function kb(args: string[], env: NodeJS.ProcessEnv = serverEnv(server)): RunResult {
  const result = keybox(args, { env, cwd });
  if (server.token !== '') expect(result.stderr).not.toContain(server.token);
  return result;
}

beforeAll(async () => {
  server = await startServer();
  cwd = tempDir('keybox-conn-');
  expect(kb(['projects', 'create', 'conn', '--envs', 'dev']).status).toBe(0);
  expect(kb(['secrets', 'set', 'PING=pong', ...scope]).status).toBe(0);
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});

afterAll(async () => {
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
  rmSync(cwd, { recursive: true, force: true });
});

describe('connection settings', () => {
  it('accepts SECRETS_API_URL and SECRETS_API_TOKEN in place of KEYBOX_ADDR and KEYBOX_TOKEN', () => {
    const result = kb(['secrets', 'get', 'PING', ...scope], {
      SECRETS_API_URL: server.url,
      SECRETS_API_TOKEN: server.token,
    });
    expect(result).toMatchObject({ status: 0, stdout: 'pong' });
  });

  it('reads the token from KEYBOX_TOKEN_FILE', () => {
    const file = join(cwd, 'token');
    writeFileSync(file, `${server.token}\n`, { mode: 0o600 });
    const result = kb(['secrets', 'get', 'PING', ...scope], { KEYBOX_ADDR: server.url, KEYBOX_TOKEN_FILE: file });
    expect(result).toMatchObject({ status: 0, stdout: 'pong' });
  });

  it('prefers --addr over KEYBOX_ADDR', () => {
    const env = serverEnv(server, { KEYBOX_ADDR: `http://127.0.0.1:${closedPort}` });
    expect(kb(['secrets', 'get', 'PING', ...scope, '--addr', server.url], env).stdout).toBe('pong');
  });

  it('exits 1 with a hint when the server is unreachable, without printing the token', () => {
    const result = kb(
      ['secrets', 'list', ...scope],
      serverEnv(server, { KEYBOX_ADDR: `http://127.0.0.1:${closedPort}` }),
    );
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('[UNREACHABLE]');
    expect(result.stderr).toContain('hint: is the server running? check KEYBOX_ADDR');
  });

  it('exits 1 with UNAUTHENTICATED and a hint for a rejected token, without echoing it', () => {
    const wrong = 'kbx_0000000000000000.wrong-token-canary';
    const result = kb(['secrets', 'list', ...scope], { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: wrong });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[UNAUTHENTICATED]');
    expect(result.stderr).toContain('check KEYBOX_TOKEN');
    expect(result.stderr).not.toContain('wrong-token-canary');
  });

  it('exits 1 with a hint when the address or the token is missing', () => {
    const noAddr = kb(['secrets', 'list', ...scope], { KEYBOX_TOKEN: server.token });
    expect(noAddr.status).toBe(1);
    expect(noAddr.stderr).toContain('no Keybox server address');
    expect(noAddr.stderr).toContain('hint: set KEYBOX_ADDR');
    const noToken = kb(['secrets', 'list', ...scope], { KEYBOX_ADDR: server.url });
    expect(noToken.status).toBe(1);
    expect(noToken.stderr).toContain('hint: set KEYBOX_TOKEN');
  });

  it('refuses an address with credentials in it, without echoing the password', () => {
    const addr = server.url.replace('http://', 'http://admin:pw-canary@');
    const result = kb(['secrets', 'list', ...scope], { KEYBOX_ADDR: addr, KEYBOX_TOKEN: server.token });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[CONFIG_INVALID]');
    expect(result.stderr).not.toContain('pw-canary');
  });
});

describe('usage errors', () => {
  it.each([
    ['no command', []],
    ['an unknown command', ['frobnicate']],
    ['an unknown subcommand', ['secrets', 'frobnicate']],
    ['a group without subcommand', ['secrets']],
    ['an unknown option', ['secrets', 'list', ...scope, '--bogus']],
    ['an unknown export option', ['export', ...scope, '--bogus']],
    ['a missing secret name', ['secrets', 'get', ...scope]],
    ['two secret names for get', ['secrets', 'get', 'A', 'B', ...scope]],
    ['nothing to set', ['secrets', 'set', ...scope]],
    ['a non-numeric --if-version', ['secrets', 'set', 'A=1', ...scope, '--if-version', 'x']],
    ['a positional where none is taken', ['secrets', 'list', ...scope, 'extra']],
    ['an invalid project slug', ['secrets', 'list', '--project', 'Bad Slug', '--env', 'dev']],
    ['an invalid folder path', ['secrets', 'list', ...scope, '--path', '/a/../b']],
    ['no environment', ['secrets', 'list', '--project', 'conn']],
  ])('exits 2 for %s', (_label, args) => {
    const result = kb(args);
    expect(result.status).toBe(2);
  });

  it('prints one error line and a hint for an unknown option', () => {
    const result = kb(['secrets', 'list', ...scope, '--bogus']);
    expect(result.stderr).toBe("keybox: error: Unknown option '--bogus'\nhint: see keybox secrets list --help\n");
  });
});

describe('--help', () => {
  const commands = [
    [],
    ['run'],
    ['server'],
    ['init'],
    ['export'],
    ['secrets'],
    ...['set', 'get', 'list', 'delete', 'history', 'rollback', 'destroy', 'import'].map((s) => ['secrets', s]),
    ['projects'],
    ...['list', 'create', 'get', 'rename', 'delete'].map((s) => ['projects', s]),
    ['envs'],
    ...['list', 'create', 'delete'].map((s) => ['envs', s]),
    ['folders'],
    ...['list', 'history'].map((s) => ['folders', s]),
  ];

  it.each(commands.map((c) => [c.join(' ') || '(top level)', c]))(
    'keybox %s --help prints usage and exits 0 without a server',
    (_label, command) => {
      const result = keybox([...command, '--help'], { cwd });
      expect(result.status).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toMatch(/^Usage: keybox/);
    },
  );

  it('lists every option of a command in its help', () => {
    const { stdout } = keybox(['secrets', 'set', '--help'], { cwd });
    for (const option of [
      '--project',
      '--env',
      '--path',
      '--addr',
      '--json',
      '--if-version',
      '--if-revision',
      '--help',
    ]) {
      expect(stdout).toContain(option);
    }
  });
});
