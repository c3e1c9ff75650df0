import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../core/app-error.js';
import type { AuditEntry, AuditLog, Outcome } from '../core/audit/audit-log.js';
import type { TxAudit, TxAuditAs } from '../core/audit/tx-audit.js';
import { errorBody } from './error-handler.js';
import type { Principal } from '../core/auth/principal.js';
import type { AuditContext, HttpEnv } from './http-env.js';

function outcomeOf(status: number): Outcome {
  if (status < 400) return 'success';
  if (status === 403) return 'denied';
  if (status >= 500) return 'error';
  return 'failure';
}

/** Who asked, from where, and what the route named: everything an entry holds besides its outcome and details. */
export interface RequestFacts {
  principal: Principal | undefined;
  audit: AuditContext;
  clientIp: string;
  userAgent: string;
  requestId: string;
}

export function auditEntryOf(facts: RequestFacts, outcome: Outcome, details: Record<string, unknown>): AuditEntry {
  const { principal, audit } = facts;
  return {
    actor: principal?.actor ?? (audit.actor === undefined ? 'anonymous' : `${audit.actor.type}:${audit.actor.name}`),
    actorType: principal?.type ?? audit.actor?.type ?? 'anonymous',
    sourceIp: facts.clientIp,
    userAgent: facts.userAgent,
    action: audit.action,
    resource: audit.resource,
    outcome,
    requestId: facts.requestId,
    details,
    detailsJson: outcome === 'success' ? audit.detailsJson : undefined,
    namesLists: outcome === 'success' ? audit.namesLists : undefined,
  };
}

function entryFor(c: Context<HttpEnv>, outcome: Outcome, details: Record<string, unknown>): AuditEntry {
  const facts: RequestFacts = {
    principal: c.get('principal'),
    audit: c.get('audit'),
    clientIp: c.get('clientIp'),
    userAgent: c.get('userAgent'),
    requestId: c.get('requestId'),
  };
  return auditEntryOf(facts, outcome, details);
}

/** The answer when the audit entry cannot be stored: the log fails closed. */
export const AUDIT_FAILED_MESSAGE = 'the request could not be recorded in the audit log';

/**
 * Records every API request in the audit log: who, from where, what, outcome. A write appends its entry inside its
 * own transaction (see `txAudit`); everything else is appended here, after the handler, and the response waits for
 * the entry to be committed. If the entry cannot be stored, the client gets a 500 instead of the response: the log
 * fails closed.
 */
export function auditMiddleware(
  auditLog: Pick<AuditLog, 'append'>,
  /** The 500 body when the entry cannot be stored (the Vault API answers in its own format). */
  failureBody: (requestId: string) => unknown = (requestId) => errorBody('INTERNAL', AUDIT_FAILED_MESSAGE, requestId),
): MiddlewareHandler<HttpEnv> {
  return async (c, next) => {
    c.set('audit', { action: `${c.req.method} ${c.req.path}`, resource: c.req.path, details: {} });
    await next();
    const audit = c.get('audit');
    // A rate-limited refusal is not recorded: recording each would let anyone flood the log.
    if (c.error instanceof AppError && c.error.code === 'RATE_LIMITED') return;
    const status = c.res.status;
    // A successful write recorded itself in its own transaction (and published the entry once committed).
    if (audit.recorded === true && status < 300) return;
    const details = { ...audit.details };
    if (status >= 400) {
      const error = c.error instanceof AppError ? c.error : undefined;
      details['status'] = status;
      if (error !== undefined) {
        details['code'] = error.code;
        if (error.audit !== undefined) Object.assign(details, error.audit);
      }
    }
    try {
      await auditLog.append(entryFor(c, outcomeOf(status), details));
    } catch (error) {
      c.get('log').error({ err: error }, 'audit entry could not be stored; refusing the response');
      c.res = new Response(JSON.stringify(failureBody(c.get('requestId'))), {
        status: 500,
        headers: { 'content-type': 'application/json', 'x-request-id': c.get('requestId') },
      });
    }
  };
}

/** An audit hook for a service call: the entry joins the change's transaction and is streamed after the commit. */
export function txAudit(c: Context<HttpEnv>, auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>): TxAudit {
  return async (trx, details) => {
    const audit = c.get('audit');
    const records = await auditLog.appendIn(trx, [entryFor(c, 'success', { ...audit.details, ...details })]);
    return (durable) => {
      audit.recorded = true;
      // The caller awaits `durable` itself and fails if it fails.
      auditLog.publishedWhen(records, durable).catch(() => undefined);
    };
  };
}

/** `txAudit` for a change whose actor the service names (a login): the entry is recorded as theirs. */
export function txAuditAs(c: Context<HttpEnv>, auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>): TxAuditAs {
  const hook = txAudit(c, auditLog);
  return (actor) => (trx, details) => {
    c.get('audit').actor = actor;
    return hook(trx, details);
  };
}

/** Names the action and resource of the current request for the audit log. */
export function auditAs(c: Context<HttpEnv>, action: string, resource: string, details?: Record<string, unknown>) {
  const audit = c.get('audit');
  audit.action = action;
  audit.resource = resource;
  if (details !== undefined) Object.assign(audit.details, details);
}
