import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AppError } from '../app-error.js';
import { appError } from '../../test-support/service-fixture.js';
import { createTestApp, type TestApp } from '../../test-support/test-app.js';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => {
  await t.close();
});

const identities = () => t.services.identities;
const works = async (token: string, ip = '') => (await t.services.tokens.authenticate(token, ip)).ok;

/** The refusal a login gets: one message for every cause, the cause only in the audit details. */
async function refusal(clientId: string, secret: string, ip = '') {
  const error = await appError(identities().login(clientId, secret, ip));
  expect(error.code).toBe('UNAUTHENTICATED');
  expect(error.message).toBe('invalid client id or secret');
  return (error.audit as { reason: string }).reason;
}

describe('login', () => {
  it('issues no token when the secret is revoked between its check and the token', async () => {
    const ci = await identities().create('ci', {}, 'admin');
    const secretId = /^kbs_([0-9a-f]{16})\./.exec(ci.clientSecret)?.[1];
    const check = t.keyring.tokenHashMatches.bind(t.keyring);
    // Right after the secret is checked, another server revokes it.
    const spy = vi.spyOn(t.keyring, 'tokenHashMatches').mockImplementation((token, hash) => {
      t.writeElsewhere('update identity_secrets set revoked_at = ? where id = ?', [
        new Date().toISOString(),
        secretId ?? '',
      ]);
      return check(token, hash);
    });
    try {
      expect(await refusal(ci.clientId, ci.clientSecret)).toBe(
        'client secret revoked or identity disabled during login',
      );
    } finally {
      spy.mockRestore();
    }
    expect(await t.services.tokens.list({ kind: 'access' })).toEqual([]);
  });

  it("exchanges a client id and secret for an access token that lives the identity's TTL", async () => {
    const ci = await identities().create('ci', { tokenTtl: 300, tokenMaxTtl: 900, tokenUses: 5 }, 'admin');
    const login = await identities().login(ci.clientId, ci.clientSecret, '');
    expect(login).toMatchObject({ expiresIn: 300, maxTtl: 900, uses: 5, identity: 'ci' });
    const info = await t.services.tokens.get(login.tokenId);
    expect(info).toMatchObject({ kind: 'access', principalType: 'identity', usesRemaining: 5 });
    expect(Date.parse(info.expiresAt ?? '') - t.clock.now().getTime()).toBe(300_000);
    expect(Date.parse(info.maxExpiresAt ?? '') - t.clock.now().getTime()).toBe(900_000);
  });

  it('gives one answer for every refusal, keeping the cause for the audit log', async () => {
    const ci = await identities().create('ci', { secretTtl: 120 }, 'admin');
    const other = await identities().create('other', {}, 'admin');
    expect(await refusal('kbi_0000000000000000', ci.clientSecret)).toBe('unknown client id or secret');
    // The last character changed (to another one whatever it was: 'A' unless it already is 'A').
    const altered = `${ci.clientSecret.slice(0, -1)}${ci.clientSecret.endsWith('A') ? 'B' : 'A'}`;
    expect(await refusal(ci.clientId, altered)).toBe('unknown client id or secret');
    expect(await refusal(ci.clientId, other.clientSecret)).toBe('unknown client id or secret');
    expect(await refusal(ci.clientId, 'not a secret')).toBe('unknown client id or secret');
    t.clock.tick(120_000);
    expect(await refusal(ci.clientId, ci.clientSecret)).toBe('client secret expired');
  });

  it('keeps both client secrets working during a rotation, and ends the old one with its tokens', async () => {
    const ci = await identities().create('ci', {}, 'admin');
    const next = await identities().addSecret('ci', 'admin', { description: 'rotation' });
    const oldToken = (await identities().login(ci.clientId, ci.clientSecret, '')).accessToken;
    const newToken = (await identities().login(ci.clientId, next.clientSecret, '')).accessToken;
    await identities().revokeSecret('ci', ci.secretId);
    expect(await refusal(ci.clientId, ci.clientSecret)).toBe('client secret revoked');
    expect(await works(oldToken)).toBe(false);
    expect(await works(newToken)).toBe(true);
    expect((await identities().login(ci.clientId, next.clientSecret, '')).identity).toBe('ci');
    const listed = await identities().listSecrets('ci');
    expect(listed.map((s) => [s.id, s.revokedAt !== null])).toEqual([
      [ci.secretId, true],
      [next.secretId, false],
    ]);
    expect(JSON.stringify(listed)).not.toContain(next.clientSecret.split('.')[1]);
  });

  it('refuses to revoke a secret of another identity', async () => {
    await identities().create('ci', {}, 'admin');
    const other = await identities().create('other', {}, 'admin');
    expect((await appError(identities().revokeSecret('ci', other.secretId))).code).toBe('NOT_FOUND');
    expect(await works((await identities().login(other.clientId, other.clientSecret, '')).accessToken)).toBe(true);
  });

  it('refuses logins and revokes every token when the identity is disabled, and logs in again once enabled', async () => {
    const ci = await identities().create('ci', {}, 'admin');
    const token = (await identities().login(ci.clientId, ci.clientSecret, '')).accessToken;
    await identities().update('ci', { disabled: true });
    expect(await works(token)).toBe(false);
    expect(await refusal(ci.clientId, ci.clientSecret)).toBe('identity disabled');
    await identities().update('ci', { disabled: false });
    expect(await works(token)).toBe(false);
    expect(await works((await identities().login(ci.clientId, ci.clientSecret, '')).accessToken)).toBe(true);
  });

  it('binds logins and token use to the trusted CIDRs, IPv4-mapped IPv6 included', async () => {
    const ci = await identities().create('ci', { trustedCidrs: ['10.1.0.0/16', '2001:db8::/32'] }, 'admin');
    expect(await refusal(ci.clientId, ci.clientSecret, '192.168.1.1')).toBe('address 192.168.1.1 not trusted');
    expect(await refusal(ci.clientId, ci.clientSecret, '')).toBe('address unknown not trusted');
    const token = (await identities().login(ci.clientId, ci.clientSecret, '::ffff:10.1.2.3')).accessToken;
    expect(await works(token, '10.1.200.1')).toBe(true);
    expect(await works(token, '2001:db8::1')).toBe(true);
    expect(await t.services.tokens.authenticate(token, '10.2.0.1')).toEqual({ ok: false, reason: 'address' });
  });

  it('ends the tokens of a deleted identity', async () => {
    const ci = await identities().create('ci', {}, 'admin');
    const token = (await identities().login(ci.clientId, ci.clientSecret, '')).accessToken;
    await identities().remove('ci');
    expect(await works(token)).toBe(false);
    expect(await refusal(ci.clientId, ci.clientSecret)).toBe('unknown client id or secret');
  });
});

describe('settings', () => {
  it.each([
    [{ tokenTtl: 59 }, /1 minute to 90 days/],
    [{ tokenTtl: 600, tokenMaxTtl: 300 }, /at least the TTL/],
    [{ tokenUses: -1 }, /non-negative/],
    [{ trustedCidrs: ['10.0.0.0/33'] }, /not an IP address or CIDR/],
    [{ trustedCidrs: ['example.com'] }, /not an IP address or CIDR/],
  ])('refuses %j', async (input, message) => {
    const error = await appError(identities().create('ci', input, 'admin'));
    expect(error).toBeInstanceOf(AppError);
    expect(error.message).toMatch(message);
    expect(await identities().list()).toEqual([]);
  });

  it('refuses a policy that does not exist and creates nothing', async () => {
    expect((await appError(identities().create('ci', { policies: ['nope'] }, 'admin'))).code).toBe('NOT_FOUND');
    expect(await identities().list()).toEqual([]);
  });
});
