import type { ApiErrorCode } from '@keybox/sdk';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { reportedError } from '../error-handler.js';
import type { HttpEnv } from '../http-env.js';

/** Where the Vault-compatible API lives: errors there are answered the way Vault answers them. */
export const VAULT_PREFIX = '/v1/';

export function isVaultPath(path: string): boolean {
  return path.startsWith(VAULT_PREFIX);
}

/**
 * A Vault-specific refusal with no Keybox error code of its own (415 for a PATCH without a merge-patch body, 405 for
 * an operation a path does not have). The message is sent as is.
 */
export class VaultHttpError extends Error {
  override readonly name = 'VaultHttpError';
  readonly errors: string[];
  constructor(
    readonly status: 400 | 405 | 415,
    errors: string | string[],
  ) {
    const list = typeof errors === 'string' ? [errors] : errors;
    super(list.join('; '));
    this.errors = list;
  }
}

/*
 * Keybox codes as Vault statuses. Vault answers a failed check-and-set, a bad request and a bad login with 400, and
 * every refusal, a bad token included, with 403 "permission denied" (clients key off the status). A conflict is a
 * 400 (a stale cas gets Vault's own words: vault-kv-routes.ts).
 */
const VAULT_STATUS: { readonly [C in ApiErrorCode]: ContentfulStatusCode } = {
  INVALID_INPUT: 400,
  UNAUTHENTICATED: 403,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 400,
  VALUE_DESTROYED: 404,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

/** The first line a Vault client expects for some codes; Keybox's own message (never a value) follows it. */
const VAULT_FIRST_ERROR: Partial<Record<ApiErrorCode, string>> = {
  UNAUTHENTICATED: 'permission denied',
  FORBIDDEN: 'permission denied',
};

/** Vault's error body, `{"errors":[...]}`, with the request id in `x-request-id` as on every response. */
export function vaultErrorBody(code: ApiErrorCode, message: string): { errors: string[] } {
  const first = VAULT_FIRST_ERROR[code];
  return { errors: first === undefined ? [message] : [first, message] };
}

export function vaultErrorResponse(error: Error, c: Context<HttpEnv>) {
  c.header('cache-control', 'no-store');
  if (error instanceof VaultHttpError) return c.json({ errors: error.errors }, error.status);
  const reported = reportedError(error, c);
  return c.json(vaultErrorBody(reported.code, reported.message), VAULT_STATUS[reported.code]);
}
