import { checkSecretName, stripOneNewline } from '@keybox/sdk';
import { CliError, usageError } from '../errors.js';

// Builtins via process.getBuiltinModule, not `import`: the CLI is one bundle, and an ESM import of a builtin there
// costs every command, `keybox run` included, ~2 ms each (see config/project-file.ts).
const { readFileSync } = process.getBuiltinModule('node:fs');

export interface Assignment {
  name: string;
  value: string;
}

/**
 * Parses `KEY=VALUE`, `KEY=@file` and `KEY=-` (stdin). Values read from a file or stdin lose one trailing newline,
 * as `NAME_FILE` readers do, so `echo secret > file` stores `secret`. Error messages point at the argument by
 * position and never echo it: a value typed without its `KEY=` would otherwise land in stderr.
 */
export async function parseAssignments(
  args: readonly string[],
  readStdin: () => Promise<string>,
): Promise<Assignment[]> {
  const result: Assignment[] = [];
  let stdinUsed = false;
  for (const [index, arg] of args.entries()) {
    const eq = arg.indexOf('=');
    if (eq <= 0) {
      throw usageError(
        `argument ${index + 1} is not KEY=VALUE`,
        'use KEY=VALUE, KEY=@file (read a file) or KEY=- (read stdin)',
      );
    }
    const name = arg.slice(0, eq);
    const check = checkSecretName(name);
    if (!check.ok) throw usageError(`argument ${index + 1}: the name before = is ${check.reason}`);
    const raw = arg.slice(eq + 1);
    let value: string;
    if (raw === '-') {
      if (stdinUsed) throw usageError('only one KEY=- can read stdin');
      stdinUsed = true;
      value = stripOneNewline(await readStdin());
    } else if (raw.startsWith('@')) {
      const path = raw.slice(1);
      try {
        value = stripOneNewline(readFileSync(path, 'utf8'));
      } catch (error) {
        // The path is not echoed either: a literal value that happens to start with @ would land in stderr.
        throw new CliError(
          'CONFIG_INVALID',
          `argument ${index + 1} (${name}=@…): cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
          { hint: 'KEY=@FILE reads a file; to store a value that starts with @, pass it on stdin with KEY=-' },
        );
      }
    } else {
      value = raw;
    }
    result.push({ name, value });
  }
  return result;
}

export async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
