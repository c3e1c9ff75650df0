import { describe, expect, it } from 'vitest';
import { createSeededRandom } from '../../test-support/seeded-random.js';
import { canonical, type AuditFields } from './audit-chain.js';

/*
 * Every mac in every existing audit log was computed over JSON.stringify of the eleven fields: the canonical form
 * must stay exactly that text, whatever shortcut builds it.
 */

function entry(details: string, seq = 7): AuditFields {
  return {
    seq,
    time: '2026-11-23T18:00:00.000Z',
    actor: 'identity:ci "quoted"',
    actorType: 'identity',
    sourceIp: '::ffff:127.0.0.1',
    userAgent: 'keybox/0.1 \u2028 ü',
    action: 'secrets.read',
    resource: 'shop/prod:/backend',
    outcome: 'success',
    requestId: 'req-1234',
    details,
  };
}

const reference = (e: AuditFields) =>
  JSON.stringify([
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

describe('the canonical form', () => {
  it('is JSON.stringify of the eleven fields, for short and long details alike', () => {
    const random = createSeededRandom(42);
    const alphabet = ['a', '"', '\\', '\n', '\u0001', 'é', '\u{1F511}', '\ud800', '{', ' '];
    for (const length of [0, 10, 1023, 1024, 5000]) {
      for (let round = 0; round < 5; round++) {
        const details = Array.from({ length }, () => random.pick(alphabet)).join('');
        const e = entry(details, round);
        expect(canonical(e)).toBe(reference(e));
        // Again, from what it kept for a long one.
        expect(canonical(e)).toBe(reference(e));
      }
    }
  });

  it('keeps the long details of a bulk read apart from each other', () => {
    const names = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => [`SECRET_${i}`, n]));
    const a = entry(`{"folders":[{"path":"/a","revision":1,"secrets":${names(200)}}]}`);
    const b = entry(`{"folders":[{"path":"/a","revision":2,"secrets":${names(201)}}]}`);
    expect(canonical(a)).toBe(reference(a));
    expect(canonical(b)).toBe(reference(b));
    expect(canonical(a)).not.toBe(canonical(b));
  });
});
