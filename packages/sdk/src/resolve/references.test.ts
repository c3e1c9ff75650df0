import { describe, expect, it } from 'vitest';
import { KeyboxError } from '../client/keybox-error.js';
import {
  expandAll,
  MAX_REFERENCE_DEPTH,
  parseValue,
  referencedScopes,
  scopeKey,
  type ScopeValues,
} from './references.js';

const local = (entries: Record<string, string>): ScopeValues => new Map(Object.entries(entries));

function fails(fn: () => unknown): KeyboxError {
  try {
    fn();
  } catch (error) {
    if (error instanceof KeyboxError) return error;
    throw error;
  }
  throw new Error('expected a KeyboxError');
}

describe('parseValue', () => {
  it('splits text and the three reference forms', () => {
    expect(parseValue('a${B}c${prod.D}e${staging./api/v1.F}', 'X')).toEqual([
      'a',
      { env: undefined, path: undefined, name: 'B', raw: '${B}' },
      'c',
      { env: 'prod', path: '/', name: 'D', raw: '${prod.D}' },
      'e',
      { env: 'staging', path: '/api/v1', name: 'F', raw: '${staging./api/v1.F}' },
    ]);
  });

  it('keeps dots inside folder names: the last dot separates the key', () => {
    expect(parseValue('${prod./a.b/c.KEY}', 'X')).toEqual([
      { env: 'prod', path: '/a.b/c', name: 'KEY', raw: '${prod./a.b/c.KEY}' },
    ]);
  });

  it('reads $${ as a literal ${', () => {
    expect(parseValue('cost: $${PRICE} and ${A}', 'X')).toEqual([
      'cost: ${PRICE} and ',
      { env: undefined, path: undefined, name: 'A', raw: '${A}' },
    ]);
  });

  it.each(['${}', '${1A}', '${A', '${prod.}', '${Prod.A}', '${prod./.A}x${', '${a b}'])(
    'refuses the malformed %s, naming the owner',
    (value) => {
      const error = fails(() => parseValue(value, 'OWNER'));
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.message).toContain('OWNER');
    },
  );
});

describe('expandAll', () => {
  it('expands same-scope references in chains', () => {
    const out = expandAll(
      local({ HOST: 'db', PORT: '5432', ADDR: '${HOST}:${PORT}', URL: 'pg://${ADDR}/app' }),
      new Map(),
    );
    expect(out.get('URL')).toBe('pg://db:5432/app');
  });

  it('expands other scopes, and relative references there resolve in that scope, not the local one', () => {
    const scopes = new Map([[scopeKey('prod', '/db'), local({ USER: 'app', DSN: '${USER}@db' })]]);
    const out = expandAll(local({ USER: 'local-user', X: '${prod./db.DSN}' }), scopes);
    expect(out.get('X')).toBe('app@db');
  });

  it('names the cycle', () => {
    const error = fails(() => expandAll(local({ A: '${B}', B: '${C}', C: '${A}' }), new Map()));
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toBe('reference cycle: A -> B -> C -> A');
  });

  it('refuses to nest deeper than the limit', () => {
    const entries: Record<string, string> = { K0: 'end' };
    for (let i = 1; i <= MAX_REFERENCE_DEPTH + 1; i++) entries[`K${i}`] = `\${K${i - 1}}`;
    expect(fails(() => expandAll(local(entries), new Map())).message).toContain('nest deeper than 10');
    delete entries[`K${MAX_REFERENCE_DEPTH + 1}`];
    expect(expandAll(local(entries), new Map()).get(`K${MAX_REFERENCE_DEPTH}`)).toBe('end');
  });

  it('is an error, not a literal, when the referenced secret or scope is missing', () => {
    expect(fails(() => expandAll(local({ A: '${NOPE}' }), new Map())).message).toBe(
      'A refers to NOPE, which does not exist there',
    );
    expect(fails(() => expandAll(local({ A: '${prod./x.K}' }), new Map())).message).toBe(
      'A refers to prod /x, which cannot be read',
    );
  });

  it('leaves values without references untouched, including ones with a lone $', () => {
    expect(expandAll(local({ A: 'p$ss{word}$' }), new Map()).get('A')).toBe('p$ss{word}$');
  });
});

describe('referencedScopes', () => {
  it('lists the other scopes once each', () => {
    const scopes = referencedScopes([
      ['A', '${prod.X}${prod.Y}'],
      ['B', '${staging./api.Z}'],
      ['C', '${LOCAL}'],
    ]);
    expect([...scopes].sort()).toEqual(['prod:/', 'staging:/api']);
  });
});
