import type { Context } from 'hono';
import { AppError } from '../core/app-error.js';
import { decide, type AccessRequest } from '../core/policy/policy-engine.js';
import type { Principal } from '../core/auth/principal.js';
import type { HttpEnv } from './http-env.js';

function describe(request: AccessRequest): string {
  if (request.project === undefined) return 'this (system-wide)';
  if (request.env === undefined) return `project ${request.project}`;
  return `${request.project}/${request.env}${request.path === undefined ? '' : ` ${request.path}`}`;
}

/** Throws FORBIDDEN unless the caller's policies allow the request. Checked before anything is looked up. */
export function authorize(c: Context<HttpEnv>, request: AccessRequest): void {
  authorizePrincipal(c.get('principal'), request);
}

/** `authorize` for a caller already in hand (the direct bulk read has no Hono context). */
export function authorizePrincipal(principal: Principal, request: AccessRequest): void {
  const decision = decide(principal.policies, request);
  if (!decision.allowed) {
    throw new AppError(
      'FORBIDDEN',
      `${principal.actor} may not ${request.capability} ${describe(request)}`,
      { capability: request.capability },
      { audit: { reason: decision.reason, capability: request.capability } },
    );
  }
}

export function allows(c: Context<HttpEnv>, request: AccessRequest): boolean {
  return decide(c.get('principal').policies, request).allowed;
}
