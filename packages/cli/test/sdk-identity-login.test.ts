import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBulkFetcher, createSecrets } from '@keybox/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary } from './support/fixtures.js';
import { keybox, serverEnv, startServer, tempDir, type TestServer } from './support/keybox.js';

/*
 * An app that embeds @keybox/sdk and authenticates as a machine identity (client id and secret, no static token)
 * against a real server: the SDK logs in for a short-lived access token, reads its folder, and never lets the value
 * or the client secret into its status.
 */

let server: TestServer;
let dir: string;
let reader: { clientId: string; clientSecret: string };
let oneUse: { clientId: string; clientSecret: string };
const value = canary('SDK-IDENTITY');
const manifest = { items: { API_KEY: {} } };
const scope = { project: 'shop', env: 'dev', paths: ['/backend'], recursive: false };

function ok(args: string[], input?: string) {
  const result = keybox(args, { env: serverEnv(server), input });
  expect(result.status, result.stderr).toBe(0);
  return result;
}

beforeAll(async () => {
  server = await startServer();
  dir = tempDir('keybox-sdk-identity-');
  ok(['projects', 'create', 'shop']);
  ok(['secrets', 'set', 'API_KEY=-', '--project', 'shop', '--env', 'dev', '--path', '/backend'], value);
  ok([
    'policies',
    'put',
    'app-backend',
    '--role',
    'ci-reader',
    '--project',
    'shop',
    '--env',
    'dev',
    '--path',
    '/backend',
  ]);
  reader = JSON.parse(ok(['identities', 'create', 'app', '--policy', 'app-backend', '--json']).stdout) as typeof reader;
  const created = ok(['identities', 'create', 'once', '--policy', 'app-backend', '--uses', '1', '--json']);
  oneUse = JSON.parse(created.stdout) as typeof oneUse;
});

afterAll(async () => {
  await server.stop();
});

function appEnv(extra: Record<string, string>) {
  return { KEYBOX_ADDR: server.url, KEYBOX_PROJECT: 'shop', KEYBOX_ENV: 'dev', KEYBOX_PATH: '/backend', ...extra };
}

describe('@keybox/sdk as a machine identity', () => {
  it('logs in with KEYBOX_CLIENT_ID and KEYBOX_CLIENT_SECRET and reads its folder', async () => {
    const secrets = createSecrets(manifest, {
      env: appEnv({ KEYBOX_CLIENT_ID: reader.clientId, KEYBOX_CLIENT_SECRET: reader.clientSecret }),
    });
    const status = await secrets.load();
    expect(secrets.get('API_KEY')).toBe(value);
    expect(status.keybox).toMatchObject({ state: 'loaded', project: 'shop', env: 'dev', paths: ['/backend'] });
    expect(status.items.find((i) => i.name === 'API_KEY')).toMatchObject({ source: 'keybox', present: true });
    const shown = JSON.stringify(status);
    expect(shown).not.toContain(value);
    expect(shown).not.toContain(reader.clientSecret);
  });

  it('reads the client secret from KEYBOX_CLIENT_SECRET_FILE', async () => {
    const file = join(dir, 'client-secret');
    writeFileSync(file, `${reader.clientSecret}\n`, { mode: 0o600 });
    const secrets = createSecrets(manifest, {
      env: appEnv({ KEYBOX_CLIENT_ID: reader.clientId, KEYBOX_CLIENT_SECRET_FILE: file }),
    });
    await secrets.load();
    expect(secrets.get('API_KEY')).toBe(value);
  });

  it('reports a refused login as UNAUTHENTICATED, without the secret it tried', async () => {
    const wrong = `${reader.clientSecret.slice(0, -4)}AAAA`;
    const secrets = createSecrets(manifest, {
      env: appEnv({ KEYBOX_CLIENT_ID: reader.clientId, KEYBOX_CLIENT_SECRET: wrong }),
    });
    const status = await secrets.load();
    expect(status.keybox).toMatchObject({ state: 'failed', code: 'UNAUTHENTICATED' });
    expect(JSON.stringify(status)).not.toContain(wrong);
    expect(secrets.get('API_KEY')).toBeUndefined();
  });

  it('says a client id without its secret is a configuration error', () => {
    const status = createSecrets(manifest, { env: appEnv({ KEYBOX_CLIENT_ID: reader.clientId }) }).status();
    expect(status.keybox).toMatchObject({ state: 'failed', code: 'CONFIG_INVALID' });
  });

  it('logs in again, once, when the server stops accepting its access token', async () => {
    // Access tokens of this identity are good for one request: the second read is refused and must log in again.
    const fetchBundle = createBulkFetcher({ addr: server.url, ...oneUse });
    for (let i = 0; i < 3; i++) {
      const bundle = await fetchBundle(scope);
      expect(bundle.secrets.get('API_KEY')?.value).toBe(value);
    }
    const audit = ok(['audit', 'list', '--action', 'auth.login', '--json']);
    const logins = (JSON.parse(audit.stdout) as { entries: { actor: string; outcome: string }[] }).entries.filter(
      (e) => e.outcome === 'success' && e.actor.includes('once'),
    );
    expect(logins).toHaveLength(3);
  });
});
