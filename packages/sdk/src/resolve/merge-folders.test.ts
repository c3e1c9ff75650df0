import { describe, expect, it } from 'vitest';
import type { BulkFolder } from '../contract/api-types.js';
import { mergeFolders } from './merge-folders.js';

function folder(path: string, secrets: Record<string, [value: string, version: number]>): BulkFolder {
  return {
    path,
    revision: 1,
    secrets: Object.entries(secrets).map(([name, [value, version]]) => ({ name, value, version })),
  };
}

describe('mergeFolders', () => {
  it('returns nothing for no folders', () => {
    const merged = mergeFolders([]);
    expect(merged.secrets.size).toBe(0);
    expect(merged.shadowed).toEqual([]);
  });

  it('keeps every secret of disjoint folders with its own folder and version', () => {
    const merged = mergeFolders([folder('/a', { A: ['1', 3] }), folder('/b', { B: ['2', 7] })]);
    expect(Object.fromEntries(merged.secrets)).toEqual({
      A: { value: '1', version: 3, path: '/a' },
      B: { value: '2', version: 7, path: '/b' },
    });
    expect(merged.shadowed).toEqual([]);
  });

  it('lets the later folder win a clash and reports the shadowed one', () => {
    const merged = mergeFolders([
      folder('/', { DB_URL: ['root', 1], ONLY_ROOT: ['r', 1] }),
      folder('/backend', { DB_URL: ['backend', 4] }),
    ]);
    expect(merged.secrets.get('DB_URL')).toEqual({ value: 'backend', version: 4, path: '/backend' });
    expect(merged.secrets.get('ONLY_ROOT')?.value).toBe('r');
    expect(merged.shadowed).toEqual([{ name: 'DB_URL', winner: '/backend', losers: ['/'] }]);
  });

  it('lists every loser in the order the folders came when three folders clash', () => {
    const merged = mergeFolders([
      folder('/', { K: ['0', 1] }),
      folder('/a', { K: ['1', 1] }),
      folder('/a/b', { K: ['2', 1] }),
    ]);
    expect(merged.secrets.get('K')).toEqual({ value: '2', version: 1, path: '/a/b' });
    expect(merged.shadowed).toEqual([{ name: 'K', winner: '/a/b', losers: ['/', '/a'] }]);
  });

  it('follows the order given, not path depth', () => {
    const merged = mergeFolders([folder('/deep/er', { K: ['deep', 1] }), folder('/', { K: ['root', 1] })]);
    expect(merged.secrets.get('K')?.path).toBe('/');
    expect(merged.shadowed).toEqual([{ name: 'K', winner: '/', losers: ['/deep/er'] }]);
  });

  it('does not report a name as shadowed when only one folder holds it', () => {
    const merged = mergeFolders([folder('/a', { X: ['1', 1], Y: ['2', 1] }), folder('/b', { Y: ['3', 1] })]);
    expect(merged.shadowed.map((s) => s.name)).toEqual(['Y']);
  });

  it('keeps an empty string value as a value', () => {
    const merged = mergeFolders([folder('/a', { E: ['x', 1] }), folder('/b', { E: ['', 2] })]);
    expect(merged.secrets.get('E')).toEqual({ value: '', version: 2, path: '/b' });
  });
});
