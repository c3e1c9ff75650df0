import { describe, expect, it } from 'vitest';
import { assertManifest } from '../manifest/read-manifest.js';
import { createSecrets } from './create-secrets.js';
import { stripSecrets } from './strip-secrets.js';

const manifest = assertManifest({
  items: {
    SMTP_PASSWORD: { settingsKeys: ['smtp.password'] },
    AI_API_KEY: { envVars: ['AI_API_KEY', 'OPENAI_API_KEY'], settingsKeys: ['providers.*.apiKey'] },
    ANONYMIZATION_SEED: {},
    SMTP_HOST: { secret: false, settingsKeys: ['smtp.host'] },
  },
});

describe('stripSecrets', () => {
  it('drops secrets from nested objects and arrays and keeps every other setting', () => {
    const update = {
      smtp: { host: 'mail.example', user: 'app', password: 'pw', from: 'noreply@example' },
      providers: [
        { name: 'openai', model: 'gpt', apiKey: 'k1' },
        { name: 'gemini', apiKey: 'k2' },
      ],
      anonymization: { mode: 'hash', anonymizationSeed: 's' },
      theme: 'dark',
    };
    expect(stripSecrets(manifest, update)).toEqual({
      payload: {
        smtp: { host: 'mail.example', user: 'app', from: 'noreply@example' },
        providers: [{ name: 'openai', model: 'gpt' }, { name: 'gemini' }],
        anonymization: { mode: 'hash' },
        theme: 'dark',
      },
      dropped: [
        { name: 'SMTP_PASSWORD', path: 'smtp.password' },
        { name: 'AI_API_KEY', path: 'providers.0.apiKey' },
        { name: 'AI_API_KEY', path: 'providers.1.apiKey' },
        { name: 'ANONYMIZATION_SEED', path: 'anonymization.anonymizationSeed' },
      ],
    });
  });

  it.each(['SMTP_PASSWORD', 'smtpPassword', 'smtp_password', 'smtp-password', 'SmtpPassword'])(
    'recognises the key %s as SMTP_PASSWORD at any depth',
    (key) => {
      const { payload, dropped } = stripSecrets(manifest, { a: { b: { [key]: 'pw', keep: 1 } } });
      expect(payload).toEqual({ a: { b: { keep: 1 } } });
      expect(dropped).toEqual([{ name: 'SMTP_PASSWORD', path: `a.b.${key}` }]);
    },
  );

  it('recognises a declared alias variable as a key', () => {
    expect(stripSecrets(manifest, { openaiApiKey: 'k' }).dropped).toEqual([
      { name: 'AI_API_KEY', path: 'openaiApiKey' },
    ]);
  });

  it('drops a secret whatever it holds: an object, null or an empty string', () => {
    const { payload, dropped } = stripSecrets(manifest, {
      SMTP_PASSWORD: { value: 'pw' },
      aiApiKey: null,
      anonymizationSeed: '',
    });
    expect(payload).toEqual({});
    expect(dropped.map((d) => d.name)).toEqual(['SMTP_PASSWORD', 'AI_API_KEY', 'ANONYMIZATION_SEED']);
  });

  it('keeps non-secret settings, even when declared with settingsKeys', () => {
    expect(stripSecrets(manifest, { smtp: { host: 'h' }, smtpHost: 'h2' })).toEqual({
      payload: { smtp: { host: 'h' }, smtpHost: 'h2' },
      dropped: [],
    });
  });

  it('does not modify the payload it was given', () => {
    const update = { smtp: { password: 'pw', host: 'h' } };
    const before = structuredClone(update);
    stripSecrets(manifest, update);
    expect(update).toEqual(before);
  });

  it('keeps a "__proto__" key of a JSON body as a key, not as the prototype of the copy', () => {
    const body: unknown = JSON.parse('{"__proto__": {"polluted": true}, "smtp": {"password": "pw"}}');
    const { payload } = stripSecrets(manifest, body);
    expect(Object.getPrototypeOf(payload)).toBe(Object.prototype);
    expect((payload as { polluted?: boolean }).polluted).toBeUndefined();
    expect(Object.keys(payload as object)).toEqual(['__proto__', 'smtp']);
  });

  it('passes scalars through and reports nothing', () => {
    expect(stripSecrets(manifest, 'text')).toEqual({ payload: 'text', dropped: [] });
    expect(stripSecrets(manifest, null)).toEqual({ payload: null, dropped: [] });
  });

  it('refuses a payload nested deeper than any settings form rather than leave part of it unchecked', () => {
    let deep: Record<string, unknown> = { smtpPassword: 'pw' };
    for (let i = 0; i < 70; i++) deep = { next: deep };
    expect(() => stripSecrets(manifest, deep)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it('is available on the secrets object for its own manifest', () => {
    const secrets = createSecrets(manifest, { env: {}, keybox: false });
    expect(secrets.stripSecrets({ smtp: { password: 'pw' } }).dropped).toEqual([
      { name: 'SMTP_PASSWORD', path: 'smtp.password' },
    ]);
  });
});
