import { checkSecretName } from '@keybox/sdk';
import { CliError } from '../errors.js';

/**
 * Parses a dotenv file with the `dotenv` package's parser, rejecting names that are not valid secret names. The
 * package is imported here, when a file is parsed: the CLI is one bundle, and a top-level import would load it (and
 * node:crypto with it) for every command.
 */
export async function parseDotenv(text: string, file: string): Promise<{ name: string; value: string }[]> {
  const { parse } = await import('dotenv');
  const parsed = parse(text);
  const bad = Object.keys(parsed).filter((name) => !checkSecretName(name).ok);
  if (bad.length > 0) {
    // The names are not shown: a line of an unquoted multi-line value (a PEM body, say) parses as a "name".
    throw new CliError('INVALID_INPUT', `${file}: ${bad.length} line(s) do not start with a valid secret name`, {
      hint: 'names use letters, digits and _ and do not start with a digit; quote multi-line values',
    });
  }
  return Object.entries(parsed).map(([name, value]) => ({ name, value }));
}

/**
 * Quotes a value so the `dotenv` parser reads back exactly this string. dotenv has no escape for quotes, and
 * expands `\n` and `\r` only inside double quotes, so the quote style is chosen per value:
 * single quotes, then backticks (both literal, newlines included), then double quotes with `\n`/`\r` escapes.
 * A value no style can carry is an error rather than a silently different value.
 */
export function quoteDotenv(name: string, value: string): string {
  const endsWithBackslash = value.endsWith('\\');
  if (!value.includes('\r') && !endsWithBackslash) {
    if (!value.includes("'")) return `'${value}'`;
    if (!value.includes('`')) return `\`${value}\``;
  }
  if (!value.includes('"') && !/\\[nr]/.test(value) && !endsWithBackslash) {
    return `"${value.replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;
  }
  throw new CliError('INVALID_INPUT', `the value of ${name} cannot be written as dotenv without changing it`, {
    hint: 'it mixes quote characters that dotenv cannot escape; use --format json or --format shell',
  });
}

export function formatDotenv(entries: readonly (readonly [string, string])[]): string {
  return entries.map(([name, value]) => `${name}=${quoteDotenv(name, value)}\n`).join('');
}

/** POSIX single quotes: nothing inside is expanded, so `eval` can never run part of a value. */
export function formatShell(entries: readonly (readonly [string, string])[]): string {
  return entries.map(([name, value]) => `export ${name}='${value.replace(/'/g, `'\\''`)}'\n`).join('');
}
