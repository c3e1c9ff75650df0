import { describe, expect, it } from 'vitest';
import {
  checkFolderPath,
  checkSecretName,
  checkSlug,
  FOLDER_DEPTH_MAX,
  FOLDER_PATH_MAX,
  folderDepth,
  isWithinFolder,
  SECRET_NAME_MAX,
} from './names.js';

describe('checkSecretName', () => {
  it.each(['A', '_', 'DB_URL', 'a1', '_9', 'x'.repeat(SECRET_NAME_MAX)])('accepts %s', (name) => {
    expect(checkSecretName(name)).toEqual({ ok: true, value: name });
  });

  it.each(['', '1A', 'A-B', 'A.B', 'A B', 'A=B', 'É', 'A\n', 'x'.repeat(SECRET_NAME_MAX + 1)])('rejects %j', (name) => {
    expect(checkSecretName(name).ok).toBe(false);
  });

  it('never echoes the rejected name, which may be a value typed without KEY=', () => {
    const typedValue = 'sk-live-7Hq2-canary';
    const check = checkSecretName(typedValue);
    expect(check.ok).toBe(false);
    if (!check.ok) {
      expect(check.reason).not.toContain(typedValue);
      expect(check.reason).not.toContain('canary');
    }
    const long = `S${'k'.repeat(SECRET_NAME_MAX)}`;
    const longCheck = checkSecretName(`${long}-`);
    expect(longCheck.ok).toBe(false);
    if (!longCheck.ok) expect(longCheck.reason).not.toContain(long.slice(0, 20));
  });
});

describe('checkSlug', () => {
  it.each(['a', 'shop', 'my-app-2', '0', 'a'.repeat(64)])('accepts %s', (slug) => {
    expect(checkSlug('project', slug)).toEqual({ ok: true, value: slug });
  });

  it.each(['', 'Shop', '-a', 'a-', 'a_b', 'a.b', 'a b', 'a'.repeat(65), 'ü'])('rejects %j', (slug) => {
    const check = checkSlug('environment', slug);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.reason).toContain('environment slug');
  });

  it('replaces control characters and shortens long input in the message', () => {
    const check = checkSlug('project', `bad\u001b[31m${'x'.repeat(200)}`);
    expect(check.ok).toBe(false);
    if (!check.ok) {
      expect(check.reason).not.toContain('\u001b');
      expect(check.reason).not.toContain('x'.repeat(100));
    }
  });
});

describe('checkFolderPath', () => {
  it.each([
    ['', '/'],
    ['/', '/'],
    ['///', '/'],
    ['/backend', '/backend'],
    ['/backend/', '/backend'],
    ['/backend//', '/backend'],
    ['/a/b_c/d-e/f.g', '/a/b_c/d-e/f.g'],
  ])('normalises %j to %j', (input, expected) => {
    expect(checkFolderPath(input)).toEqual({ ok: true, value: expected });
  });

  it.each(['backend', './backend', '/a//b', '//a', '/.', '/a/./b', '/..', '/a/../b', '/a b', '/a\\b', '/a/$x'])(
    'rejects %j',
    (input) => {
      expect(checkFolderPath(input).ok).toBe(false);
    },
  );

  it(`accepts ${FOLDER_DEPTH_MAX} levels and refuses one more`, () => {
    const deepest = '/a'.repeat(FOLDER_DEPTH_MAX);
    expect(checkFolderPath(deepest)).toEqual({ ok: true, value: deepest });
    const tooDeep = checkFolderPath(`${deepest}/a`);
    expect(tooDeep.ok).toBe(false);
    if (!tooDeep.ok) expect(tooDeep.reason).toContain(String(FOLDER_DEPTH_MAX));
  });

  it(`refuses paths over ${FOLDER_PATH_MAX} characters`, () => {
    const segment = `/${'s'.repeat(99)}`;
    expect(checkFolderPath(segment.repeat(5)).ok).toBe(true);
    expect(checkFolderPath(segment.repeat(6)).ok).toBe(false);
  });
});

describe('folderDepth and isWithinFolder', () => {
  it('counts segments of a normalised path', () => {
    expect(folderDepth('/')).toBe(0);
    expect(folderDepth('/a')).toBe(1);
    expect(folderDepth('/a/b/c')).toBe(3);
  });

  it('treats a folder as within itself and its ancestors, but not a sibling with a shared prefix', () => {
    expect(isWithinFolder('/a/b', '/')).toBe(true);
    expect(isWithinFolder('/a', '/a')).toBe(true);
    expect(isWithinFolder('/a/b', '/a')).toBe(true);
    expect(isWithinFolder('/ab', '/a')).toBe(false);
    expect(isWithinFolder('/a', '/a/b')).toBe(false);
  });
});
