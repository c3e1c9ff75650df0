import { usageError } from './errors.js';

export interface Subcommand {
  summary: string;
  run(argv: string[]): Promise<number | void>;
}

/** Runs `keybox <group> <sub> ...`, with help listing the subcommands. */
export async function dispatch(
  group: string,
  subcommands: Record<string, Subcommand>,
  argv: string[],
): Promise<number | void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const width = Math.max(...Object.keys(subcommands).map((s) => s.length)) + 2;
    process.stdout.write(
      [
        `Usage: keybox ${group} <command> [options]`,
        '',
        'Commands:',
        ...Object.entries(subcommands).map(([s, c]) => `  ${s.padEnd(width)}${c.summary}`),
        '',
        `Run \`keybox ${group} <command> --help\` for its options.`,
        '',
      ].join('\n'),
    );
    return name === undefined ? 2 : 0;
  }
  const sub = subcommands[name];
  if (sub === undefined)
    throw usageError(`unknown command "keybox ${group} ${name.slice(0, 40)}"`, `see keybox ${group} --help`);
  return sub.run(rest);
}
