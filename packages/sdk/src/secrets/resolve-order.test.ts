import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatInjected } from '../resolve/injected.js';
import { createSecrets } from './create-secrets.js';
import type { ItemStatus } from './status-types.js';
import { fakeFetcher, fakeKeybox, memoryLegacy } from './test-support/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'keybox-resolve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(content: string): string {
  const path = join(dir, `f-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, content);
  return path;
}

// UNSET is never provided, so load() always fetches and every row really competes with the server's value.
const manifest = {
  version: 1,
  items: { SMTP_PASSWORD: { description: 'mail relay password' }, UNSET: { secret: false, required: false } },
};
const injected = formatInjected({
  project: 'shop',
  env: 'prod',
  secrets: { SMTP_PASSWORD: { path: '/mail', version: 7 } },
});

interface Case {
  env?: Record<string, string>;
  server?: string;
  legacy?: string;
  value: string | undefined;
  expect: Partial<ItemStatus>;
}

/* Order: SMTP_PASSWORD, then the file named by SMTP_PASSWORD_FILE, then Keybox, then the legacy store, then missing. */
const table: Record<string, Case> = {
  'the environment variable': {
    env: { SMTP_PASSWORD: 'from-env' },
    server: 'from-server',
    legacy: 'from-legacy',
    value: 'from-env',
    expect: { source: 'env', variable: 'SMTP_PASSWORD', present: true },
  },
  'the file named by NAME_FILE': {
    env: { SMTP_PASSWORD_FILE: 'FILE' },
    server: 'from-server',
    legacy: 'from-legacy',
    value: 'from-file',
    expect: { source: 'file', variable: 'SMTP_PASSWORD_FILE', present: true },
  },
  'the Keybox server': {
    server: 'from-server',
    legacy: 'from-legacy',
    value: 'from-server',
    expect: {
      source: 'keybox',
      variable: 'SMTP_PASSWORD',
      keybox: { via: 'server', project: 'shop', env: 'prod', path: '/app', version: 3 },
    },
  },
  'the legacy store': {
    legacy: 'from-legacy',
    value: 'from-legacy',
    expect: { source: 'legacy', present: true },
  },
  'nothing: missing': {
    value: undefined,
    expect: { source: 'missing', present: false },
  },
  'NAME over NAME_FILE when both are set': {
    env: { SMTP_PASSWORD: 'from-env', SMTP_PASSWORD_FILE: 'FILE' },
    value: 'from-env',
    expect: { source: 'env', variable: 'SMTP_PASSWORD' },
  },
  'a value keybox run injected, reported as keybox with its folder and version': {
    env: { SMTP_PASSWORD: 'from-run', KEYBOX_INJECTED: injected },
    server: 'from-server',
    value: 'from-run',
    expect: {
      source: 'keybox',
      variable: 'SMTP_PASSWORD',
      keybox: { via: 'run', project: 'shop', env: 'prod', path: '/mail', version: 7 },
    },
  },
};

describe('resolution order', () => {
  it.each(Object.entries(table))('takes %s', async (_name, c) => {
    const env = Object.fromEntries(
      Object.entries(c.env ?? {}).map(([k, v]) => [k, v === 'FILE' ? file('from-file\n') : v]),
    );
    const fetcher = fakeFetcher(c.server === undefined ? {} : { SMTP_PASSWORD: c.server });
    const legacy = memoryLegacy(c.legacy === undefined ? {} : { SMTP_PASSWORD: c.legacy });
    const secrets = createSecrets(manifest, { env, keybox: fakeKeybox(fetcher), legacy: legacy.source });
    await secrets.load();
    expect(fetcher.calls).toBe(1);
    expect(secrets.get('SMTP_PASSWORD')).toBe(c.value);
    expect(secrets.status().items[0]).toMatchObject(c.expect);
  });

  it('says which variable won when NAME and NAME_FILE are both set', async () => {
    const env = { SMTP_PASSWORD: 'from-env', SMTP_PASSWORD_FILE: file('from-file') };
    const secrets = createSecrets(manifest, { env, keybox: false });
    await secrets.load();
    expect(secrets.status().items[0]?.problems).toEqual([
      {
        code: 'SHADOWED',
        level: 'warning',
        message: 'SMTP_PASSWORD and SMTP_PASSWORD_FILE are both set; SMTP_PASSWORD is used',
      },
    ]);
  });

  it('reports a variable injected by keybox run but not listed for this name as plain env', () => {
    const env = { SMTP_PASSWORD: 'host', KEYBOX_INJECTED: formatInjected({ project: 'p', env: 'e', secrets: {} }) };
    expect(createSecrets(manifest, { env, keybox: false }).status().items[0]?.source).toBe('env');
  });

  it('reads every direct alias before any _FILE variable, first declared first', () => {
    const aliases = { items: { AI_KEY: { envVars: ['AI_KEY', 'OPENAI_API_KEY'] } } };
    const resolve = (env: Record<string, string>) => {
      const item = createSecrets(aliases, { env, keybox: false }).status().items[0];
      return item?.variable;
    };
    expect(resolve({ OPENAI_API_KEY: 'b' })).toBe('OPENAI_API_KEY');
    expect(resolve({ AI_KEY: 'a', OPENAI_API_KEY: 'b' })).toBe('AI_KEY');
    expect(resolve({ AI_KEY_FILE: file('a'), OPENAI_API_KEY: 'b' })).toBe('OPENAI_API_KEY');
    expect(resolve({ OPENAI_API_KEY_FILE: file('b'), AI_KEY_FILE: file('a') })).toBe('AI_KEY_FILE');
  });

  it('looks a Keybox secret up under each declared variable, in order', async () => {
    const aliases = { items: { AI_KEY: { envVars: ['AI_KEY', 'OPENAI_API_KEY'] } } };
    const keybox = fakeKeybox(fakeFetcher({ OPENAI_API_KEY: 'stored-under-alias' }));
    const secrets = createSecrets(aliases, { env: {}, keybox });
    await secrets.load();
    expect(secrets.get('AI_KEY')).toBe('stored-under-alias');
    expect(secrets.status().items[0]?.variable).toBe('OPENAI_API_KEY');
  });

  it('treats an empty variable as unset and says so', () => {
    const secrets = createSecrets(manifest, { env: { SMTP_PASSWORD: '', SMTP_PASSWORD_FILE: file('f') } });
    expect(secrets.get('SMTP_PASSWORD')).toBe('f');
    expect(secrets.status().items[0]?.problems.map((p) => p.code)).toEqual(['EMPTY']);
  });

  it('never consults the legacy store for a non-secret setting', async () => {
    const settings = { items: { SMTP_HOST: { secret: false, required: false } } };
    const legacy = memoryLegacy({ SMTP_HOST: 'mail.example' });
    const secrets = createSecrets(settings, { env: {}, keybox: false, legacy: legacy.source });
    await secrets.load();
    expect(secrets.get('SMTP_HOST')).toBeUndefined();
    expect(secrets.status()).toMatchObject({ ok: true, legacy: { remaining: [], served: [] } });
  });
});
