import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { AuditLogTable } from '../store/database.js';

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

/** A stored `audit_log` row as the fields its mac covers (and back: `toRow`). */
export function fromRow(row: Omit<AuditLogTable, 'mac'>): AuditFields {
  return {
    seq: row.seq,
    time: row.time,
    actor: row.actor,
    actorType: row.actor_type,
    sourceIp: row.source_ip,
    userAgent: row.user_agent,
    action: row.action,
    resource: row.resource,
    outcome: row.outcome,
    requestId: row.request_id,
    details: row.details,
  };
}

export function toRow(fields: AuditFields, mac: string): AuditLogTable {
  return {
    seq: fields.seq,
    time: fields.time,
    actor: fields.actor,
    actor_type: fields.actorType,
    source_ip: fields.sourceIp,
    user_agent: fields.userAgent,
    action: fields.action,
    resource: fields.resource,
    outcome: fields.outcome,
    request_id: fields.requestId,
    details: fields.details,
    mac,
  };
}

/**
 * An entry's fields after its sequence number and time, in the order its canonical form lists them: what the audit
 * writer thread chains (store/sqlite-audit-writer.ts), and the order of the row's columns after `seq` and `time`.
 */
export function chainedFields(e: Omit<AuditFields, 'seq' | 'time'>): string[] {
  return [e.actor, e.actorType, e.sourceIp, e.userAgent, e.action, e.resource, e.outcome, e.requestId, e.details];
}

export function canonical(e: AuditFields): string {
  return JSON.stringify([e.seq, e.time, ...chainedFields(e)]);
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
