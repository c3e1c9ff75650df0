import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { stripOneNewline } from '@keybox/sdk';
import { parseAssignments } from './assignments.js';

const dir = mkdtempSync(join(tmpdir(), 'keybox-assignments-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(content: string): string {
  const path = join(dir, `value-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, content);
  return path;
}

/** A stdin reader that counts how often it is read. */
function stdin(content: string) {
  const reader = {
    reads: 0,
    read: () => {
      reader.reads++;
      return Promise.resolve(content);
    },
  };
  return reader;
}

async function usageFailure(args: string[]): Promise<CliError> {
  const error: unknown = await parseAssignments(args, stdin('').read).then(
    () => expect.unreachable('expected a usage error'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CliError);
  expect((error as CliError).exitCode).toBe(2);
  return error as CliError;
}

describe('parseAssignments', () => {
  it('splits KEY=VALUE at the first =, keeping empty values and later = signs', async () => {
    const none = stdin('');
    expect(await parseAssignments(['A=1', 'B=', 'C=x=y==', 'D=a-b @c'], none.read)).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '' },
      { name: 'C', value: 'x=y==' },
      { name: 'D', value: 'a-b @c' },
    ]);
    expect(none.reads).toBe(0);
  });

  it('reads KEY=@file and drops exactly one trailing newline', async () => {
    const result = await parseAssignments(
      [`ONE=@${file('v\n')}`, `TWO=@${file('v\n\n')}`, `CRLF=@${file('v\r\n')}`, `NONE=@${file(' v ')}`],
      stdin('').read,
    );
    expect(result).toEqual([
      { name: 'ONE', value: 'v' },
      { name: 'TWO', value: 'v\n' },
      { name: 'CRLF', value: 'v' },
      { name: 'NONE', value: ' v ' },
    ]);
  });

  it('reads KEY=- from stdin once and drops exactly one trailing newline', async () => {
    const input = stdin('multi\nline\n\n');
    expect(await parseAssignments(['A=1', 'B=-'], input.read)).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: 'multi\nline\n' },
    ]);
    expect(input.reads).toBe(1);
  });

  it('refuses a second KEY=-', async () => {
    const error = await usageFailure(['A=-', 'B=-']);
    expect(error.message).toContain('stdin');
  });

  it.each([
    ['no =', 'sk_live_canary123'],
    ['an empty name', '=sk_live_canary123'],
    ['a name starting with a digit', '1sk_live_canary123=x'],
    ['a name with a dash', 'sk-live-canary123=x'],
  ])('refuses an argument with %s without echoing it', async (_label, arg) => {
    const error = await usageFailure(['OK=1', arg]);
    expect(error.message).toContain('argument 2');
    expect(`${error.message}\n${error.hint ?? ''}`).not.toContain('canary123');
  });

  it('reports an unreadable @file as CONFIG_INVALID with the errno', async () => {
    const error: unknown = await parseAssignments([`A=@${join(dir, 'missing')}`], stdin('').read).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CliError);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', exitCode: 1 });
    expect((error as CliError).message).toContain('ENOENT');
  });
});

describe('stripOneNewline (as secrets set reads files and stdin)', () => {
  it.each([
    ['', ''],
    ['\n', ''],
    ['\r\n', ''],
    ['a\n\n', 'a\n'],
    ['a\r\n\r\n', 'a\r\n'],
    ['a\r', 'a\r'],
    ['a\n ', 'a\n '],
  ])('turns %j into %j', (input, expected) => {
    expect(stripOneNewline(input)).toBe(expected);
  });
});
