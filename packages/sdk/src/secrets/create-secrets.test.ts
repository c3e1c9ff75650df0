import { describe, expect, it } from 'vitest';
import { KeyboxError } from '../client/keybox-error.js';
import { createSecrets, type SecretsEvent } from './create-secrets.js';
import { bundleOf, fakeFetcher, fakeKeybox, memoryLegacy } from './test-support/fixtures.js';

const manifest = { items: { DB_URL: {}, API_KEY: {}, LOG_LEVEL: { secret: false, required: false } } };

describe('load', () => {
  it('fetches every item in one bulk call, however many are declared', async () => {
    const fetcher = fakeFetcher({ DB_URL: 'db', API_KEY: 'key' });
    const secrets = createSecrets(manifest, { env: {}, keybox: fakeKeybox(fetcher) });
    await Promise.all([secrets.load(), secrets.load()]);
    expect(fetcher.calls).toBe(1);
    expect([secrets.get('DB_URL'), secrets.get('API_KEY')]).toEqual(['db', 'key']);
    expect(secrets.status().keybox).toEqual({ state: 'loaded', project: 'shop', env: 'prod', paths: ['/app'] });
  });

  it('does not call the server when the environment already has every item', async () => {
    const fetcher = fakeFetcher({});
    const env = { DB_URL: 'db', API_KEY: 'key', LOG_LEVEL: 'info' };
    const secrets = createSecrets(manifest, { env, keybox: fakeKeybox(fetcher) });
    await secrets.load();
    expect(fetcher.calls).toBe(0);
    expect(secrets.status().keybox.state).toBe('not-needed');
  });

  it('retries a transient failure with a doubling delay, and not a rejected token', async () => {
    const delays: number[] = [];
    const events: SecretsEvent[] = [];
    let calls = 0;
    const flaky = () => {
      calls++;
      if (calls < 3) return Promise.reject(new KeyboxError('UNREACHABLE', 'cannot reach Keybox'));
      return Promise.resolve(bundleOf({ DB_URL: 'db' }));
    };
    const secrets = createSecrets(manifest, {
      env: {},
      keybox: { ...fakeKeybox(flaky), retries: 3, retryDelayMs: 100 },
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
      onEvent: (e) => events.push(e),
    });
    await secrets.load();
    expect(secrets.get('DB_URL')).toBe('db');
    expect(delays).toEqual([100, 200]);
    expect(events.map((e) => e.type)).toEqual(['keybox-failed', 'keybox-failed', 'keybox-fetched']);

    let rejected = 0;
    const denied = () => {
      rejected++;
      return Promise.reject(new KeyboxError('UNAUTHENTICATED', 'token rejected', { status: 401 }));
    };
    const other = createSecrets(manifest, {
      env: {},
      keybox: { ...fakeKeybox(denied), retries: 3 },
      sleep: () => Promise.resolve(),
    });
    await other.load();
    expect(rejected).toBe(1);
  });

  it('does not reject when the server is down: the status says so and require() fails', async () => {
    const down = () =>
      Promise.reject(new KeyboxError('UNREACHABLE', 'cannot reach Keybox at http://kb: connection refused'));
    const secrets = createSecrets(manifest, { env: { API_KEY: 'k' }, keybox: fakeKeybox(down) });
    const status = await secrets.load();
    expect(status.keybox).toMatchObject({ state: 'failed', code: 'UNREACHABLE' });
    expect(status.ok).toBe(false);
    expect(() => secrets.require('DB_URL')).toThrow(
      expect.objectContaining({ code: 'SECRET_MISSING', message: 'DB_URL is not set: set DB_URL or DB_URL_FILE' }),
    );
  });

  it('reads scope and credentials from KEYBOX_* variables, and says what is missing', () => {
    const status = (env: Record<string, string>) => createSecrets(manifest, { env }).status().keybox;
    expect(status({})).toEqual({ state: 'not-configured', reason: 'no address (KEYBOX_ADDR, SECRETS_API_URL)' });
    expect(status({ SECRETS_API_URL: 'http://kb:8210' })).toMatchObject({
      state: 'not-configured',
      reason:
        'no credential (KEYBOX_TOKEN, SECRETS_API_TOKEN, KEYBOX_TOKEN_FILE, KEYBOX_CLIENT_ID + KEYBOX_CLIENT_SECRET)',
    });
    // As in a process keybox run started: address and token are passed on, the scope is not.
    expect(status({ KEYBOX_ADDR: 'http://kb:8210', SECRETS_API_TOKEN: 't' })).toEqual({
      state: 'not-configured',
      reason: 'no project (KEYBOX_PROJECT)',
    });
    expect(
      status({ KEYBOX_ADDR: 'http://kb:8210', KEYBOX_TOKEN: 't', KEYBOX_PROJECT: 'Shop', KEYBOX_ENV: 'prod' }),
    ).toMatchObject({
      state: 'failed',
      code: 'CONFIG_INVALID',
      reason: expect.stringContaining('not a valid project slug') as string,
    });
    expect(
      status({
        KEYBOX_ADDR: 'http://kb:8210',
        KEYBOX_TOKEN: 't',
        KEYBOX_PROJECT: 'shop',
        KEYBOX_ENV: 'prod',
        KEYBOX_PATH: '/api/',
      }),
    ).toEqual({ state: 'not-loaded', project: 'shop', env: 'prod', paths: ['/api'] });
    expect(status({ KEYBOX_ADDR: 'http://kb', KEYBOX_TOKEN_FILE: '/nonexistent/token' })).toMatchObject({
      state: 'failed',
      reason: 'KEYBOX_TOKEN_FILE names /nonexistent/token, which cannot be read (ENOENT)',
    });
  });
});

describe('get and require', () => {
  it('works without load() when neither Keybox nor a legacy store is configured', () => {
    const secrets = createSecrets(manifest, { env: { DB_URL: 'db' } });
    expect(secrets.get('DB_URL')).toBe('db');
    expect(secrets.get('API_KEY')).toBeUndefined();
  });

  it('refuses to answer "missing" before load() when Keybox or the legacy store could have the value', () => {
    const keybox = createSecrets(manifest, { env: { DB_URL: 'db' }, keybox: fakeKeybox(fakeFetcher({})) });
    expect(keybox.get('DB_URL')).toBe('db');
    expect(() => keybox.get('API_KEY')).toThrow(expect.objectContaining({ code: 'NOT_LOADED' }));
    const legacy = createSecrets(manifest, { env: {}, keybox: false, legacy: memoryLegacy({}).source });
    expect(() => legacy.get('API_KEY')).toThrow(expect.objectContaining({ code: 'NOT_LOADED' }));
  });

  it('throws for a name the manifest does not declare', () => {
    const secrets = createSecrets(manifest, { env: {} });
    expect(() => secrets.get('DB_PASSWORD')).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: '"DB_PASSWORD" is not declared in the manifest' }),
    );
  });

  it('sees a changed environment after reload(), and the previous values until then', async () => {
    const env: Record<string, string> = { DB_URL: 'v1' };
    const secrets = createSecrets(manifest, { env, keybox: false });
    await secrets.load();
    env['DB_URL'] = 'v2';
    expect(secrets.get('DB_URL')).toBe('v1');
    await secrets.reload();
    expect(secrets.get('DB_URL')).toBe('v2');
  });

  it('refuses an invalid manifest with every issue listed', () => {
    expect(() => createSecrets({ items: { A: { required: 'yes' } } })).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: 'the manifest is not valid: items.A.required: must be true or false',
      }),
    );
  });
});
