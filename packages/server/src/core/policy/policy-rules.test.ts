import { describe, expect, it } from 'vitest';
import { parseRules } from './policy-rules.js';

describe('parseRules', () => {
  it('fills in allow, every environment and every folder when a rule leaves them out', () => {
    expect(parseRules([{ projects: ['shop'], capabilities: ['read'] }])).toEqual({
      ok: true,
      rules: [{ effect: 'allow', projects: ['shop'], environments: ['*'], paths: ['/**'], capabilities: ['read'] }],
    });
  });

  it('refuses an empty list, an unknown capability and an unknown field, naming the rule', () => {
    expect(parseRules([])).toMatchObject({ ok: false, errors: [expect.stringMatching(/at least one rule/)] });
    const check = parseRules([
      { projects: ['shop'], capabilities: ['read'] },
      { projects: ['shop'], capabilities: ['sudo'] },
      { projects: ['shop'], capabilities: ['read'], effect: 'allow', paths: ['/**'], extra: true },
    ]);
    expect(check.ok).toBe(false);
    if (!check.ok) {
      expect(check.errors.some((e) => e.startsWith('rule 1.capabilities'))).toBe(true);
      expect(check.errors.some((e) => e.startsWith('rule 2'))).toBe(true);
      expect(check.errors.some((e) => e.startsWith('rule 0'))).toBe(false);
    }
  });

  it('refuses an effect other than allow or deny, and a rule without projects or capabilities', () => {
    expect(parseRules([{ effect: 'maybe', projects: ['shop'], capabilities: ['read'] }]).ok).toBe(false);
    expect(parseRules([{ capabilities: ['read'] }]).ok).toBe(false);
    expect(parseRules([{ projects: ['shop'], capabilities: [] }]).ok).toBe(false);
  });

  it('refuses project and environment names that are neither a slug nor *, so no pattern sneaks in', () => {
    for (const name of ['Shop', 'sh*', '**', 'a/b', '']) {
      expect(parseRules([{ projects: [name], capabilities: ['read'] }]).ok, name).toBe(false);
      expect(parseRules([{ projects: ['shop'], environments: [name], capabilities: ['read'] }]).ok, name).toBe(false);
    }
  });

  it('refuses an invalid folder glob with its rule number', () => {
    expect(parseRules([{ projects: ['shop'], paths: ['/a/**/b'], capabilities: ['read'] }])).toEqual({
      ok: false,
      errors: ['rule 0.paths: folder pattern "/a/**/b": ** is only allowed as the last segment'],
    });
  });

  it('refuses input that is not a list of objects', () => {
    for (const input of [undefined, null, 'admin', { projects: ['*'] }, [null]])
      expect(parseRules(input).ok).toBe(false);
  });
});
