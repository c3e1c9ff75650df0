import { AppError } from '../app-error.js';

/* What the server says about a postgres:// URL: without loading the PostgreSQL client, and never its password. */

/**
 * `host:port/database` of a postgres:// URL, for logs and errors: never the user's password (nor the user name).
 * Throws INVALID_INPUT, without echoing the URL, when it is not one.
 */
export function describePostgresUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AppError('INVALID_INPUT', '--db is not a valid postgres:// URL');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new AppError('INVALID_INPUT', '--db must be a postgres:// URL');
  }
  const host = parsed.hostname === '' ? (parsed.searchParams.get('host') ?? 'localhost') : parsed.hostname;
  return `${host}:${parsed.port === '' ? '5432' : parsed.port}${parsed.pathname === '' ? '/' : parsed.pathname}`;
}

/** Whether the URL carries a password (which then sits in the process's argv or environment). */
export function postgresUrlHasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}
