import { usageError } from './errors.js';

// Builtins come from process.getBuiltinModule: see config/project-file.ts.
const { parseArgs } = process.getBuiltinModule('node:util');

/*
 * Argument parsing on `node:util` parseArgs: Node's own, maintained parser, and free to load. A general CLI library
 * (commander: ~6 ms to import here) would take most of the time budget `keybox run` has over a bare fetch-and-exec.
 * This file adds what parseArgs lacks: help text from the same spec, and usage errors with exit code 2.
 */

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in help, e.g. `P` for `--project P`. */
  value?: string;
  description: string;
}

export interface CommandSpec {
  /** e.g. `keybox secrets set` */
  name: string;
  usage: string[];
  summary: string;
  options: Record<string, OptionSpec>;
  positionals?: boolean;
  details?: string[];
  examples?: string[];
}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Parsed {
  values: Values;
  positionals: string[];
}

const HELP: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

/** Parses `argv` for one command; prints help and exits 0 on `--help`. */
export function parseCommand(spec: CommandSpec, argv: string[]): Parsed {
  const options = { ...spec.options, ...HELP };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(options).map(([name, o]) => [
          name,
          {
            type: o.type,
            ...(o.short === undefined ? {} : { short: o.short }),
            ...(o.multiple === true ? { multiple: true } : {}),
          },
        ]),
      ),
      allowPositionals: spec.positionals === true,
      strict: true,
    });
  } catch (error) {
    // parseArgs names the option in its messages; an unexpected positional is not echoed (it may be a value).
    const message = (error as Error).message;
    throw usageError(
      message.startsWith('Unexpected argument')
        ? 'unexpected argument: this command takes no positional arguments'
        : message.replace(/\. To specify a positional.*$/s, ''),
      `see ${spec.name} --help`,
    );
  }
  if (parsed.values['help'] === true) {
    process.stdout.write(formatHelp(spec));
    process.exit(0);
  }
  return { values: parsed.values as Values, positionals: parsed.positionals };
}

export function formatHelp(spec: CommandSpec): string {
  const lines: string[] = [];
  spec.usage.forEach((u, i) => lines.push(`${i === 0 ? 'Usage: ' : '       '}${u}`));
  lines.push('', spec.summary);
  if (spec.details !== undefined) lines.push('', ...spec.details);
  const entries = Object.entries({ ...spec.options, ...HELP });
  if (entries.length > 0) {
    lines.push('', 'Options:');
    const left = entries.map(([name, o]) => {
      const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${name}`;
      const placeholder = o.value ?? 'VALUE';
      if (o.type !== 'string') return flag;
      return placeholder.startsWith('[') ? `${flag}${placeholder}` : `${flag} ${placeholder}`;
    });
    const width = Math.max(...left.map((l) => l.length)) + 2;
    entries.forEach(([, o], i) => {
      const more = o.multiple === true ? ' (repeatable)' : '';
      lines.push(`  ${(left[i] ?? '').padEnd(width)}${o.description}${more}`);
    });
  }
  if (spec.examples !== undefined && spec.examples.length > 0) {
    lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  }
  return `${lines.join('\n')}\n`;
}

export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function strs(values: Values, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function bool(values: Values, name: string): boolean {
  return values[name] === true;
}

/** A non-negative integer option, or undefined when absent. */
export function int(values: Values, name: string): number | undefined {
  const v = str(values, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw usageError(`--${name} needs a non-negative integer`);
  return Number(v);
}

/** The one positional argument a command takes, or a usage error naming what it wanted. */
export function onePositional(positionals: readonly string[], what: string): string {
  if (positionals.length !== 1) throw usageError(`give exactly one ${what}`);
  return positionals[0] as string;
}
