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

/**
 * The one place errors become responses: an AppError keeps its code and message; anything else is logged with its
 * stack and answered with a bare INTERNAL so no internal detail (or value) reaches the client.
 */
export function handleError(error: Error, c: Context<HttpEnv>) {
  if (error instanceof AppError) {
    if (error.code === 'INTERNAL') c.get('log').error({ err: error }, 'internal error');
    return sendError(c, error.code, error.message, error.details);
  }
  if (error instanceof HTTPException) {
    const code: ApiErrorCode = error.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INVALID_INPUT';
    return sendError(c, code, error.status === 413 ? 'request body too large' : 'bad request');
  }
  if (error instanceof DecryptError) {
    c.get('log').error({ err: { message: error.message } }, 'stored ciphertext failed to decrypt');
    return sendError(c, 'INTERNAL', 'stored data failed an integrity check; see the server log');
  }
  c.get('log').error({ err: error }, 'unhandled error');
  return sendError(c, 'INTERNAL', 'internal error');
}
