import { afterEach, describe, expect, it, vi } from 'vitest';
import { bool, formatHelp, int, parseCommand, str, strs, type CommandSpec } from './args.js';
import { spec as exportSpec } from './commands/export.js';
import { spec as initSpec } from './commands/init.js';
import { CliError } from './errors.js';

const demo: CommandSpec = {
  name: 'keybox demo',
  usage: ['keybox demo [options]', 'keybox demo --other'],
  summary: 'A demo command.',
  details: ['Some details.'],
  options: {
    project: { type: 'string', short: 'p', value: 'P', description: 'project slug' },
    path: { type: 'string', multiple: true, value: '/PATH', description: 'folder path' },
    'dry-run': { type: 'boolean', description: 'write nothing' },
    limit: { type: 'string', description: 'how many' },
  },
  examples: ['keybox demo -p shop'],
};

afterEach(() => {
  vi.restoreAllMocks();
});

function usageFailure(spec: CommandSpec, argv: string[]): CliError {
  try {
    parseCommand(spec, argv);
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    return error as CliError;
  }
  return expect.unreachable('expected a usage error');
}

describe('formatHelp', () => {
  it.each([demo, exportSpec, initSpec])('lists every option of $name, and --help', (spec) => {
    const help = formatHelp(spec);
    for (const [name, option] of Object.entries(spec.options)) {
      expect(help).toContain(`--${name}`);
      expect(help).toContain(option.description);
      if (option.short !== undefined) expect(help).toContain(`-${option.short}, --${name}`);
    }
    expect(help).toContain('-h, --help');
    expect(help).toContain(spec.summary);
    for (const line of spec.usage) expect(help).toContain(line);
  });

  it('shows placeholders for string options, marks repeatable ones and ends with a newline', () => {
    const help = formatHelp(demo);
    expect(help).toMatch(/-p, --project P +project slug/);
    expect(help).toMatch(/--path \/PATH +folder path \(repeatable\)/);
    expect(help).toMatch(/--limit VALUE +how many/);
    expect(help).toMatch(/--dry-run +write nothing/);
    expect(help).toContain('Examples:\n  keybox demo -p shop');
    expect(help.endsWith('\n')).toBe(true);
  });
});

describe('parseCommand', () => {
  it('parses long and short options, repeated options and booleans', () => {
    const { values } = parseCommand(demo, ['-p', 'shop', '--path', '/a', '--path=/b', '--dry-run']);
    expect(str(values, 'project')).toBe('shop');
    expect(strs(values, 'path')).toEqual(['/a', '/b']);
    expect(bool(values, 'dry-run')).toBe(true);
    expect(bool(values, 'limit')).toBe(false);
  });

  it('turns an unknown option into a usage error pointing at --help', () => {
    const error = usageFailure(demo, ['--bogus']);
    expect(error.message).toContain('--bogus');
    expect(error.hint).toBe('see keybox demo --help');
  });

  it('turns a string option without its value into a usage error', () => {
    usageFailure(demo, ['--project']);
  });

  it('refuses a positional argument without echoing it', () => {
    const error = usageFailure(demo, ['sk_live_canary77']);
    expect(`${error.message}${error.hint ?? ''}`).not.toContain('canary77');
  });

  it('prints help on stdout and exits 0 on --help', () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const exit = vi.spyOn(process, 'exit').mockImplementation((code?: string | number | null) => {
      throw new Error(`exit ${String(code)}`);
    });
    expect(() => parseCommand(demo, ['--project', 'x', '-h'])).toThrow('exit 0');
    expect(exit).toHaveBeenCalledWith(0);
    expect(written.join('')).toBe(formatHelp(demo));
  });
});

describe('int', () => {
  it('reads a non-negative integer option and leaves an absent one undefined', () => {
    expect(int({ n: '0' }, 'n')).toBe(0);
    expect(int({ n: '42' }, 'n')).toBe(42);
    expect(int({}, 'n')).toBeUndefined();
  });

  it.each(['-1', '1.5', 'abc', '', '1e3', ' 1'])('refuses %j with a usage error', (value) => {
    expect(() => int({ n: value }, 'n')).toThrow(expect.objectContaining({ code: 'USAGE', exitCode: 2 }));
  });
});
