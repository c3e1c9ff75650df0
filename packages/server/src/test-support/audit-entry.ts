import type { AuditEntry } from '../core/audit/audit-log.js';

/** An audit entry as a request would record it, told apart by its action (and request id). */
export function testAuditEntry(action: string): AuditEntry {
  return {
    actor: 'token:test',
    actorType: 'token',
    sourceIp: '127.0.0.1',
    userAgent: 'test',
    action,
    resource: 'r',
    outcome: 'success',
    requestId: `req-${action}`,
    details: { n: action },
  };
}
