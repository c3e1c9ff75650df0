import type { Clock } from '../clock.js';

/**
 * Token buckets per key (a client IP, an identity, a user name), in this process. `take` says whether one more
 * attempt is allowed now, and if not, after how many seconds. Buckets that are full are dropped, so memory stays
 * bounded by the keys active in the last window.
 */
export function createRateLimiter(options: { capacity: number; perSeconds: number; clock: Clock; maxKeys?: number }) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const rate = options.capacity / options.perSeconds;
  const maxKeys = options.maxKeys ?? 100_000;

  function take(key: string): { ok: true } | { ok: false; retryAfter: number } {
    const now = options.clock.now().getTime() / 1000;
    const bucket = buckets.get(key) ?? { tokens: options.capacity, at: now };
    bucket.tokens = Math.min(options.capacity, bucket.tokens + (now - bucket.at) * rate);
    bucket.at = now;
    if (bucket.tokens < 1) {
      buckets.set(key, bucket);
      return { ok: false, retryAfter: Math.max(1, Math.ceil((1 - bucket.tokens) / rate)) };
    }
    bucket.tokens -= 1;
    if (buckets.size >= maxKeys) sweep(now);
    buckets.set(key, bucket);
    return { ok: true };
  }

  function sweep(now: number) {
    for (const [key, b] of buckets) {
      if (b.tokens + (now - b.at) * rate >= options.capacity) buckets.delete(key);
    }
  }

  return { take };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
