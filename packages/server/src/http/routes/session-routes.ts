import { Hono, type Context, type Input } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { AppError } from '../../core/app-error.js';
import type { RateLimiter } from '../../core/auth/rate-limiter.js';
import type { TokenService } from '../../core/auth/token-service.js';
import type { UserService } from '../../core/auth/user-service.js';
import type { AuditLog } from '../../core/audit/audit-log.js';
import { auditAs, txAudit, txAuditAs } from '../audit-middleware.js';
import type { HttpEnv } from '../http-env.js';
import { authenticateRequest, countAuthFailure } from '../request-auth.js';
import { parseBody } from '../validate.js';
import { limitLogin } from './auth-routes.js';

/*
 * Browser sessions for the web UI. The token lives in an HttpOnly, SameSite=Strict cookie, out of reach of the page's
 * scripts (unlike a token in localStorage, which any injected script can read and send away). A cookie is sent by
 * the browser on its own, so one is honoured only on requests that also carry the X-Keybox-CSRF header: a page of
 * another origin cannot add a custom header without a CORS preflight, which this server never grants. (SameSite
 * alone is not enough: 127.0.0.1:8210 and 127.0.0.1:3000 are the same site.) Fetch metadata, where the browser sends
 * it, must also say same-origin.
 */

export const SESSION_COOKIE = 'keybox_session';
export const CSRF_HEADER = 'x-keybox-csrf';

/** How the cookie's token was obtained: a login made it (ended with the session), or it was pasted (kept). */
type SessionMode = 'login' | 'token';
const MODE_PREFIX: Record<SessionMode, string> = { login: 'l.', token: 't.' };

export interface SessionCookie {
  mode: SessionMode;
  token: string;
}

/** The session cookie's token, or undefined when the request carries none. */
export function sessionCookieOf<P extends string, I extends Input>(
  c: Context<HttpEnv, P, I>,
): SessionCookie | undefined {
  const value = getCookie(c, SESSION_COOKIE);
  if (value === undefined || value === '') return undefined;
  if (value.startsWith(MODE_PREFIX.login)) return { mode: 'login', token: value.slice(2) };
  if (value.startsWith(MODE_PREFIX.token)) return { mode: 'token', token: value.slice(2) };
  return { mode: 'token', token: value };
}

/** Why a request may not use the session cookie (see the comment at the top), or undefined when it may. */
export function webUiRefusal<P extends string, I extends Input>(c: Context<HttpEnv, P, I>): AppError | undefined {
  if (c.req.header(CSRF_HEADER) !== '1') {
    return new AppError(
      'UNAUTHENTICATED',
      'a browser session is honoured only with the X-Keybox-CSRF header the web UI sends; other clients send Authorization: Bearer <token>',
      undefined,
      { audit: { reason: 'session cookie without the CSRF header' } },
    );
  }
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') {
    return new AppError('UNAUTHENTICATED', 'a browser session is honoured only from the web UI itself', undefined, {
      audit: { reason: `session cookie from a ${site} page` },
    });
  }
  return undefined;
}

/**
 * Throws unless the request comes from the web UI's own pages; a refusal counts as a failed authentication (a page
 * elsewhere firing requests at the server with the admin's cookie is limited like any caller with a bad token).
 */
export function assertFromWebUi<P extends string, I extends Input>(
  c: Context<HttpEnv, P, I>,
  authFailuresPerIp: RateLimiter,
): void {
  const refusal = webUiRefusal(c);
  if (refusal === undefined) return;
  countAuthFailure(c, authFailuresPerIp);
  throw refusal;
}

/**
 * Whether the browser reached us over HTTPS: directly, or through a TLS proxy that says so. Trusting the proxy's
 * header can only add Secure to the cookie (a cookie the browser then sends over HTTPS only), never take it away.
 */
function isHttps(c: Context<HttpEnv>): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

function setSession(c: Context<HttpEnv>, mode: SessionMode, token: string) {
  // No Max-Age: the cookie goes when the browser closes; the token's own expiry ends it sooner on the server.
  setCookie(c, SESSION_COOKIE, MODE_PREFIX[mode] + token, {
    httpOnly: true,
    sameSite: 'Strict',
    path: '/',
    secure: isHttps(c),
  });
}

export interface SessionRouteDeps {
  users: Pick<UserService, 'login'>;
  tokens: Pick<TokenService, 'authenticate' | 'get' | 'revoke'>;
  limits: { loginPerIp: RateLimiter; loginPerName: RateLimiter; authFailuresPerIp: RateLimiter };
  auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>;
}

const startSession = z.union([
  z.object({ name: z.string().max(64), password: z.string().max(1024) }).strict(),
  z.object({ token: z.string().min(1).max(512) }).strict(),
]);

/** `/api/v1/auth/session`: start (POST, no token needed) and end (DELETE) the web UI's session. */
export function sessionRoutes(deps: SessionRouteDeps) {
  const app = new Hono<HttpEnv>();

  app.post('/session', async (c) => {
    assertFromWebUi(c, deps.limits.authFailuresPerIp);
    const body = await parseBody(c, startSession);
    c.header('cache-control', 'no-store');
    if ('name' in body) {
      auditAs(c, 'auth.session', `user:${body.name.slice(0, 64)}`, { method: 'password' });
      limitLogin(c, deps.limits, `user:${body.name}`);
      const result = await deps.users.login(body.name, body.password, txAuditAs(c, deps.auditLog));
      setSession(c, 'login', result.token);
      return c.json({ expiresAt: result.expiresAt, principal: { type: 'user', name: result.user } });
    }
    auditAs(c, 'auth.session', 'token', { method: 'token' });
    const checked = await authenticateRequest(c, body.token, {
      tokens: deps.tokens,
      authFailuresPerIp: deps.limits.authFailuresPerIp,
    });
    if (checked !== true) {
      throw new AppError('UNAUTHENTICATED', 'the token is not valid', undefined, {
        audit: { reason: checked?.ok === false ? checked.reason : 'unknown' },
      });
    }
    const principal = c.get('principal');
    c.get('audit').resource = `token:${principal.tokenId}`;
    setSession(c, 'token', body.token);
    const token = await deps.tokens.get(principal.tokenId);
    return c.json({ expiresAt: token.expiresAt, principal: { type: principal.type, name: principal.name } });
  });

  app.delete('/session', async (c) => {
    const principal = c.get('principal');
    auditAs(c, 'auth.session-end', `token:${principal.tokenId}`);
    deleteCookie(c, SESSION_COOKIE, { path: '/', secure: isHttps(c), httpOnly: true, sameSite: 'Strict' });
    c.header('cache-control', 'no-store');
    // A session a login started ends here; a pasted token (the CLI's, a deploy token) is only forgotten.
    if (sessionCookieOf(c)?.mode === 'login') {
      await deps.tokens.revoke(principal.tokenId, txAudit(c, deps.auditLog));
      return c.json({ revoked: true });
    }
    return c.json({ revoked: false });
  });

  return app;
}
