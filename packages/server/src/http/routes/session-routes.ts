import { randomBytes } from 'node:crypto';
import { Hono, type Context, type Input } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { AppError } from '../../core/app-error.js';
import type { RateLimiter } from '../../core/auth/rate-limiter.js';
import type { TokenService } from '../../core/auth/token-service.js';
import { SESSION_TTL_SECONDS, type UserService } from '../../core/auth/user-service.js';
import type { AuditLog } from '../../core/audit/audit-log.js';
import { auditAs, txAudit, txAuditAs } from '../audit-middleware.js';
import type { HttpEnv } from '../http-env.js';
import { authenticateRequest, countAuthFailure } from '../request-auth.js';
import { parseBody } from '../validate.js';
import { limitLogin } from './auth-routes.js';

/*
 * Browser sessions for the web UI. The session token is split in two, and neither half alone is worth anything:
 *
 * - the cookie (HttpOnly, SameSite=Strict) holds the token XOR a random mask: out of reach of the page's scripts;
 * - the mask is answered to the page once, which keeps it in localStorage and sends it in the X-Keybox-Session
 *   header: out of reach of every other origin.
 *
 * Why both: a browser sends a host's cookies to every port of that host (RFC 6265 §8.5), so another service on the
 * same host name (the app on localhost:3000 next to Keybox on localhost:8210) receives the cookie, and could replay
 * it from a script of its own; it never sees the mask. A script injected into the UI can read the mask, never the
 * cookie. A page of another origin cannot send the header without a CORS preflight, which this server never grants
 * (SameSite is no defence there: 127.0.0.1:8210 and 127.0.0.1:3000 are the same site), and where the browser sends
 * fetch metadata it must also say same-origin. Starting a session needs the X-Keybox-CSRF header for the same reason.
 */

export const SESSION_COOKIE = 'keybox_session';
export const CSRF_HEADER = 'x-keybox-csrf';
export const SESSION_KEY_HEADER = 'x-keybox-session';

/** How the cookie's token was obtained: a login made it (ended with the session), or it was pasted (kept). */
export type SessionMode = 'login' | 'token';
const MODE_PREFIX: Record<SessionMode, string> = { login: 'l.', token: 't.' };

export interface SessionCookie {
  mode: SessionMode;
  /** The token XOR the page's mask. */
  masked: Buffer;
}

/** Every `keybox_session` value in the Cookie header (more than one: another site on this host set one too). */
function sessionCookieValues<P extends string, I extends Input>(c: Context<HttpEnv, P, I>): string[] {
  const header = c.req.header('cookie');
  if (header === undefined) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) values.push(part.slice(eq + 1).trim());
  }
  return values;
}

/** The session cookie, 'several' when more than one came, or undefined when the request carries none. */
export function sessionCookieOf<P extends string, I extends Input>(
  c: Context<HttpEnv, P, I>,
): SessionCookie | 'several' | undefined {
  const values = sessionCookieValues(c).filter((v) => v !== '');
  if (values.length === 0) return undefined;
  if (values.length > 1) return 'several';
  const value = values[0] as string;
  const mode: SessionMode = value.startsWith(MODE_PREFIX.login) ? 'login' : 'token';
  return { mode, masked: Buffer.from(value.slice(2), 'base64url') };
}

/** Refuses, counted as a failed authentication (a page elsewhere firing requests is limited like a bad token). */
function refuse<P extends string, I extends Input>(
  c: Context<HttpEnv, P, I>,
  authFailuresPerIp: RateLimiter,
  message: string,
  reason: string,
): never {
  countAuthFailure(c, authFailuresPerIp);
  throw new AppError('UNAUTHENTICATED', message, undefined, { audit: { reason } });
}

function assertSameOrigin<P extends string, I extends Input>(c: Context<HttpEnv, P, I>, limiter: RateLimiter) {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') {
    refuse(c, limiter, 'a browser session is honoured only from the web UI itself', `session from a ${site} page`);
  }
}

/**
 * The token a request's session cookie stands for, put together with the mask in its X-Keybox-Session header; throws
 * (counted as a failed authentication) unless the request comes from the web UI's own page.
 */
export function sessionToken<P extends string, I extends Input>(
  c: Context<HttpEnv, P, I>,
  session: SessionCookie | 'several',
  authFailuresPerIp: RateLimiter,
): string {
  if (session === 'several') {
    clearSession(c);
    refuse(
      c,
      authFailuresPerIp,
      'the browser sent several keybox_session cookies (another site on this host set one): sign in again',
      'several session cookies',
    );
  }
  const key = c.req.header(SESSION_KEY_HEADER);
  if (key === undefined) {
    refuse(
      c,
      authFailuresPerIp,
      'a browser session is honoured only with the X-Keybox-Session header the web UI sends; other clients send Authorization: Bearer <token>',
      'session cookie without its key',
    );
  }
  assertSameOrigin(c, authFailuresPerIp);
  const mask = Buffer.from(key, 'base64url');
  if (mask.length === 0 || mask.length !== session.masked.length) {
    refuse(c, authFailuresPerIp, 'the session has ended: sign in again', 'session key does not fit the cookie');
  }
  return xor(session.masked, mask).toString('utf8');
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
}

/**
 * Whether the browser reached us over HTTPS: directly, or through a TLS proxy that says so. Trusting the proxy's
 * header can only add Secure to the cookie (a cookie the browser then sends over HTTPS only), never take it away.
 */
function isHttps<P extends string, I extends Input>(c: Context<HttpEnv, P, I>): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

const COOKIE_OPTIONS = { httpOnly: true, sameSite: 'Strict', path: '/' } as const;

/** Starts a session for `token`: the masked token in the cookie; the mask is returned for the page to keep. */
function startSession(c: Context<HttpEnv>, mode: SessionMode, token: string): string {
  const bytes = Buffer.from(token, 'utf8');
  const mask = randomBytes(bytes.length);
  // At most a login session's life, even for a token that never expires: a browser that restores its session
  // would otherwise keep a pasted token's cookie for ever.
  setCookie(c, SESSION_COOKIE, MODE_PREFIX[mode] + xor(bytes, mask).toString('base64url'), {
    ...COOKIE_OPTIONS,
    secure: isHttps(c),
    maxAge: SESSION_TTL_SECONDS,
  });
  return mask.toString('base64url');
}

/** Asks the browser to drop the session cookie. */
export function clearSession<P extends string, I extends Input>(c: Context<HttpEnv, P, I>): void {
  deleteCookie(c, SESSION_COOKIE, { ...COOKIE_OPTIONS, secure: isHttps(c) });
}

export interface SessionRouteDeps {
  users: Pick<UserService, 'login'>;
  tokens: Pick<TokenService, 'authenticate' | 'get' | 'revoke'>;
  limits: { loginPerIp: RateLimiter; loginPerName: RateLimiter; authFailuresPerIp: RateLimiter };
  auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>;
}

const startBody = z.union([
  z.object({ name: z.string().max(64), password: z.string().max(1024) }).strict(),
  z.object({ token: z.string().min(1).max(512) }).strict(),
]);

/** `/api/v1/auth/session`: start (POST, no token needed) and end (DELETE) the web UI's session. */
export function sessionRoutes(deps: SessionRouteDeps) {
  const app = new Hono<HttpEnv>();

  app.post('/session', async (c) => {
    if (c.req.header(CSRF_HEADER) !== '1') {
      refuse(
        c,
        deps.limits.authFailuresPerIp,
        'a browser session is started only by the web UI (the X-Keybox-CSRF header); other clients use /auth/login or /auth/user-login',
        'session start without the CSRF header',
      );
    }
    assertSameOrigin(c, deps.limits.authFailuresPerIp);
    const body = await parseBody(c, startBody);
    c.header('cache-control', 'no-store');
    if ('name' in body) {
      auditAs(c, 'auth.session', `user:${body.name.slice(0, 64)}`, { method: 'password' });
      limitLogin(c, deps.limits, `user:${body.name}`);
      const result = await deps.users.login(body.name, body.password, txAuditAs(c, deps.auditLog));
      const sessionKey = startSession(c, 'login', result.token);
      return c.json({ sessionKey, expiresAt: result.expiresAt, principal: { type: 'user', name: result.user } });
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
    const sessionKey = startSession(c, 'token', body.token);
    const token = await deps.tokens.get(principal.tokenId);
    return c.json({
      sessionKey,
      expiresAt: token.expiresAt,
      principal: { type: principal.type, name: principal.name },
    });
  });

  app.delete('/session', async (c) => {
    const principal = c.get('principal');
    auditAs(c, 'auth.session-end', `token:${principal.tokenId}`);
    clearSession(c);
    c.header('cache-control', 'no-store');
    // A session a login started ends here; a pasted token (the CLI's, a deploy token) is only forgotten. Only the
    // token the cookie stood for: a request authenticated by an Authorization header revokes nothing here.
    if (c.get('sessionMode') === 'login') {
      await deps.tokens.revoke(principal.tokenId, txAudit(c, deps.auditLog));
      return c.json({ revoked: true });
    }
    return c.json({ revoked: false });
  });

  return app;
}
