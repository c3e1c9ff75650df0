import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary } from './support/fixtures.js';
import { keybox, serverEnv, startServer, tempDir, type RunResult, type TestServer } from './support/keybox.js';

/*
 * Static tokens (`keybox tokens create|list|revoke`) and the audit log from the CLI (`keybox audit list|verify`). A
 * canary value is set through stdin; it must not reach any stderr, any audit row, or the server's output.
 */

let server: TestServer;
let cache: string;
const value = canary('ACCESS-TOKENS');
const stderrs: string[] = [];
const dev = ['--project', 'shop', '--env', 'dev'];

function kb(args: string[], env: NodeJS.ProcessEnv = serverEnv(server), input?: string): RunResult {
  const result = keybox(args, { env: { XDG_CACHE_HOME: cache, XDG_CONFIG_HOME: cache, ...env }, input });
  stderrs.push(result.stderr);
  return result;
}

function ok(args: string[], env?: NodeJS.ProcessEnv, input?: string): RunResult {
  const result = kb(args, env, input);
  expect(result.status, result.stderr).toBe(0);
  return result;
}

interface Verify {
  ok: boolean;
  count: number;
  head: { seq: number; mac: string };
  problems: string[];
}
const verify = (...args: string[]) => kb(['audit', 'verify', '--json', ...args]);

beforeAll(async () => {
  server = await startServer();
  cache = tempDir('keybox-access-tokens-');
  ok(['projects', 'create', 'shop']);
  ok(['secrets', 'set', 'API_KEY=-', ...dev], undefined, value);
});

afterAll(async () => {
  for (const stderr of stderrs) expect(stderr).not.toContain(value);
  await server.stop();
});

describe('keybox tokens', () => {
  let created: { token: string; id: string; expiresAt: string | null };

  it('creates a token shown once, that works with its policy', () => {
    created = JSON.parse(ok(['tokens', 'create', 'deploy', '--policy', 'developer', '--ttl', '1h', '--json']).stdout);
    expect(created.token).toMatch(/^kbx_[0-9a-f]{16}\./);
    expect(created.expiresAt).not.toBeNull();
    const env = { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: created.token };
    expect(ok(['run', ...dev, '--', 'sh', '-c', 'printf %s "$API_KEY"'], env).stdout).toBe(value);
    expect(kb(['tokens', 'list'], env).status).toBe(1);
  });

  it('lists its creator, expiry, last use and last address, never the token', () => {
    const table = ok(['tokens', 'list']).stdout;
    expect(table).toMatch(/ID\s+NAME\s+CREATED\s+BY\s+EXPIRES\s+LAST USED\s+LAST IP/);
    const row = table.split('\n').find((line) => line.startsWith(created.id)) ?? '';
    expect(row).toMatch(/deploy/);
    expect(row).toMatch(/127\.0\.0\.1/);
    const listed = JSON.parse(ok(['tokens', 'list', '--json']).stdout) as { tokens: Record<string, unknown>[] };
    expect(listed.tokens.find((x) => x['id'] === created.id)).toMatchObject({
      name: 'deploy',
      createdBy: 'token:admin',
      lastUsedAt: expect.any(String),
      lastIp: expect.stringMatching(/127\.0\.0\.1$/),
    });
    expect(JSON.stringify(listed)).not.toContain(created.token.split('.')[1]);
  });

  it('revokes it: the next command with it is refused', () => {
    const revoked = ok(['tokens', 'revoke', created.id]);
    expect(revoked.stderr).toContain(`revoked token ${created.id}`);
    const env = { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: created.token };
    const run = kb(['run', ...dev, '--', 'true'], env);
    expect(run.status).toBe(125);
    expect(run.stderr).toContain('the token is revoked [UNAUTHENTICATED]');
  });
});

describe('keybox audit', () => {
  it('lists entries by actor and action, with names and versions, and no value anywhere', () => {
    const result = ok(['audit', 'list', '--actor', 'token:deploy', '--action', 'secrets.read', '--json']);
    const entries = (JSON.parse(result.stdout) as { entries: Record<string, unknown>[] }).entries;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actor: 'token:deploy',
      action: 'secrets.read',
      outcome: 'success',
      userAgent: 'keybox-cli/0.1.0',
      details: { folders: [{ path: '/', secrets: [['API_KEY', 1]] }] },
    });
    const table = ok(['audit', 'list', '--actor', 'token:deploy']).stdout;
    expect(table).toMatch(/secrets\.read\s+shop\/dev:\/\s+success\s+\/ \(1\)/);
    expect(ok(['audit', 'list', '--limit', '1000', '--json']).stdout).not.toContain(value);
  });

  it('verifies the chain and prints a head that a later --expect accepts', () => {
    const first = verify();
    expect(first.status).toBe(0);
    const result = JSON.parse(first.stdout) as Verify;
    expect(result).toMatchObject({ ok: true, problems: [] });
    expect(result.count).toBeGreaterThan(5);
    ok(['projects', 'list']);
    const later = verify('--expect', `${result.head.seq}:${result.head.mac}`);
    expect(later.status, later.stdout).toBe(0);
    expect((JSON.parse(later.stdout) as Verify).count).toBeGreaterThan(result.count);
    const text = ok(['audit', 'verify']).stdout;
    expect(text).toMatch(/^audit chain intact: \d+ entries\nhead: \d+:[0-9a-f]{64}\n$/);
  });

  it('exits 1 when the expected head does not match, and 2 for a malformed one', () => {
    const wrong = verify('--expect', `3:${'0'.repeat(64)}`);
    expect(wrong.status).toBe(1);
    expect((JSON.parse(wrong.stdout) as Verify).problems).toEqual([
      'the expected head does not match entry 3: the chain was rewritten',
    ]);
    const future = verify('--expect', `100000:${'0'.repeat(64)}`);
    expect(future.status).toBe(1);
    expect(kb(['audit', 'verify', '--expect', 'nonsense']).status).toBe(2);
  });
});
