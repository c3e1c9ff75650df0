import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';

/*
 * The audit log is an HMAC chain: each entry's mac = HMAC(audit key, previous mac + "\n" + the entry's canonical
 * form, its sequence number included). The audit key is a data key wrapped by the root key, so whoever can write the
 * database but does not hold the root key cannot recompute the chain after editing, deleting, reordering or
 * replacing entries; a cut-off tail is caught by the chain head kept outside the database (audit.head).
 */

export interface AuditFields {
  seq: number;
  time: string;
  actor: string;
  actorType: string;
  sourceIp: string;
  userAgent: string;
  action: string;
  resource: string;
  outcome: string;
  requestId: string;
  /** Stored JSON text, hashed exactly as stored. */
  details: string;
}

export function canonical(e: AuditFields): string {
  return JSON.stringify([
    e.seq,
    e.time,
    e.actor,
    e.actorType,
    e.sourceIp,
    e.userAgent,
    e.action,
    e.resource,
    e.outcome,
    e.requestId,
    e.details,
  ]);
}

export function genesisMac(key: KeyObject): string {
  return createHmac('sha256', key).update('keybox/audit/genesis/v1').digest('hex');
}

export function chainMac(key: KeyObject, previousMac: string, entry: AuditFields): string {
  return createHmac('sha256', key)
    .update(`${previousMac}\n${canonical(entry)}`)
    .digest('hex');
}

export function sameMac(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
