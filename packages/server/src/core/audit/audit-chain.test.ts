import { createSecretKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chainMac, type AuditFields } from './audit-chain.js';

/*
 * Every mac in every existing audit log was computed this way: HMAC-SHA-256 over the previous mac, a newline and
 * JSON.stringify of the eleven fields. A change to the canonical form would make every stored chain fail to verify,
 * so the form is pinned by a mac computed once, by hand, outside this code (node:crypto over the JSON text).
 */
describe('the chain link', () => {
  it('is the mac it has always been', () => {
    const entry: AuditFields = {
      seq: 7,
      time: '2026-11-23T18:00:00.000Z',
      actor: 'identity:ci "quoted"',
      actorType: 'identity',
      sourceIp: '::ffff:127.0.0.1',
      userAgent: 'keybox/0.1 \u2028 ü',
      action: 'secrets.read',
      resource: 'shop/prod:/backend',
      outcome: 'success',
      requestId: 'req-1234',
      details: '{"folders":[{"path":"/backend","revision":3,"secrets":{"sha256":"abc"}}]}',
    };
    const key = createSecretKey(Buffer.alloc(32, 7));
    expect(chainMac(key, '0'.repeat(64), entry)).toBe(
      '634a77b0acfe6374810d2e42fdf6e01ad1b2152c6dd00f3141f4b8f45690fb77',
    );
  });
});
