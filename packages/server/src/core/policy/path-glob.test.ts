import { describe, expect, it } from 'vitest';
import { compileGlob, globReachesBelow } from './path-glob.js';

function matcher(pattern: string) {
  const glob = compileGlob(pattern);
  if (!glob.ok) throw new Error(glob.reason);
  return glob.match;
}

describe('compileGlob', () => {
  it.each([
    ['/backend', ['/backend'], ['/', '/backend/x', '/backendx', '/back']],
    ['/backend/', ['/backend'], ['/backend/x']],
    ['/backend/*', ['/backend/a', '/backend/b-2'], ['/backend', '/backend/a/b', '/other/a']],
    ['/backend/**', ['/backend', '/backend/a', '/backend/a/b/c'], ['/', '/backendx', '/other/backend']],
    ['/*/config', ['/a/config', '/b/config'], ['/config', '/a/b/config', '/a/config/x']],
    ['/**', ['/', '/a', '/a/b/c'], []],
    ['/', ['/'], ['/a']],
  ])('%s matches %j and nothing in %j', (pattern, yes, no) => {
    const match = matcher(pattern);
    for (const path of yes) expect(match(path), path).toBe(true);
    for (const path of no) expect(match(path), path).toBe(false);
  });

  it.each([
    ['backend', /must start with \//],
    ['/a//b', /empty segment/],
    ['/**/secrets', /only allowed as the last segment/],
    ['/back*', /whole segment/],
    ['/a/**x', /whole segment/],
  ])('refuses %j', (pattern, reason) => {
    const glob = compileGlob(pattern);
    expect(glob.ok).toBe(false);
    if (!glob.ok) expect(glob.reason).toMatch(reason);
  });
});

describe('globReachesBelow', () => {
  it.each([
    ['/backend/**', '/', true],
    ['/backend/**', '/backend/deep', true],
    ['/backend/api', '/backend', true],
    ['/*/config', '/any', true],
    ['/backend/**', '/frontend', false],
    ['/backend/api', '/backend/web', false],
    ['/backend', '/backend/api', false],
    ['/', '/a', false],
  ])('%s reaches below %s: %s', (pattern, path, reaches) => {
    expect(globReachesBelow(pattern, path)).toBe(reaches);
  });
});
