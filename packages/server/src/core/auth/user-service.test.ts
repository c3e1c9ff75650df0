import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appError } from '../../test-support/service-fixture.js';
import { createTestApp, type TestApp } from '../../test-support/test-app.js';
import { hashPassword, verifyPassword } from './password.js';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
  await t.services.users.create({ name: 'alice', password: PASSWORD }, 'admin');
});
afterEach(async () => {
  await t.close();
});

const PASSWORD = 'correct horse battery staple';
const users = () => t.services.users;
const works = async (token: string) => (await t.services.tokens.authenticate(token)).ok;

async function refusal(name: string, password: string) {
  const error = await appError(users().login(name, password));
  return { code: error.code, message: error.message, reason: (error.audit as { reason: string }).reason };
}

describe('login', () => {
  it('starts no session when the password changes while the login checks the old one', async () => {
    const another = await hashPassword('a different passphrase');
    const pending = users().login('alice', PASSWORD);
    // The row is read and the password check (tens of ms, off the loop) is under way: change the password now,
    // from another connection, as another server would.
    await new Promise((resolve) => setImmediate(resolve));
    t.writeElsewhere('update users set password_hash = ? where name = ?', [another, 'alice']);
    const error = await appError(pending);
    expect(error).toMatchObject({
      code: 'UNAUTHENTICATED',
      audit: { reason: 'password changed or user disabled during login' },
    });
    expect(await t.services.tokens.list({ kind: 'session' })).toEqual([]);
  });

  it('gives a wrong password, an unknown user and a disabled user the same answer', async () => {
    await users().create({ name: 'bob', password: PASSWORD }, 'admin');
    await users().setDisabled('bob', true);
    const same = { code: 'UNAUTHENTICATED', message: 'invalid user name or password' };
    expect(await refusal('alice', 'wrong password!!')).toEqual({ ...same, reason: 'wrong password' });
    expect(await refusal('mallory', PASSWORD)).toEqual({ ...same, reason: 'unknown user' });
    expect(await refusal('bob', PASSWORD)).toEqual({ ...same, reason: 'user disabled' });
  });

  it('starts a 12-hour session renewable for a week, and records the login time', async () => {
    const session = await users().login('alice', PASSWORD);
    expect(session.expiresAt).toBe('2026-01-01T12:00:00.000Z');
    expect((await t.services.tokens.get(session.tokenId)).maxExpiresAt).toBe('2026-01-08T00:00:00.000Z');
    expect((await users().get('alice')).lastLoginAt).toBe('2026-01-01T00:00:00.000Z');
    t.clock.tick(12 * 3600_000);
    expect(await works(session.token)).toBe(false);
  });
});

describe('sessions end', () => {
  it('when the password changes, and the new password signs in while the old one does not', async () => {
    const session = await users().login('alice', PASSWORD);
    await users().setPassword('alice', 'a brand new passphrase');
    expect(await works(session.token)).toBe(false);
    expect((await refusal('alice', PASSWORD)).reason).toBe('wrong password');
    expect(await works((await users().login('alice', 'a brand new passphrase')).token)).toBe(true);
  });

  it('when the user is disabled or deleted', async () => {
    const first = await users().login('alice', PASSWORD);
    await users().setDisabled('alice', true);
    expect(await works(first.token)).toBe(false);
    await users().setDisabled('alice', false);
    const second = await users().login('alice', PASSWORD);
    await users().remove('alice');
    expect(await works(second.token)).toBe(false);
  });

  it('only for that user', async () => {
    await users().create({ name: 'bob', password: PASSWORD }, 'admin');
    const bob = await users().login('bob', PASSWORD);
    await users().setPassword('alice', 'a brand new passphrase');
    expect(await works(bob.token)).toBe(true);
  });
});

describe('passwords', () => {
  it('refuses a password shorter than 12 characters and keeps the old one', async () => {
    expect((await appError(users().setPassword('alice', 'short'))).message).toMatch(/at least 12/);
    expect(await works((await users().login('alice', PASSWORD)).token)).toBe(true);
  });

  it('stores a salted scrypt hash, never the password', async () => {
    const a = await hashPassword(PASSWORD);
    const b = await hashPassword(PASSWORD);
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain(PASSWORD);
    expect(await verifyPassword(PASSWORD, a)).toBe(true);
    expect(await verifyPassword(`${PASSWORD}.`, a)).toBe(false);
    expect(await verifyPassword(PASSWORD, 'md5$abc')).toBe(false);
  });

  it('treats the NFC and NFD spellings of a password as the same password', async () => {
    const hash = await hashPassword('caf\u00e9 au lait please');
    expect(await verifyPassword('cafe\u0301 au lait please', hash)).toBe(true);
  });
});

describe('admin', () => {
  it('is whether the admin policy is attached, whatever the user was created with', async () => {
    await users().create({ name: 'root', password: PASSWORD, admin: true }, 'admin');
    expect((await users().get('root')).admin).toBe(true);
    const { id } = await t.store.db
      .selectFrom('users')
      .select('id')
      .where('name', '=', 'root')
      .executeTakeFirstOrThrow();
    await t.services.policies.detach('user', id, ['admin']);
    expect((await users().get('root')).admin).toBe(false);
    await t.services.policies.attach('user', id, ['admin']);
    expect((await users().get('alice')).admin).toBe(false);
    expect((await users().get('root')).admin).toBe(true);
  });
});
