import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appError } from '../../test-support/service-fixture.js';
import { createTestApp, type TestApp } from '../../test-support/test-app.js';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => {
  await t.close();
});

const MINUTE = 60_000;
const at = (ms: number) => new Date(Date.parse('2026-01-01T00:00:00.000Z') + ms).toISOString();
const authenticate = (token: string, ip = '') => t.services.tokens.authenticate(token, ip);
const reason = async (token: string) => {
  const result = await authenticate(token);
  return result.ok ? 'ok' : result.reason;
};

function access(options: { ttl?: number; maxTtl?: number; uses?: number; secretId?: string } = {}) {
  return t.services.tokens.issue({
    kind: 'access',
    name: 'access:ci',
    principalType: 'token',
    createdBy: 'test',
    ttlSeconds: options.ttl ?? 600,
    maxTtlSeconds: options.maxTtl ?? 3600,
    uses: options.uses,
    secretId: options.secretId,
  });
}

describe('authenticate', () => {
  it('tells malformed, unknown and forged tokens apart only by reason, never letting one through', async () => {
    expect(await reason('kbx_nothex.short')).toBe('malformed');
    expect(await reason(`kbx_${randomBytes(8).toString('hex')}.${randomBytes(32).toString('base64url')}`)).toBe(
      'unknown',
    );
    const { token } = await access();
    expect(await reason(`${token.split('.')[0]}.${randomBytes(32).toString('base64url')}`)).toBe('unknown');
    expect(await reason(`${token} `)).toBe('malformed');
  });

  it('accepts a token until its TTL and refuses it from that instant on', async () => {
    const { token } = await access({ ttl: 600 });
    t.clock.tick(600_000 - 1);
    expect(await reason(token)).toBe('ok');
    t.clock.tick(1);
    expect(await reason(token)).toBe('expired');
  });

  it('counts uses down and refuses the token once they are spent', async () => {
    const { token, id } = await access({ uses: 3 });
    for (let i = 0; i < 3; i++) expect(await reason(token)).toBe('ok');
    expect(await reason(token)).toBe('expired');
    expect((await t.services.tokens.get(id)).usesRemaining).toBe(0);
  });

  it('records the last use and address, at most once a minute', async () => {
    const { token, id } = await access();
    await authenticate(token, '10.0.0.1');
    t.clock.tick(30_000);
    await authenticate(token, '10.0.0.2');
    expect(await t.services.tokens.get(id)).toMatchObject({ lastUsedAt: at(0), lastIp: '10.0.0.1' });
    t.clock.tick(31_000);
    await authenticate(token, '10.0.0.3');
    expect(await t.services.tokens.get(id)).toMatchObject({ lastUsedAt: at(61_000), lastIp: '10.0.0.3' });
  });

  it('refuses a revoked token on the very next request', async () => {
    const { token, id } = await access();
    expect(await reason(token)).toBe('ok');
    await t.services.tokens.revoke(id);
    expect(await reason(token)).toBe('revoked');
  });
});

describe('renew', () => {
  it('extends a token by its TTL from now, and reports when the max TTL capped it', async () => {
    const { token, id } = await access({ ttl: 600, maxTtl: 1000 });
    t.clock.tick(5 * MINUTE);
    expect(await t.services.tokens.renew(id)).toEqual({ expiresAt: at(15 * MINUTE), capped: false });
    t.clock.tick(9 * MINUTE);
    expect(await t.services.tokens.renew(id)).toEqual({ expiresAt: at(1000_000), capped: true });
    t.clock.tick(1000_000 - 14 * MINUTE - 1);
    expect(await reason(token)).toBe('ok');
    t.clock.tick(1);
    expect(await reason(token)).toBe('expired');
  });

  it('extends by the original TTL every time, not by the life the token has had so far', async () => {
    const { id } = await access({ ttl: 600, maxTtl: 86_400 });
    t.clock.tick(5 * MINUTE);
    expect((await t.services.tokens.renew(id)).expiresAt).toBe(at(15 * MINUTE));
    t.clock.tick(5 * MINUTE);
    // Renewed at minute 10: a 10-minute TTL gives minute 20 (not 10 + 15, the age of the token at its last expiry).
    expect((await t.services.tokens.renew(id)).expiresAt).toBe(at(20 * MINUTE));
  });

  it('does not renew a revoked token, and leaves a static token without expiry as it is', async () => {
    const { id } = await access();
    await t.services.tokens.revoke(id);
    expect((await appError(t.services.tokens.renew(id))).code).toBe('NOT_FOUND');
    const api = await t.services.tokens.create({ name: 'forever', createdBy: 'test' });
    expect(await t.services.tokens.renew(api.id)).toEqual({ expiresAt: null, capped: false });
  });

  it('never extends a static token with a TTL past its first expiry', async () => {
    const { token, id } = await t.services.tokens.create({ name: 'ttl', createdBy: 'test', ttlSeconds: 600 });
    t.clock.tick(5 * MINUTE);
    expect(await t.services.tokens.renew(id)).toEqual({ expiresAt: at(10 * MINUTE), capped: true });
    t.clock.tick(5 * MINUTE);
    expect(await reason(token)).toBe('expired');
  });
});

describe('revokeWhere and create', () => {
  it('revokes the tokens a client secret minted and no others', async () => {
    const mine = await access({ secretId: 'aaaaaaaaaaaaaaaa' });
    const other = await access({ secretId: 'bbbbbbbbbbbbbbbb' });
    await t.services.tokens.revokeWhere({ secretId: 'aaaaaaaaaaaaaaaa' });
    expect(await reason(mine.token)).toBe('revoked');
    expect(await reason(other.token)).toBe('ok');
  });

  it('refuses a static token that would already be expired', async () => {
    const error = await appError(
      t.services.tokens.create({ name: 'past', createdBy: 'test', expiresAt: '2025-12-31T23:59:59.000Z' }),
    );
    expect(error.code).toBe('INVALID_INPUT');
  });
});
