import { describe, expect, it } from 'vitest';
import { createTestClock } from '../../test-support/test-app.js';
import { createRateLimiter } from './rate-limiter.js';

function drain(limiter: ReturnType<typeof createRateLimiter>, key: string, n: number) {
  return Array.from({ length: n }, () => limiter.take(key).ok);
}

describe('createRateLimiter', () => {
  it('allows a burst of its capacity, then refuses with the seconds until one more attempt is allowed', () => {
    const clock = createTestClock();
    const limiter = createRateLimiter({ capacity: 10, perSeconds: 60, clock });
    expect(drain(limiter, 'a', 10)).toEqual(Array(10).fill(true));
    expect(limiter.take('a')).toEqual({ ok: false, retryAfter: 6 });
  });

  it('allows again once the retry time it gave has passed, and not before', () => {
    const clock = createTestClock();
    const limiter = createRateLimiter({ capacity: 10, perSeconds: 60, clock });
    drain(limiter, 'a', 10);
    clock.tick(5_999);
    expect(limiter.take('a').ok).toBe(false);
    clock.tick(1);
    expect(limiter.take('a').ok).toBe(true);
    expect(limiter.take('a').ok).toBe(false);
  });

  it('keeps its word to a client that retried too early and then waited the new Retry-After', () => {
    const clock = createTestClock();
    const limiter = createRateLimiter({ capacity: 10, perSeconds: 60, clock });
    drain(limiter, 'a', 10);
    clock.tick(5_000);
    const early = limiter.take('a');
    if (early.ok) throw new Error('allowed before its time');
    expect(early.retryAfter).toBeLessThanOrEqual(2);
    clock.tick(early.retryAfter * 1000);
    expect(limiter.take('a').ok, 'refused again after waiting the Retry-After it was given').toBe(true);
  });

  it('refills to capacity, never beyond it, after a long quiet time', () => {
    const clock = createTestClock();
    const limiter = createRateLimiter({ capacity: 3, perSeconds: 3, clock });
    drain(limiter, 'a', 3);
    clock.tick(3_600_000);
    expect(drain(limiter, 'a', 4)).toEqual([true, true, true, false]);
  });

  it('keeps one bucket per key', () => {
    const clock = createTestClock();
    const limiter = createRateLimiter({ capacity: 2, perSeconds: 60, clock });
    drain(limiter, 'a', 2);
    expect(limiter.take('a').ok).toBe(false);
    expect(limiter.take('b').ok).toBe(true);
  });

  it('still refuses a drained key after the key table fills up and is swept', () => {
    const clock = createTestClock();
    const limiter = createRateLimiter({ capacity: 2, perSeconds: 60, clock, maxKeys: 4 });
    drain(limiter, 'victim', 2);
    for (let i = 0; i < 20; i++) limiter.take(`other-${i}`);
    expect(limiter.take('victim').ok).toBe(false);
  });
});
