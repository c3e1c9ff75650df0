import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SecretsStatus } from '@keybox/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, createProject, setSecrets } from './support/fixtures.js';
import { KEYBOX_BIN, keybox, serverEnv, startServer, tempDir, type TestServer } from './support/keybox.js';

/* keybox check: the manifest evaluated in keybox's own environment, as the SDK would in the app. */

let server: TestServer;
const dbUrl = canary('DBURL');
const apiKey = `sk-${canary('APIKEY')}`;
const dir = tempDir('keybox-check-');
const manifest = {
  version: 1,
  items: {
    DB_URL: { description: 'main database' },
    API_KEY: { pattern: '^sk-' },
    LOG_LEVEL: { secret: false, required: false },
  },
};
writeFileSync(join(dir, 'keybox.manifest.json'), JSON.stringify(manifest));
const scope = { KEYBOX_PROJECT: 'shop', KEYBOX_ENV: 'prod', KEYBOX_PATH: '/backend' };

beforeAll(async () => {
  server = await startServer();
  await createProject(server, 'shop');
  await setSecrets(server, { project: 'shop', env: 'prod', path: '/backend' }, { DB_URL: dbUrl, API_KEY: apiKey });
});

afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function check(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = keybox(['check', ...args], { env, cwd: dir });
  expect(`${result.stdout}${result.stderr}`).not.toContain(dbUrl);
  expect(`${result.stdout}${result.stderr}`).not.toContain(apiKey);
  return result;
}

function items(stdout: string) {
  return Object.fromEntries((JSON.parse(stdout) as SecretsStatus).items.map((i) => [i.name, i]));
}

describe('keybox check', () => {
  it('prints a table of name, required, secret, source and what fed each item, and exits 0 when ready', () => {
    const file = join(dir, 'db-url');
    writeFileSync(file, 'postgres://db\n');
    const result = check([], { DB_URL_FILE: file, API_KEY: 'sk-live', LOG_LEVEL: 'info' });
    expect(result.status).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+REQUIRED\s+SECRET\s+SOURCE\s+ENV VAR\/FILE\s+PROBLEMS$/);
    expect(lines[1]).toMatch(new RegExp(`^DB_URL\\s+yes\\s+yes\\s+file\\s+DB_URL_FILE \\(${file}\\)\\s+-$`));
    expect(lines[2]).toMatch(/^API_KEY\s+yes\s+yes\s+env\s+API_KEY\s+-$/);
    expect(lines[3]).toMatch(/^LOG_LEVEL\s+no\s+no\s+env\s+LOG_LEVEL\s+-$/);
    expect(result.stderr).toContain('Keybox server not used: no address');
  });

  it('exits 1 when a required item is missing and says which variables to set', () => {
    const result = check(['--offline'], { API_KEY: 'sk-live' });
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/DB_URL\s+yes\s+yes\s+missing\s+expects DB_URL or DB_URL_FILE\s+error: required/);
    expect(result.stderr).toContain('not ready: DB_URL');
  });

  it('exits 1 when a value fails its pattern, without showing the value', () => {
    const result = check(['--json'], { DB_URL: 'x', API_KEY: 'pk-not-a-secret-key' });
    expect(result.status).toBe(1);
    expect(result.stdout).not.toContain('pk-not-a-secret-key');
    expect(items(result.stdout)['API_KEY']?.problems).toEqual([
      { code: 'INVALID_FORMAT', level: 'error', message: 'the value from API_KEY does not match the declared pattern' },
    ]);
  });

  it('shows what the app would see under keybox run: values injected by run, with folder and version', () => {
    const result = keybox(
      ['run', '--project', 'shop', '--env', 'prod', '--path', '/backend', '--', KEYBOX_BIN, 'check', '--json'],
      { env: serverEnv(server), cwd: dir },
    );
    expect(`${result.stdout}${result.stderr}`).not.toContain(dbUrl);
    expect(result.status).toBe(0);
    // run keeps its own token from the child: the app's own fetch is not configured, and need not be.
    expect((JSON.parse(result.stdout) as SecretsStatus).keybox).toEqual({
      state: 'not-configured',
      reason:
        'no credential (KEYBOX_TOKEN, SECRETS_API_TOKEN, KEYBOX_TOKEN_FILE, KEYBOX_CLIENT_ID + KEYBOX_CLIENT_SECRET)',
      injected: { project: 'shop', env: 'prod' },
    });
    expect(items(result.stdout)['DB_URL']).toMatchObject({
      present: true,
      source: 'keybox',
      variable: 'DB_URL',
      keybox: { via: 'run', project: 'shop', env: 'prod', path: '/backend', version: 1 },
    });
  });

  it('fetches from the server itself when KEYBOX_ADDR, a token and the scope are set, in one bulk read', () => {
    const result = check(['--json'], serverEnv(server, scope));
    expect(result.status).toBe(0);
    const parsed = JSON.parse(result.stdout) as SecretsStatus;
    expect(parsed.keybox).toEqual({ state: 'loaded', project: 'shop', env: 'prod', paths: ['/backend'] });
    expect(parsed.items.find((i) => i.name === 'API_KEY')).toMatchObject({
      source: 'keybox',
      keybox: { via: 'server', path: '/backend' },
    });
  });

  it('does not ask the server with --offline', () => {
    const result = check(['--offline', '--json'], serverEnv(server, scope));
    expect(result.status).toBe(1);
    expect((JSON.parse(result.stdout) as SecretsStatus).keybox.state).toBe('not-configured');
  });

  it('reports an unreachable server as a warning and the items it would have supplied as missing', () => {
    const env = { ...scope, KEYBOX_ADDR: 'http://127.0.0.1:9', KEYBOX_TOKEN: 'kbx_x' };
    const result = check([], env);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/warning: could not read Keybox shop\/prod \/backend: .*\[UNREACHABLE\]/);
  });
});

describe('keybox check manifest files', () => {
  it('reads a YAML manifest given with --manifest', () => {
    const file = join(dir, 'other.yaml');
    writeFileSync(file, 'version: 1\nitems:\n  SMTP_PASSWORD:\n    description: mail relay\n');
    const result = check(['--manifest', file, '--offline'], { SMTP_PASSWORD: 'pw' });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/SMTP_PASSWORD\s+yes\s+yes\s+env/);
  });

  it('refuses an invalid manifest, naming every issue', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ items: { A: { secret: 'yes' }, B: { envVars: [] } } }));
    const result = check(['--manifest', file]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      `keybox: error: ${file} is not a valid manifest: items.A.secret: must be true or false; items.B.envVars: must name at least one variable`,
    );
  });

  it('reports YAML syntax errors by position, without quoting the text', () => {
    const file = join(dir, 'broken.yml');
    writeFileSync(file, 'items:\n  A: {description: "unterminated pasted-value-Zq8\n');
    const result = check(['--manifest', file]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/is not valid YAML \(line \d+, column \d+\)/);
    expect(result.stderr).not.toContain('pasted-value-Zq8');
  });

  it('says how to get a manifest when the directory has none', () => {
    const empty = tempDir('keybox-check-empty-');
    const result = keybox(['check'], { cwd: empty });
    rmSync(empty, { recursive: true });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('no keybox.manifest.json, keybox.manifest.yaml, keybox.manifest.yml in');
    expect(result.stderr).toContain('hint: pass --manifest FILE, or draft one with `keybox manifest init`');
  });
});
