import { API_ERROR_STATUS, type ApiErrorBody, type ApiErrorCode } from '@keybox/sdk';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError } from '../core/app-error.js';
import { DecryptError } from '../core/crypto/envelope.js';
import type { HttpEnv } from './http-env.js';

export function errorBody(
  code: ApiErrorCode,
  message: string,
  requestId: string,
  details?: Record<string, unknown>,
): ApiErrorBody {
  return { error: { code, message, requestId, ...(details === undefined ? {} : { details }) } };
}

export function sendError(c: Context<HttpEnv>, code: ApiErrorCode, message: string, details?: Record<string, unknown>) {
  return c.json(errorBody(code, message, c.get('requestId'), details), API_ERROR_STATUS[code] as ContentfulStatusCode);
}

/** An error as the API reports it: a stable code, a message safe to show, and machine-readable details. */
export interface ReportedError {
  code: ApiErrorCode;
  message: string;
  details?: Record<string, unknown> | undefined;
}

/**
 * What an error becomes for the client: an AppError keeps its code and message; anything else is logged with its
 * stack and reported as a bare INTERNAL so no internal detail (or value) reaches the client.
 */
export function reportedError(error: Error, c: Context<HttpEnv>): ReportedError {
  if (error instanceof AppError) {
    if (error.code === 'INTERNAL') c.get('log').error({ err: error }, 'internal error');
    return { code: error.code, message: error.message, details: error.details };
  }
  if (error instanceof HTTPException) {
    return error.status === 413
      ? { code: 'PAYLOAD_TOO_LARGE', message: 'request body too large' }
      : { code: 'INVALID_INPUT', message: 'bad request' };
  }
  if (error instanceof DecryptError) {
    c.get('log').error({ err: { message: error.message } }, 'stored ciphertext failed to decrypt');
    return { code: 'INTERNAL', message: 'stored data failed an integrity check; see the server log' };
  }
  c.get('log').error({ err: error }, 'unhandled error');
  return { code: 'INTERNAL', message: 'internal error' };
}

/** The one place native API errors become responses (the Vault-compatible API has vault/vault-errors.ts). */
export function handleError(error: Error, c: Context<HttpEnv>) {
  const reported = reportedError(error, c);
  return sendError(c, reported.code, reported.message, reported.details);
}
