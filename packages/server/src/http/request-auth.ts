import type { Context, Input } from 'hono';
import { AppError } from '../core/app-error.js';
import type { RateLimiter } from '../core/auth/rate-limiter.js';
import type { AuthResult, TokenService } from '../core/auth/token-service.js';
import { checkedToken } from './direct-bulk-read.js';
import type { HttpEnv } from './http-env.js';

/**
 * Checks a request's token (both APIs): a valid one sets the principal and answers true. A missing or refused one is
 * counted against the client address, and a caller over the limit gets RATE_LIMITED (not audited: recording each
 * would let anyone flood the log); otherwise the check's result is returned for the caller to refuse in its format.
 */
export async function authenticateRequest<P extends string, I extends Input>(
  c: Context<HttpEnv, P, I>,
  token: string | undefined,
  deps: { tokens: Pick<TokenService, 'authenticate'>; authFailuresPerIp: RateLimiter },
): Promise<true | AuthResult | undefined> {
  // The direct listener may have checked this very token already (a use-limited token must count once).
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  const result =
    token === undefined
      ? undefined
      : await (checkedToken(incoming, token) ?? deps.tokens.authenticate(token, c.get('clientIp')));
  if (result?.ok === true) {
    c.set('principal', result.principal);
    return true;
  }
  countAuthFailure(c, deps.authFailuresPerIp);
  return result;
}

/** Counts a refused authentication against the client address; over the limit, RATE_LIMITED (not audited). */
export function countAuthFailure<P extends string, I extends Input>(
  c: Context<HttpEnv, P, I>,
  authFailuresPerIp: RateLimiter,
): void {
  const taken = authFailuresPerIp.take(c.get('clientIp'));
  if (!taken.ok) {
    c.header('retry-after', String(taken.retryAfter));
    throw new AppError('RATE_LIMITED', `too many failed authentications; retry in ${taken.retryAfter} s`);
  }
}
