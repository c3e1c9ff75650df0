import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keybox, serverEnv, startServer, tempDir, type RunResult, type TestServer } from './support/keybox.js';

/* `keybox init` and how later commands pick their project, environment, folder and address from .keybox.json. */

let server: TestServer;
let repo: string;
/** A directory with no .keybox.json, for reads with an explicit scope. */
let outside: string;

function kb(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): RunResult {
  return keybox(args, { cwd: options.cwd ?? repo, env: options.env ?? serverEnv(server) });
}

function ok(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const result = kb(args, options);
  expect(result.status, result.stderr).toBe(0);
  return result;
}

/** Reads a secret with an explicit scope, from a directory without .keybox.json. */
function valueAt(env: string, path: string, name: string): string | undefined {
  const result = kb(['secrets', 'get', name, '--project', 'app', '--env', env, '--path', path], { cwd: outside });
  return result.status === 0 ? result.stdout : undefined;
}

const projectFile = () => join(repo, '.keybox.json');

beforeAll(async () => {
  server = await startServer();
  repo = tempDir('keybox-repo-');
  outside = tempDir('keybox-outside-');
  ok(['projects', 'create', 'app', '--envs', 'dev,staging,prod']);
});

afterAll(async () => {
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
  rmSync(repo, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('keybox init', () => {
  it('needs --project and --env, as valid slugs (exit 2, no file written)', () => {
    expect(kb(['init', '--project', 'app']).status).toBe(2);
    expect(kb(['init', '--env', 'dev']).status).toBe(2);
    expect(kb(['init', '--project', 'App!', '--env', 'dev']).status).toBe(2);
    expect(kb(['init', '--project', 'app', '--env', 'dev', '--path', '/a/../b']).status).toBe(2);
    expect(existsSync(projectFile())).toBe(false);
  });

  it('writes .keybox.json with the project, environment and normalised path', () => {
    const result = ok(['init', '--project', 'app', '--env', 'dev', '--path', '/backend/']);
    expect(result.stderr).toContain(`wrote ${projectFile()}`);
    expect(JSON.parse(readFileSync(projectFile(), 'utf8'))).toEqual({ project: 'app', env: 'dev', path: '/backend' });
  });

  it('refuses to overwrite .keybox.json without --force and leaves it unchanged', () => {
    const before = readFileSync(projectFile(), 'utf8');
    const result = kb(['init', '--project', 'other', '--env', 'prod']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('already exists');
    expect(result.stderr).toContain('--force');
    expect(readFileSync(projectFile(), 'utf8')).toBe(before);
  });

  it('overwrites .keybox.json with --force', () => {
    ok(['init', '--project', 'app', '--env', 'dev', '--path', '/api', '--force']);
    expect(JSON.parse(readFileSync(projectFile(), 'utf8'))).toEqual({ project: 'app', env: 'dev', path: '/api' });
  });
});

describe('commands in a directory with .keybox.json', () => {
  it('take project, environment and folder from it, also in a sub-directory', () => {
    ok(['secrets', 'set', 'FROM_FILE=1']);
    expect(valueAt('dev', '/api', 'FROM_FILE')).toBe('1');
    const sub = join(repo, 'src', 'deep');
    mkdirSync(sub, { recursive: true });
    expect(ok(['secrets', 'get', 'FROM_FILE'], { cwd: sub }).stdout).toBe('1');
    expect(ok(['export', '--format', 'json'], { cwd: sub }).stdout).toContain('"FROM_FILE": "1"');
  });

  it('let KEYBOX_ENV and KEYBOX_PATH beat the file', () => {
    ok(['secrets', 'set', 'FROM_ENV=2'], { env: serverEnv(server, { KEYBOX_ENV: 'prod', KEYBOX_PATH: '/ops' }) });
    expect(valueAt('prod', '/ops', 'FROM_ENV')).toBe('2');
    expect(valueAt('dev', '/api', 'FROM_ENV')).toBeUndefined();
  });

  it('let flags beat KEYBOX_* variables and the file', () => {
    const env = serverEnv(server, { KEYBOX_ENV: 'prod', KEYBOX_PATH: '/ops' });
    ok(['secrets', 'set', 'FROM_FLAG=3', '--env', 'staging', '--path', '/web'], { env });
    expect(valueAt('staging', '/web', 'FROM_FLAG')).toBe('3');
    expect(valueAt('prod', '/ops', 'FROM_FLAG')).toBeUndefined();
  });

  it('let KEYBOX_PROJECT beat the project named in the file', () => {
    const result = kb(['secrets', 'list'], { env: serverEnv(server, { KEYBOX_PROJECT: 'ghost' }) });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[NOT_FOUND]');
  });

  it('use the address from the file when KEYBOX_ADDR is not set', () => {
    const dir = tempDir('keybox-addr-');
    try {
      ok(['init', '--project', 'app', '--env', 'dev', '--path', '/api', '--addr', server.url], { cwd: dir });
      expect(ok(['secrets', 'get', 'FROM_FILE'], { cwd: dir, env: { KEYBOX_TOKEN: server.token } }).stdout).toBe('1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuse a .keybox.json holding a credential, without echoing it', () => {
    const dir = tempDir('keybox-cred-');
    try {
      writeFileSync(join(dir, '.keybox.json'), JSON.stringify({ project: 'app', env: 'dev', token: server.token }));
      const result = kb(['secrets', 'list'], { cwd: dir });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('looks like a credential');
      expect(result.stderr).not.toContain(server.token);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuse a .keybox.json that is not valid JSON, naming the file', () => {
    const dir = tempDir('keybox-badjson-');
    try {
      writeFileSync(join(dir, '.keybox.json'), '{ project: app }');
      const result = kb(['secrets', 'list'], { cwd: dir });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`${join(dir, '.keybox.json')} is not valid JSON`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
