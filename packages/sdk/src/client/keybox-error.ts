import type { ErrorCode } from '../contract/error-codes.js';

/**
 * The one error type clients see: a stable `code` from the catalogue, a message safe to print (never a secret
 * value), the HTTP status when the server answered, and the server's request id for support.
 */
export class KeyboxError extends Error {
  override readonly name = 'KeyboxError';
  readonly code: ErrorCode;
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      status?: number;
      requestId?: string;
      details?: Record<string, unknown>;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.requestId = options.requestId;
    this.details = options.details;
  }
}

export function isKeyboxError(value: unknown): value is KeyboxError {
  return value instanceof KeyboxError;
}
