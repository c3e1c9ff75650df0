import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditFilter, AuditListEntry } from '../../core/audit/audit-query.js';
import type { VerifyResult } from '../../core/audit/audit-verify.js';
import type { AuditHead } from '../../core/audit/audit-log.js';
import { auditAs } from '../audit-middleware.js';
import { authorize } from '../authorize.js';
import type { HttpEnv } from '../http-env.js';
import { intParam, parseQuery } from '../validate.js';

export interface AuditRouteDeps {
  listAudit(filter: AuditFilter): Promise<AuditListEntry[]>;
  verifyAudit(expect?: AuditHead): Promise<VerifyResult>;
}

const time = z.string().refine((t) => !Number.isNaN(Date.parse(t)), 'an ISO-8601 time');
const listQuery = z.object({
  actor: z.string().max(200).optional(),
  action: z.string().max(100).optional(),
  path: z.string().max(512).optional(),
  outcome: z.enum(['success', 'denied', 'failure', 'error']).optional(),
  since: time.optional(),
  until: time.optional(),
  before: intParam.optional(),
  limit: intParam.optional(),
});
const verifyQuery = z.object({
  expectSeq: intParam.optional(),
  expectMac: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});

/** `/api/v1/audit`: reading and verifying the log is itself audited, and needs admin. */
export function auditRoutes(deps: AuditRouteDeps) {
  const app = new Hono<HttpEnv>();
  app.get('/', async (c) => {
    auditAs(c, 'audit.list', 'audit');
    authorize(c, { capability: 'admin' });
    const q = parseQuery(c, listQuery);
    const normalise = (t: string | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
    return c.json({ entries: await deps.listAudit({ ...q, since: normalise(q.since), until: normalise(q.until) }) });
  });
  app.get('/verify', async (c) => {
    auditAs(c, 'audit.verify', 'audit');
    authorize(c, { capability: 'admin' });
    const q = parseQuery(c, verifyQuery);
    const expect =
      q.expectSeq !== undefined && q.expectMac !== undefined ? { seq: q.expectSeq, mac: q.expectMac } : undefined;
    return c.json(await deps.verifyAudit(expect));
  });
  return app;
}
