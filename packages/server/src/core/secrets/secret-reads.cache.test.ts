import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServiceFixture } from '../../test-support/service-fixture.js';

/*
 * The bulk read keeps each scope's folder rows and decrypted bundles until a secret changes (secret-reads.ts). What
 * it counts must match what it holds, also when many reads of one scope miss at the same time, and a write must be
 * seen by the very next read.
 */

let f: Awaited<ReturnType<typeof createServiceFixture>>;
beforeEach(async () => {
  f = await createServiceFixture();
});
afterEach(async () => {
  await f.close();
});

const readAll = (n: number) =>
  Promise.all(Array.from({ length: n }, () => f.secrets.bulkRead('app', 'dev', ['/'], false)));

describe('the bulk-read cache', () => {
  it('counts each scope once, however many reads of it miss together', async () => {
    await f.set('A', 'a'.repeat(1000));
    await readAll(20);
    const once = f.secrets.cacheUsage();
    expect(once.scopes).toBe(1);
    expect(once.bytes).toBeGreaterThan(1000);
    for (let round = 0; round < 5; round++) {
      await f.set('A', `${round}`.repeat(1000));
      await readAll(20);
      expect(f.secrets.cacheUsage()).toEqual(once);
    }
  });

  it('builds an unfiltered body once per unchanged scope, counts it, and builds a filtered one per read', async () => {
    await f.set('A', 'one');
    await f.set('B', 'b'.repeat(500));
    const read = async () => {
      const outcome = await f.secrets.bulkRead('app', 'dev', ['/'], false);
      if (outcome.status !== 200) throw new Error('expected a body');
      return outcome.body;
    };
    // PostgreSQL tells the cache of commits asynchronously: the notification of a write above may still drop the
    // scope once. Read until two reads in a row are served from one kept scope (a body never kept fails here).
    let first = await read();
    let again = await read();
    for (let tries = 0; again !== first && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      first = again;
      again = await read();
    }
    expect(again).toBe(first);
    const counted = f.secrets.cacheUsage();
    expect(await read()).toBe(first);
    expect(f.secrets.cacheUsage()).toEqual(counted);

    // Rows only (a 304 decrypts nothing), then the full read: it adds the plaintext and the body, both counted.
    await f.set('A', 'two');
    const etag = await f.secrets.scopeEtag('app', 'dev', ['/'], false);
    expect((await f.secrets.bulkRead('app', 'dev', ['/'], false, { ifNoneMatch: etag })).status).toBe(304);
    const rowsOnly = f.secrets.cacheUsage().bytes;
    const fresh = await f.secrets.bulkRead('app', 'dev', ['/'], false);
    if (fresh.status !== 200) throw new Error('expected a body');
    expect(fresh.body.toString()).toContain('"two"');
    expect(f.secrets.cacheUsage().bytes - rowsOnly).toBeGreaterThan(fresh.body.length);

    const filtered = await f.secrets.bulkRead('app', 'dev', ['/'], false, { allow: () => true });
    if (filtered.status !== 200) throw new Error('expected a body');
    expect(filtered.body).not.toBe(fresh.body);
    expect(filtered.body.equals(fresh.body)).toBe(true);
  });

  it('serves a write to the next read, and keeps nothing for a scope that does not exist', async () => {
    await f.set('A', 'one');
    const first = await f.secrets.bulkRead('app', 'dev', ['/'], false);
    expect(first.status === 200 && first.body.toString()).toContain('"one"');
    await f.set('A', 'two');
    const second = await f.secrets.bulkRead('app', 'dev', ['/'], false);
    expect(second.status === 200 && second.body.toString()).toContain('"two"');
    await expect(f.secrets.bulkRead('app', 'dev', ['/nope'], false)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(f.secrets.cacheUsage().scopes).toBe(1);
  });
});
