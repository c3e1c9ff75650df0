import type { ErrorCode } from '@keybox/sdk';

/** Exit codes. `run` uses 125-127 for its own failures (as `docker run` does) and the child's status otherwise. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  runFailed: 125,
  cannotExecute: 126,
  notFound: 127,
} as const;

/**
 * An error the CLI reports as one line plus an optional hint. The message must never contain a secret value.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code: ErrorCode | 'USAGE';
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: ErrorCode | 'USAGE', message: string, options: { hint?: string; exitCode?: number } = {}) {
    super(message);
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? (code === 'USAGE' ? EXIT.usage : EXIT.error);
  }
}

export function usageError(message: string, hint?: string): CliError {
  return new CliError('USAGE', message, hint === undefined ? {} : { hint });
}
