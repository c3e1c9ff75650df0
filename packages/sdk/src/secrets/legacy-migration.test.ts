import { describe, expect, it } from 'vitest';
import { createSecrets } from './create-secrets.js';
import { fakeFetcher, fakeKeybox, memoryLegacy } from './test-support/fixtures.js';

const manifest = {
  items: {
    SMTP_PASSWORD: {},
    AI_API_KEY: { pattern: '^sk-' },
    ANONYMIZATION_SEED: {},
    SMTP_HOST: { secret: false, required: false },
  },
};

const stored = { SMTP_PASSWORD: 'old-pw', AI_API_KEY: 'sk-old', ANONYMIZATION_SEED: 'old-seed', SMTP_HOST: 'mail' };

function setup(env: Record<string, string>, options: { clearWorks?: boolean; server?: Record<string, string> } = {}) {
  const legacy = memoryLegacy(stored, options);
  const secrets = createSecrets(manifest, {
    env,
    keybox: options.server === undefined ? false : fakeKeybox(fakeFetcher(options.server)),
    legacy: legacy.source,
  });
  return { secrets, legacy };
}

describe('legacy.report', () => {
  it('lists the secrets still stored, those served from the store, and what would replace each', async () => {
    const { secrets } = setup({ SMTP_PASSWORD: 'new-pw' });
    await secrets.load();
    expect(secrets.legacy.report()).toEqual({
      configured: true,
      remaining: ['SMTP_PASSWORD', 'AI_API_KEY', 'ANONYMIZATION_SEED'],
      served: ['AI_API_KEY', 'ANONYMIZATION_SEED'],
      items: [
        { name: 'SMTP_PASSWORD', stored: true, served: false, replacement: 'env' },
        { name: 'AI_API_KEY', stored: true, served: true, replacement: undefined },
        { name: 'ANONYMIZATION_SEED', stored: true, served: true, replacement: undefined },
      ],
    });
  });
});

describe('legacy.cleanup', () => {
  it('refuses to clear a legacy value that has no replacement source, and clears the others', async () => {
    const { secrets, legacy } = setup({ SMTP_PASSWORD: 'new-pw' }, { server: { AI_API_KEY: 'sk-new' } });
    const result = await secrets.legacy.cleanup();
    expect(result).toEqual({
      dryRun: false,
      cleared: ['SMTP_PASSWORD', 'AI_API_KEY'],
      refused: [{ name: 'ANONYMIZATION_SEED', reason: 'no environment variable, file or Keybox value supplies it' }],
      failed: [],
      remaining: ['ANONYMIZATION_SEED'],
    });
    expect(legacy.cleared).toEqual([['SMTP_PASSWORD', 'AI_API_KEY']]);
    expect([...legacy.rows.keys()]).toEqual(['ANONYMIZATION_SEED', 'SMTP_HOST']);
    expect(secrets.get('ANONYMIZATION_SEED')).toBe('old-seed');
  });

  it('confirms a Keybox replacement with a fresh fetch, not the one from start-up', async () => {
    const server: Record<string, string> = { SMTP_PASSWORD: 'in-keybox' };
    const legacy = memoryLegacy(stored);
    const fetcher = fakeFetcher(server);
    const secrets = createSecrets(manifest, { env: {}, keybox: fakeKeybox(fetcher), legacy: legacy.source });
    await secrets.load();
    expect(secrets.legacy.report().items[0]).toMatchObject({ name: 'SMTP_PASSWORD', replacement: 'keybox' });
    delete server['SMTP_PASSWORD'];
    const result = await secrets.legacy.cleanup({ names: ['SMTP_PASSWORD'] });
    expect(fetcher.calls).toBe(2);
    expect(result.refused.map((r) => r.name)).toEqual(['SMTP_PASSWORD']);
    expect(legacy.rows.get('SMTP_PASSWORD')).toBe('old-pw');
  });

  it('does not call clear at all when nothing has a replacement', async () => {
    const { secrets, legacy } = setup({});
    const result = await secrets.legacy.cleanup();
    expect(result.cleared).toEqual([]);
    expect(result.refused.map((r) => r.name)).toEqual(['SMTP_PASSWORD', 'AI_API_KEY', 'ANONYMIZATION_SEED']);
    expect(legacy.cleared).toEqual([]);
  });

  it('refuses when the replacement does not match the declared pattern', async () => {
    const { secrets, legacy } = setup({ AI_API_KEY: 'not-a-key' });
    const result = await secrets.legacy.cleanup({ names: ['AI_API_KEY'] });
    expect(result.refused).toEqual([{ name: 'AI_API_KEY', reason: 'its env value does not match the pattern' }]);
    expect(legacy.rows.get('AI_API_KEY')).toBe('sk-old');
  });

  it('never touches a non-secret setting, which may stay in the settings table', async () => {
    const { secrets, legacy } = setup({ SMTP_PASSWORD: 'p', AI_API_KEY: 'sk-x', ANONYMIZATION_SEED: 's' });
    await secrets.legacy.cleanup();
    expect([...legacy.rows.entries()]).toEqual([['SMTP_HOST', 'mail']]);
  });

  it('clears only the names asked for', async () => {
    const { secrets, legacy } = setup({ SMTP_PASSWORD: 'p', ANONYMIZATION_SEED: 's' });
    const result = await secrets.legacy.cleanup({ names: ['ANONYMIZATION_SEED'] });
    expect(result.cleared).toEqual(['ANONYMIZATION_SEED']);
    expect(legacy.rows.has('SMTP_PASSWORD')).toBe(true);
  });

  it('clears nothing in a dry run and reports what it would clear', async () => {
    const { secrets, legacy } = setup({ SMTP_PASSWORD: 'p' });
    const result = await secrets.legacy.cleanup({ dryRun: true });
    expect(result).toMatchObject({ dryRun: true, cleared: ['SMTP_PASSWORD'] });
    expect(legacy.cleared).toEqual([]);
    expect(result.remaining).toContain('SMTP_PASSWORD');
  });

  it('reports a value that a fresh read still finds after clear as failed', async () => {
    const { secrets } = setup({ SMTP_PASSWORD: 'p' }, { clearWorks: false });
    const result = await secrets.legacy.cleanup({ names: ['SMTP_PASSWORD'] });
    expect(result).toMatchObject({ cleared: [], failed: ['SMTP_PASSWORD'] });
  });

  it('refuses a name that is not a declared secret, before touching anything', async () => {
    const { secrets, legacy } = setup({ SMTP_HOST: 'x' });
    await expect(secrets.legacy.cleanup({ names: ['SMTP_HOST'] })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: 'cleanup: "SMTP_HOST" is not a declared secret',
    });
    expect(legacy.cleared).toEqual([]);
  });

  it('needs a legacy source', async () => {
    const secrets = createSecrets(manifest, { env: {}, keybox: false });
    await expect(secrets.legacy.cleanup()).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(secrets.legacy.check()).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});

describe('legacy.check', () => {
  it('fails while any legacy secret value remains, and passes once all are cleared', async () => {
    const { secrets, legacy } = setup({ SMTP_PASSWORD: 'p', AI_API_KEY: 'sk-x', ANONYMIZATION_SEED: 's' });
    expect(await secrets.legacy.check()).toEqual({
      ok: false,
      remaining: ['SMTP_PASSWORD', 'AI_API_KEY', 'ANONYMIZATION_SEED'],
    });
    await secrets.legacy.cleanup();
    expect(await secrets.legacy.check()).toEqual({ ok: true, remaining: [] });
    // Reads the store afresh: a value written back behind the app's back fails the check again.
    legacy.rows.set('SMTP_PASSWORD', 'written-again');
    expect(await secrets.legacy.check()).toEqual({ ok: false, remaining: ['SMTP_PASSWORD'] });
  });

  it('counts an empty or null stored value as cleared', async () => {
    const legacy = memoryLegacy({ SMTP_PASSWORD: '' });
    const secrets = createSecrets(manifest, { env: {}, keybox: false, legacy: legacy.source });
    expect(await secrets.legacy.check()).toEqual({ ok: true, remaining: [] });
  });
});
