import { describe, expect, it } from 'vitest';
import { formatInjected, INJECTED_ENV_VAR, parseInjected, type InjectedManifest } from './injected.js';

const manifest: Omit<InjectedManifest, 'v'> = {
  project: 'shop',
  env: 'dev',
  secrets: {
    DB_URL: { path: '/backend', version: 3 },
    API_KEY: { path: '/', version: 1 },
  },
};

describe('formatInjected and parseInjected', () => {
  it('uses the documented variable name', () => {
    expect(INJECTED_ENV_VAR).toBe('KEYBOX_INJECTED');
  });

  it('round-trips a manifest and stamps version 1', () => {
    const text = formatInjected(manifest);
    expect(JSON.parse(text)).toMatchObject({ v: 1 });
    expect(parseInjected(text)).toEqual({ v: 1, ...manifest });
  });

  it('round-trips a manifest with no secrets', () => {
    expect(parseInjected(formatInjected({ project: 'p', env: 'e', secrets: {} }))).toEqual({
      v: 1,
      project: 'p',
      env: 'e',
      secrets: {},
    });
  });

  it('holds names, folders and versions but no values', () => {
    const text = formatInjected(manifest);
    expect(Object.keys(JSON.parse(text) as object).sort()).toEqual(['env', 'project', 'secrets', 'v']);
    expect(text).not.toMatch(/"value"/);
  });

  it('drops unknown fields of a secret entry', () => {
    const text = JSON.stringify({
      v: 1,
      project: 'p',
      env: 'e',
      secrets: { A: { path: '/', version: 2, value: 'leak' } },
    });
    expect(parseInjected(text)?.secrets).toEqual({ A: { path: '/', version: 2 } });
  });

  it.each([
    ['undefined', undefined],
    ['an empty string', ''],
    ['not JSON', '{"v":1,'],
    ['a JSON string', '"hello"'],
    ['JSON null', 'null'],
    ['a number', '42'],
    ['an array', '[1,2]'],
    ['another format version', JSON.stringify({ ...manifest, v: 2 })],
    ['a missing project', JSON.stringify({ v: 1, env: 'e', secrets: {} })],
    ['a numeric env', JSON.stringify({ v: 1, project: 'p', env: 3, secrets: {} })],
    ['missing secrets', JSON.stringify({ v: 1, project: 'p', env: 'e' })],
    ['null secrets', JSON.stringify({ v: 1, project: 'p', env: 'e', secrets: null })],
    ['a null entry', JSON.stringify({ v: 1, project: 'p', env: 'e', secrets: { A: null } })],
    ['an entry without path', JSON.stringify({ v: 1, project: 'p', env: 'e', secrets: { A: { version: 1 } } })],
    ['a string version', JSON.stringify({ v: 1, project: 'p', env: 'e', secrets: { A: { path: '/', version: '1' } } })],
  ])('returns undefined for %s', (_label, text) => {
    expect(parseInjected(text)).toBeUndefined();
  });
});
