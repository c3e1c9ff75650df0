import type { Logger } from 'pino';
import type { NamesList } from '../core/audit/audit-names.js';
import type { Principal } from '../core/auth/principal.js';

/** What the audit middleware records for a request; routes fill in action, resource and details. */
export interface AuditContext {
  action: string;
  resource: string;
  details: Record<string, unknown>;
  /** A successful answer's details as JSON text, when the route has them so (used instead of `details`). */
  detailsJson?: string;
  /** Name lists `detailsJson` refers to by hash (core/audit/audit-names.ts). */
  namesLists?: readonly NamesList[];
  /** Set once a write's own transaction committed its entry. */
  recorded?: boolean;
  /** For unauthenticated routes (logins): who the request claims to be. */
  actor?: { name: string; type: 'user' | 'identity' };
}

/** What middleware puts on each request's context. */
export interface HttpEnv {
  Variables: {
    requestId: string;
    log: Logger;
    principal: Principal;
    audit: AuditContext;
    clientIp: string;
    userAgent: string;
    /** Set when the web UI's session cookie (not an Authorization header) authenticated the request. */
    sessionMode: 'login' | 'token' | undefined;
  };
}
