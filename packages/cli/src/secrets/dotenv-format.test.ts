import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'dotenv';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { formatDotenv, formatShell, parseDotenv, quoteDotenv } from './dotenv-format.js';

const dir = mkdtempSync(join(tmpdir(), 'keybox-format-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Values that break naive quoting. Every one must come back unchanged or be refused. */
const CORPUS: Record<string, string> = {
  single: "it's",
  double: 'say "hi"',
  backtick: 'back`tick',
  singleAndBacktick: "it's `here`",
  allThreeQuotes: `'"\``,
  hash: '#not a comment',
  spaceHash: 'value # still value',
  equals: 'a=b==c',
  dollar: '$HOME and $1',
  braces: '${X}',
  commandSubstitution: '$(whoami)',
  backslashes: 'C:\\path\\to\\file',
  trailingBackslash: 'ends with\\',
  onlyBackslash: '\\',
  literalEscapeN: 'not a \\n newline',
  literalEscapeR: 'not a \\r return',
  padded: '  padded  ',
  spaceOnly: ' ',
  tab: '\tTab\t',
  newline: 'line1\nline2',
  newlineOnly: '\n',
  trailingNewline: 'value\n',
  crlf: 'line1\r\nline2',
  carriageReturn: 'a\rb',
  crlfAndDouble: 'a\r\n"b"',
  unicode: 'héllo wörld 中文 ✓',
  emoji: '🔑😀👩‍👩‍👧',
  empty: '',
  exportLike: 'export FOO=bar',
  multilineAssignment: 'x\nB=overwritten\n',
  pem: '-----BEGIN KEY-----\nMIIB+/=\n-----END KEY-----\n',
  quoteAtEnds: "'quoted'",
  backslashQuote: "a\\'b",
  json: '{"a":[1,"two"]}',
};

/** Formats one value and parses it back; `refused` when the formatter raised a CliError. */
function throughDotenv(value: string): { refused: true } | { refused: false; back: string | undefined } {
  let text: string;
  try {
    text = formatDotenv([
      ['BEFORE', 'before'],
      ['V', value],
      ['AFTER', 'after'],
    ]);
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    return { refused: true };
  }
  const parsed = parse(text);
  expect(parsed['BEFORE']).toBe('before');
  expect(parsed['AFTER']).toBe('after');
  return { refused: false, back: parsed['V'] };
}

/** mulberry32: a small seeded generator, so a failure reproduces. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  'a',
  'Z',
  '0',
  ' ',
  '\t',
  '\n',
  '\r',
  '\r\n',
  "'",
  '"',
  '`',
  '#',
  '=',
  '$',
  '{',
  '}',
  '\\',
  '\\n',
  '\\r',
];

function randomValue(next: () => number): string {
  let value = '';
  const length = Math.floor(next() * 16);
  for (let i = 0; i < length; i++) {
    const r = next();
    if (r < 0.8) value += PIECES[Math.floor(next() * PIECES.length)] ?? '';
    else if (r < 0.95) value += String.fromCodePoint(0x20 + Math.floor(next() * (0xd7ff - 0x20)));
    else value += String.fromCodePoint(0x1f300 + Math.floor(next() * 0x300));
  }
  return value;
}

describe('formatDotenv', () => {
  it.each(Object.entries(CORPUS))('writes %s so dotenv reads back the same value, or refuses it', (_label, value) => {
    const result = throughDotenv(value);
    if (!result.refused) expect(result.back).toBe(value);
  });

  it('carries every value that one of the three quote styles can hold', () => {
    const carried = [
      'single',
      'double',
      'backtick',
      'singleAndBacktick',
      'hash',
      'braces',
      'padded',
      'newline',
      'crlf',
    ];
    for (const label of [...carried, 'carriageReturn', 'unicode', 'emoji', 'empty', 'multilineAssignment', 'pem']) {
      expect(throughDotenv(CORPUS[label] ?? '').refused, label).toBe(false);
    }
  });

  it('refuses a value that mixes all three quote characters, naming the secret but not the value', () => {
    const value = `'"\` canary-9f3`;
    expect(() => quoteDotenv('MIXED', value)).toThrow(CliError);
    try {
      quoteDotenv('MIXED', value);
    } catch (error) {
      expect((error as CliError).message).toContain('MIXED');
      expect((error as CliError).message).not.toContain('canary-9f3');
    }
  });

  it('round-trips or refuses a few thousand seeded random values, each beside other entries', () => {
    const next = seeded(20240611);
    let carried = 0;
    for (let i = 0; i < 4000; i++) {
      const value = randomValue(next);
      const result = throughDotenv(value);
      if (result.refused) continue;
      carried++;
      if (result.back !== value) expect.unreachable(`value ${JSON.stringify(value)} came back changed`);
    }
    // Most random values are representable; a formatter that refused everything would pass the loop above.
    expect(carried).toBeGreaterThan(2000);
  });
});

describe('parseDotenv', () => {
  it('reads names and values with the dotenv parser', async () => {
    expect(await parseDotenv('A=1\n# comment\nexport B=\'two words\'\nC="x\\ny"\n', 'f.env')).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: 'two words' },
      { name: 'C', value: 'x\ny' },
    ]);
  });

  it('refuses a file with names that are not secret names', async () => {
    await expect(parseDotenv('GOOD=1\nbad-name=2\n', 'f.env')).rejects.toThrow(CliError);
  });

  it('does not echo a continuation line of an unquoted multi-line value as a bad name', async () => {
    // An unquoted PEM/base64url value spills onto the next lines; dotenv reads `<key material>=` there as a name.
    const keyMaterial = 'q8Zt-Yb3.Kd9_canarySecret';
    const text = `PRIVATE_KEY=-----BEGIN KEY-----\n${keyMaterial}=\n-----END KEY-----\n`;
    let message = '';
    try {
      await parseDotenv(text, 'f.env');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).not.toBe('');
    expect(message).not.toContain(keyMaterial);
  });
});

describe('formatShell', () => {
  function evalInSh(script: string, names: readonly string[]): string[] {
    const file = join(dir, `script-${names.length}-${Math.random().toString(36).slice(2)}.sh`);
    writeFileSync(file, script);
    const printer = `printf '%s\\0' ${names.map((n) => `"$${n}"`).join(' ')}`;
    const result = spawnSync('sh', ['-c', `eval "$(cat "$1")"; ${printer}`, 'sh', file], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    return result.stdout.split('\0').slice(0, names.length);
  }

  it.each(Object.entries(CORPUS))('exports %s so sh eval gives back exactly the value', (_label, value) => {
    expect(evalInSh(formatShell([['V', value]]), ['V'])).toEqual([value]);
  });

  it('never runs a command substitution, backticks or a quote break-out inside a value', () => {
    const marker = join(dir, `pwned-${Math.random().toString(36).slice(2)}`);
    const attacks = [
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
      `'; touch ${marker}; '`,
      `'"$(touch ${marker})"'`,
      `\\'; touch ${marker} #`,
    ];
    const entries = attacks.map((value, i) => [`ATTACK_${i}`, value] as const);
    const back = evalInSh(
      formatShell(entries),
      entries.map(([name]) => name),
    );
    expect(back).toEqual(attacks);
    expect(existsSync(marker)).toBe(false);
  });

  it('gives back hundreds of seeded random values in one eval', () => {
    const next = seeded(77);
    const entries = Array.from({ length: 600 }, (_, i) => [`R${i}`, randomValue(next)] as const);
    const back = evalInSh(
      formatShell(entries),
      entries.map(([name]) => name),
    );
    expect(back).toEqual(entries.map(([, value]) => value));
  });
});
