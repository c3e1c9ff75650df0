import { formatDotenv, formatShell } from './dotenv-format.js';

export const FORMATS = ['dotenv', 'json', 'yaml', 'shell'] as const;
export type Format = (typeof FORMATS)[number];

export function isFormat(text: string): text is Format {
  return (FORMATS as readonly string[]).includes(text);
}

/** A scope's secrets as the text of a file, sorted by name. Throws CliError when dotenv cannot carry a value. */
export async function formatScope(secrets: ReadonlyMap<string, string>, format: Format): Promise<string> {
  const entries = [...secrets.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  switch (format) {
    case 'dotenv':
      return formatDotenv(entries);
    case 'shell':
      return formatShell(entries);
    case 'json':
      return `${JSON.stringify(Object.fromEntries(entries), null, 2)}\n`;
    case 'yaml': {
      const { stringify } = await import('yaml');
      // Every value double-quoted: YAML 1.1 readers (PyYAML, Ansible) would read a bare no, on or 2001-12-14 as
      // a boolean or a date.
      return entries.length === 0
        ? '{}\n'
        : stringify(Object.fromEntries(entries), { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' });
    }
  }
}
