import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KeyboxError } from '../client/keybox-error.js';
import { isParsedManifest, parseManifest, type ManifestIssue } from './parse-manifest.js';
import { assertManifest, readManifestFile } from './read-manifest.js';

const dir = mkdtempSync(join(tmpdir(), 'keybox-manifest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function issues(input: unknown): ManifestIssue[] {
  const parsed = parseManifest(input);
  if (parsed.ok) return expect.unreachable('expected the manifest to be refused');
  return parsed.issues;
}

function thrown(run: () => unknown): KeyboxError {
  try {
    run();
  } catch (error) {
    expect(error).toMatchObject({ name: 'KeyboxError', code: 'CONFIG_INVALID' });
    return error as KeyboxError;
  }
  return expect.unreachable('expected CONFIG_INVALID');
}

describe('parseManifest', () => {
  it('fills in the defaults: secret, required, the name as variable, its _FILE variant', () => {
    const parsed = parseManifest({ version: 1, items: { DB_URL: {} } });
    expect(parsed).toEqual({
      ok: true,
      manifest: {
        version: 1,
        items: [
          {
            name: 'DB_URL',
            description: '',
            secret: true,
            required: true,
            envVars: ['DB_URL'],
            fileVars: ['DB_URL_FILE'],
            pattern: undefined,
            example: undefined,
            rotation: undefined,
            settingsKeys: [],
          },
        ],
      },
    });
  });

  it('keeps declared variables in order, and drops the _FILE variants with "file": false', () => {
    const parsed = parseManifest({
      items: { AI_KEY: { envVars: ['AI_KEY', 'OPENAI_API_KEY'] }, MODE: { secret: false, file: false } },
    });
    expect(parsed.ok && parsed.manifest.items.map((i) => [i.envVars, i.fileVars])).toEqual([
      [
        ['AI_KEY', 'OPENAI_API_KEY'],
        ['AI_KEY_FILE', 'OPENAI_API_KEY_FILE'],
      ],
      [['MODE'], []],
    ]);
  });

  it('returns a frozen manifest that assertManifest accepts as it is', () => {
    const parsed = parseManifest({ items: { A: {} } });
    if (!parsed.ok) return expect.unreachable();
    expect(Object.isFrozen(parsed.manifest.items[0])).toBe(true);
    expect(isParsedManifest(parsed.manifest)).toBe(true);
    expect(assertManifest(parsed.manifest)).toBe(parsed.manifest);
    expect(isParsedManifest({ version: 1, items: [] })).toBe(false);
  });

  it('names the field of every issue, not only the first', () => {
    expect(
      issues({
        version: 2,
        extra: true,
        items: {
          'bad-name': {},
          API_KEY: { requird: false, secret: 'yes', pattern: '(', envVars: [] },
          HOST: { pattern: '^[a-z]+$', example: 'Not-Lower' },
        },
      }),
    ).toEqual([
      { at: 'extra', message: 'is not a known field (version, items)' },
      { at: 'version', message: 'must be 1' },
      { at: 'items."bad-name"', message: expect.stringContaining('is not a valid name') as string },
      { at: 'items.API_KEY.requird', message: expect.stringContaining('is not a known field') as string },
      { at: 'items.API_KEY.secret', message: 'must be true or false' },
      { at: 'items.API_KEY.envVars', message: 'must name at least one variable' },
      { at: 'items.API_KEY.pattern', message: 'is not a valid regular expression' },
      { at: 'items.HOST.example', message: 'does not match the pattern' },
    ]);
  });

  it.each([null, [], 'items', 42])('refuses %j as a manifest', (input) => {
    expect(issues(input)).toEqual([{ at: '(top level)', message: 'must be an object' }]);
  });

  it('refuses items given as a list, and an item that is not an object', () => {
    expect(issues({ items: [{ name: 'A' }] })[0]?.at).toBe('items');
    expect(issues({ items: { A: true } })).toEqual([{ at: 'items.A', message: expect.stringContaining('object') }]);
  });

  it('refuses invalid and repeated variable names', () => {
    expect(issues({ items: { A: { envVars: ['A', 'not valid'] } } })[0]?.message).toContain('not a valid');
    expect(issues({ items: { A: { envVars: ['A', 'A'] } } })[0]?.message).toBe('names a variable twice');
  });

  it('refuses a variable that feeds two items, naming both', () => {
    expect(issues({ items: { A: { envVars: ['SHARED'] }, B: { envVars: ['B', 'SHARED'] } } })).toEqual([
      { at: 'items.B', message: 'SHARED already feeds A; a variable feeds one item' },
    ]);
    expect(issues({ items: { DB: {}, DB_FILE: {} } })[0]?.message).toBe(
      'DB_FILE already feeds DB; a variable feeds one item',
    );
  });
});

describe('readManifestFile and assertManifest', () => {
  it('reads and validates a JSON file', () => {
    const file = join(dir, 'ok.json');
    writeFileSync(file, JSON.stringify({ version: 1, items: { A: { description: 'a' } } }));
    expect(readManifestFile(file).items.map((i) => i.name)).toEqual(['A']);
    expect(assertManifest(file).items).toHaveLength(1);
  });

  it('reports a missing file with its path and the error code', () => {
    expect(thrown(() => readManifestFile(join(dir, 'missing.json'))).message).toBe(
      `cannot read the manifest ${join(dir, 'missing.json')} (ENOENT)`,
    );
  });

  it('reports invalid JSON without quoting the text around the mistake', () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"items": {"A": {"example": "s3cr3t-pasted-by-mistake",}}}');
    const error = thrown(() => readManifestFile(file));
    expect(error.message).toBe(`the manifest ${file} is not valid JSON`);
    expect(String(error.stack)).not.toContain('s3cr3t');
  });

  it('lists the issues in the message and in details', () => {
    const error = thrown(() => assertManifest({ items: { A: { secret: 1 }, B: { required: 'no' } } }));
    expect(error.message).toBe(
      'the manifest is not valid: items.A.secret: must be true or false; items.B.required: must be true or false',
    );
    expect(error.details).toEqual({
      issues: [
        { at: 'items.A.secret', message: 'must be true or false' },
        { at: 'items.B.required', message: 'must be true or false' },
      ],
    });
  });
});
