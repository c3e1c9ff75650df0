import type { ApiErrorCode } from '@keybox/sdk';

/**
 * The server's one error class. `message` goes to the client as is, so it must never contain a secret value or
 * an internal detail; `details` carries machine-readable context (a current version on CONFLICT, say).
 */
export class AppError extends Error {
  override readonly name = 'AppError';
  readonly code: ApiErrorCode;
  readonly details: Record<string, unknown> | undefined;
  /** Context for the audit log only, never sent to the client (why a login was refused, say). */
  readonly audit: Record<string, unknown> | undefined;

  constructor(
    code: ApiErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options: { audit?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.code = code;
    this.details = details;
    this.audit = options.audit;
  }
}

export function notFound(message: string, details?: Record<string, unknown>): AppError {
  return new AppError('NOT_FOUND', message, details);
}

export function invalidInput(message: string, details?: Record<string, unknown>): AppError {
  return new AppError('INVALID_INPUT', message, details);
}

export function conflict(message: string, details?: Record<string, unknown>): AppError {
  return new AppError('CONFLICT', message, details);
}
