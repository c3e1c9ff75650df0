import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseInjected } from '@keybox/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, createProject, setSecrets } from './support/fixtures.js';
import { keybox, serverEnv, startServer, tempDir, type TestServer } from './support/keybox.js';

/* What the child's environment holds after `keybox run`, and how keybox reports its own failures (exit 125). */

let server: TestServer;
const shared = canary('SHARED');
const backend = canary('BACKEND');

beforeAll(async () => {
  server = await startServer();
  await createProject(server, 'shop');
  const scope = { project: 'shop', env: 'dev' };
  await setSecrets(server, { ...scope, path: '/shared' }, { LOG_LEVEL: 'info', API_KEY: shared });
  await setSecrets(server, { ...scope, path: '/backend' }, { API_KEY: backend, DB_URL: 'postgres://backend' });
  await setSecrets(server, { ...scope, path: '/backend/workers' }, { DB_URL: 'postgres://workers', QUEUE: 'jobs' });
  await setSecrets(server, { ...scope, path: '/reserved' }, { PATH: '/evil', HOME: '/evil', KEYBOX_ADDR: 'x' });
  await setSecrets(server, { ...scope, path: '/dangerous' }, { NODE_OPTIONS: '--require /tmp/evil.js' });
});

afterAll(async () => {
  await server.stop();
});

const dev = ['--project', 'shop', '--env', 'dev'];
const printEnv = (...names: string[]) => ['sh', '-c', names.map((n) => `printf '%s=%s\\n' ${n} "$${n}"`).join(';')];

function lines(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
}

describe('the child environment', () => {
  it('lets a later --path win on a clash and warns naming the key, never the value', () => {
    const result = keybox(
      ['run', ...dev, '--path', '/shared', '--path', '/backend', '--', ...printEnv('API_KEY', 'LOG_LEVEL')],
      {
        env: serverEnv(server),
      },
    );
    expect(lines(result.stdout)).toEqual({ API_KEY: backend, LOG_LEVEL: 'info' });
    expect(result.stderr).toContain('API_KEY is set in /shared and /backend; using /backend');
    expect(result.stderr).not.toContain(shared);
    expect(result.stderr).not.toContain(backend);
  });

  it('lets the deeper folder win in a recursive read', () => {
    const result = keybox(
      ['run', ...dev, '--path', '/backend', '--recursive', '--', ...printEnv('DB_URL', 'QUEUE', 'API_KEY')],
      {
        env: serverEnv(server),
      },
    );
    expect(lines(result.stdout)).toEqual({ DB_URL: 'postgres://workers', QUEUE: 'jobs', API_KEY: backend });
    expect(result.stderr).toContain('DB_URL is set in /backend and /backend/workers; using /backend/workers');
  });

  it('overrides inherited variables unless --preserve-env says otherwise', () => {
    const env = serverEnv(server, { API_KEY: 'from-host', LOG_LEVEL: 'debug' });
    const cmd = ['--path', '/shared', '--', ...printEnv('API_KEY', 'LOG_LEVEL')];
    expect(lines(keybox(['run', ...dev, ...cmd], { env }).stdout)).toEqual({ API_KEY: shared, LOG_LEVEL: 'info' });
    expect(lines(keybox(['run', ...dev, '--preserve-env', ...cmd], { env }).stdout)).toEqual({
      API_KEY: 'from-host',
      LOG_LEVEL: 'debug',
    });
    expect(lines(keybox(['run', ...dev, '--preserve-env=LOG_LEVEL', ...cmd], { env }).stdout)).toEqual({
      API_KEY: shared,
      LOG_LEVEL: 'debug',
    });
  });

  it('lists what it injected in KEYBOX_INJECTED: names, folders and versions, no values', () => {
    const env = serverEnv(server, { LOG_LEVEL: 'debug' });
    const result = keybox(
      [
        'run',
        ...dev,
        '--path',
        '/shared',
        '--path',
        '/backend',
        '--preserve-env=LOG_LEVEL',
        '--',
        'sh',
        '-c',
        'printf %s "$KEYBOX_INJECTED"',
      ],
      { env },
    );
    expect(result.status).toBe(0);
    expect(result.stdout).not.toContain(backend);
    expect(parseInjected(result.stdout)).toEqual({
      v: 1,
      project: 'shop',
      env: 'dev',
      secrets: {
        API_KEY: { path: '/backend', version: 1 },
        DB_URL: { path: '/backend', version: 1 },
      },
    });
  });

  it('never overwrites PATH, HOME or KEYBOX_* and says so', () => {
    const result = keybox(['run', ...dev, '--path', '/reserved', '--', ...printEnv('HOME', 'KEYBOX_ADDR')], {
      env: serverEnv(server, { HOME: '/home/tester' }),
    });
    expect(result.status).toBe(0);
    expect(lines(result.stdout)).toEqual({ HOME: '/home/tester', KEYBOX_ADDR: server.url });
    expect(result.stderr).toContain('not overwriting');
    expect(result.stderr).toMatch(/PATH/);
  });

  it('refuses code-loading variables such as NODE_OPTIONS unless allowed by name (exit 125)', () => {
    const refused = keybox(['run', ...dev, '--path', '/dangerous', '--', 'true'], { env: serverEnv(server) });
    expect(refused.status).toBe(125);
    expect(refused.stderr).toContain('NODE_OPTIONS');
    expect(refused.stderr).toContain('--allow-dangerous');
    expect(refused.stderr).not.toContain('/tmp/evil.js');
    const allowed = keybox(
      ['run', ...dev, '--path', '/dangerous', '--allow-dangerous', 'NODE_OPTIONS', '--', ...printEnv('NODE_OPTIONS')],
      {
        env: serverEnv(server),
      },
    );
    expect(allowed.status).toBe(0);
    expect(lines(allowed.stdout)).toEqual({ NODE_OPTIONS: '--require /tmp/evil.js' });
  });

  it("removes keybox's own credential from the child's environment unless --pass-credentials", () => {
    const probe = [
      'sh',
      '-c',
      'printf "%s|%s|%s" "${KEYBOX_TOKEN:-unset}" "${SECRETS_API_TOKEN:-unset}" "$KEYBOX_ADDR"',
    ];
    const env = serverEnv(server, { SECRETS_API_TOKEN: 'other' });
    const stripped = keybox(['run', ...dev, '--path', '/backend', '--', ...probe], { env });
    expect(stripped.stdout).toBe(`unset|unset|${server.url}`);
    const passed = keybox(['run', ...dev, '--path', '/backend', '--pass-credentials', '--', ...probe], { env });
    expect(passed.stdout).toBe(`${server.token}|other|${server.url}`);
  });

  it('runs a shell string with --command', () => {
    const result = keybox(['run', ...dev, '--path', '/backend', '--command', 'printf "%s" "$DB_URL" && exit 5'], {
      env: serverEnv(server),
    });
    expect(result.stdout).toBe('postgres://backend');
    expect(result.status).toBe(5);
  });

  it('accepts SECRETS_API_URL and SECRETS_API_TOKEN as the bootstrap pair', () => {
    const result = keybox(['run', ...dev, '--path', '/backend', '--', ...printEnv('DB_URL')], {
      env: { SECRETS_API_URL: server.url, SECRETS_API_TOKEN: server.token },
    });
    expect(result.status).toBe(0);
    expect(lines(result.stdout)).toEqual({ DB_URL: 'postgres://backend' });
  });

  it('reads the token from KEYBOX_TOKEN_FILE and the scope from .keybox.json in a parent directory', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'token'), `${server.token}\n`, { mode: 0o600 });
    writeFileSync(join(dir, '.keybox.json'), JSON.stringify({ project: 'shop', env: 'dev', path: '/backend' }));
    mkdirSync(join(dir, 'app', 'src'), { recursive: true });
    const result = keybox(['run', '--', ...printEnv('DB_URL')], {
      env: { KEYBOX_ADDR: server.url, KEYBOX_TOKEN_FILE: join(dir, 'token') },
      cwd: join(dir, 'app', 'src'),
    });
    rmSync(dir, { recursive: true });
    expect(result.stderr).toBe('');
    expect(lines(result.stdout)).toEqual({ DB_URL: 'postgres://backend' });
  });
});

describe('keybox run failures exit 125', () => {
  it('when the server cannot be reached', () => {
    const result = keybox(['run', ...dev, '--', 'true'], {
      env: { KEYBOX_ADDR: 'http://127.0.0.1:9', KEYBOX_TOKEN: server.token },
    });
    expect(result.status).toBe(125);
    expect(result.stderr).toContain('cannot reach Keybox at http://127.0.0.1:9');
    expect(result.stderr).not.toContain(server.token);
  });

  it('when the token is rejected', () => {
    const bad = 'kbx_0000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const result = keybox(['run', ...dev, '--', 'true'], { env: { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: bad } });
    expect(result.status).toBe(125);
    expect(result.stderr).toContain('UNAUTHENTICATED');
    expect(result.stderr).not.toContain(bad);
  });

  it('when the folder does not exist, naming it', () => {
    const result = keybox(['run', ...dev, '--path', '/nope', '--', 'true'], { env: serverEnv(server) });
    expect(result.status).toBe(125);
    expect(result.stderr).toContain('/nope');
  });

  it('when a value is too large for an environment variable, pointing to --as-files', async () => {
    const big = `${canary('BIG')}${'x'.repeat(140 * 1024)}`;
    await setSecrets(server, { project: 'shop', env: 'dev', path: '/big' }, { BIG: big });
    const result = keybox(['run', ...dev, '--path', '/big', '--', 'true'], { env: serverEnv(server) });
    expect(result.status).toBe(125);
    expect(result.stderr).toContain('BIG is too large for an environment variable (limit 128 KiB)');
    expect(result.stderr).toContain('--as-files');
    const files = keybox(['run', ...dev, '--path', '/big', '--as-files', '--', 'sh', '-c', 'wc -c < "$BIG_FILE"'], {
      env: serverEnv(server),
    });
    expect(files.stdout.trim()).toBe(String(big.length));
  });

  it('on a usage error, without running anything', () => {
    const noCommand = keybox(['run', ...dev], { env: serverEnv(server) });
    expect(noCommand.status).toBe(125);
    expect(noCommand.stderr).toContain('no command');
    const noProject = keybox(['run', '--', 'true'], { env: serverEnv(server), cwd: '/' });
    expect(noProject.status).toBe(125);
    expect(noProject.stderr).toContain('KEYBOX_PROJECT');
    const both = keybox(['run', ...dev, '--command', 'true', '--', 'true'], { env: serverEnv(server) });
    expect(both.status).toBe(125);
  });

  it('without credentials, saying which variable to set', () => {
    const result = keybox(['run', ...dev, '--', 'true'], { env: {}, cwd: '/' });
    expect(result.status).toBe(125);
    expect(result.stderr).toContain('KEYBOX_ADDR');
  });
});
