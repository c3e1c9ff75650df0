/**
 * The stable error codes of the Keybox API and CLI. Scripts match on these, so the list is append-only:
 * never rename or reuse a code.
 */
export const API_ERROR_CODES = [
  'INVALID_INPUT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'VALUE_DESTROYED',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED',
  'INTERNAL',
  'UNAVAILABLE',
] as const;

export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** Codes a client raises itself, when there is no usable answer from the server. */
export const CLIENT_ERROR_CODES = [
  'UNREACHABLE',
  'TIMEOUT',
  'BAD_RESPONSE',
  'CONFIG_INVALID',
  'CREDENTIALS_MISSING',
  /** `secrets.require(name)`: no source supplies a declared item. */
  'SECRET_MISSING',
  /** `secrets.get(name)` before `load()` finished, for an item only Keybox or the legacy store can supply. */
  'NOT_LOADED',
] as const;

export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

export type ErrorCode = ApiErrorCode | ClientErrorCode;

/**
 * HTTP status for every API error code. Typed as a full record so that adding a code without a status does not
 * compile.
 */
export const API_ERROR_STATUS: { readonly [C in ApiErrorCode]: number } = {
  INVALID_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  VALUE_DESTROYED: 410,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

export function isApiErrorCode(value: unknown): value is ApiErrorCode {
  return typeof value === 'string' && (API_ERROR_CODES as readonly string[]).includes(value);
}
