import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary } from './support/fixtures.js';
import { keybox, serverEnv, startServer, tempDir, type RunResult, type TestServer } from './support/keybox.js';

/*
 * A machine identity end to end: a ci-reader policy, an identity, `keybox run` with nothing but KEYBOX_ADDR and the
 * client id and secret, and client-secret rotation. The canary value goes in through stdin only; no stderr of any
 * command (nor the server's, checked when it stops) and no audit row may hold it.
 */

let server: TestServer;
let dir: string;
let ci: { clientId: string; clientSecret: string; secretId: string };
const value = canary('ACCESS-RUN');
const stderrs: string[] = [];
const dev = ['--project', 'shop', '--env', 'dev'];
const printKey = ['sh', '-c', 'printf %s "$API_KEY"'];

function kb(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): RunResult {
  const result = keybox(args, { env: options.env ?? serverEnv(server), input: options.input });
  stderrs.push(result.stderr);
  return result;
}

function ok(args: string[], options: Parameters<typeof kb>[1] = {}): RunResult {
  const result = kb(args, options);
  expect(result.status, result.stderr).toBe(0);
  return result;
}

/** Only the server address and a machine identity: no token, no session, no project file. */
function machine(secret: { KEYBOX_CLIENT_SECRET: string } | { KEYBOX_CLIENT_SECRET_FILE: string }) {
  return {
    KEYBOX_ADDR: server.url,
    KEYBOX_CLIENT_ID: ci.clientId,
    XDG_CONFIG_HOME: dir,
    XDG_CACHE_HOME: dir,
    ...secret,
  };
}

beforeAll(async () => {
  server = await startServer();
  dir = tempDir('keybox-access-run-');
  ok(['projects', 'create', 'shop']);
  ok(['secrets', 'set', 'API_KEY=-', ...dev, '--path', '/backend'], { input: value });
  ok(['secrets', 'set', 'API_KEY=frontend-key', ...dev, '--path', '/frontend']);
  ok(['policies', 'put', 'ci-backend', '--role', 'ci-reader', ...dev, '--path', '/backend']);
  const created = ok(['identities', 'create', 'ci', '--policy', 'ci-backend', '--ttl', '10m', '--json']);
  ci = JSON.parse(created.stdout) as typeof ci;
});

afterAll(async () => {
  for (const stderr of stderrs) expect(stderr).not.toContain(value);
  await server.stop();
});

describe('keybox run as a machine identity', () => {
  it('reads its folder with only KEYBOX_ADDR, KEYBOX_CLIENT_ID and KEYBOX_CLIENT_SECRET', () => {
    const result = ok(['run', ...dev, '--path', '/backend', '--', ...printKey], {
      env: machine({ KEYBOX_CLIENT_SECRET: ci.clientSecret }),
    });
    expect(result.stdout).toBe(value);
  });

  it('reads the client secret from KEYBOX_CLIENT_SECRET_FILE', () => {
    const file = join(dir, 'client-secret');
    writeFileSync(file, `${ci.clientSecret}\n`, { mode: 0o600 });
    const result = ok(['run', ...dev, '--path', '/backend', '--', ...printKey], {
      env: machine({ KEYBOX_CLIENT_SECRET_FILE: file }),
    });
    expect(result.stdout).toBe(value);
  });

  it.each([
    ['another folder', ['--project', 'shop', '--env', 'dev', '--path', '/frontend']],
    ['another environment', ['--project', 'shop', '--env', 'prod', '--path', '/backend']],
    ['the folder above', ['--project', 'shop', '--env', 'dev', '--path', '/']],
  ])('is refused %s with exit 125 and no child started', (_case, scope) => {
    const result = kb(['run', ...scope, '--', 'sh', '-c', 'echo child-ran'], {
      env: machine({ KEYBOX_CLIENT_SECRET: ci.clientSecret }),
    });
    expect(result.status).toBe(125);
    expect(result.stdout).not.toContain('child-ran');
    expect(result.stderr).toMatch(/identity:ci may not read .*\[FORBIDDEN\]/);
  });

  it('is refused with exit 125 for a wrong client secret, without echoing it', () => {
    const wrong = `${ci.clientSecret.slice(0, -4)}AAAA`;
    const result = kb(['run', ...dev, '--path', '/backend', '--', 'true'], {
      env: machine({ KEYBOX_CLIENT_SECRET: wrong }),
    });
    expect(result.status).toBe(125);
    expect(result.stderr).toContain('invalid client id or secret [UNAUTHENTICATED]');
    expect(result.stderr).not.toContain(wrong.split('.')[1]);
  });

  it('is found in the audit log under its own name, with names and versions and no value', () => {
    const result = ok(['audit', 'list', '--actor', 'identity:ci', '--action', 'secrets.read', '--json']);
    const entries = (JSON.parse(result.stdout) as { entries: { outcome: string; details: unknown }[] }).entries;
    expect(entries.some((e) => e.outcome === 'success')).toBe(true);
    expect(entries.some((e) => e.outcome === 'denied')).toBe(true);
    // The first read fetched the bundle, later ones were answered 304 against the encrypted local cache.
    expect(entries.find((e) => e.outcome === 'success')?.details).toMatchObject({
      folders: [{ path: '/backend', revision: 1, secrets: [['API_KEY', 1]] }],
    });
    const all = ok(['audit', 'list', '--limit', '1000', '--json']).stdout;
    expect(all).not.toContain(value);
    expect(all).not.toContain(ci.clientSecret.split('.')[1]);
  });
});

describe('client secret rotation', () => {
  it('keeps both secrets working until the old one is revoked, then only the new one', () => {
    const added = JSON.parse(ok(['identities', 'add-secret', 'ci', '--description', 'rotation', '--json']).stdout) as {
      secretId: string;
      clientSecret: string;
    };
    const runWith = (secret: string) =>
      kb(['run', ...dev, '--path', '/backend', '--', ...printKey], { env: machine({ KEYBOX_CLIENT_SECRET: secret }) });
    expect(runWith(ci.clientSecret).stdout).toBe(value);
    expect(runWith(added.clientSecret).stdout).toBe(value);

    const revoked = ok(['identities', 'revoke-secret', 'ci', ci.secretId]);
    expect(revoked.stderr).toContain(`revoked client secret ${ci.secretId} of ci and its tokens`);
    expect(runWith(ci.clientSecret).status).toBe(125);
    expect(runWith(added.clientSecret).stdout).toBe(value);

    const listed = JSON.parse(ok(['identities', 'secrets', 'ci', '--json']).stdout) as {
      secrets: { id: string; revokedAt: string | null; lastUsedAt: string | null }[];
    };
    expect(listed.secrets.map((s) => [s.id, s.revokedAt === null ? 'active' : 'revoked'])).toEqual([
      [ci.secretId, 'revoked'],
      [added.secretId, 'active'],
    ]);
    expect(JSON.stringify(listed)).not.toContain(added.clientSecret.split('.')[1]);
  });
});
