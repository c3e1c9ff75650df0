import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../app-error.js';
import { createTestClock, testRootKey } from '../../test-support/test-app.js';
import { openTempStore } from '../../test-support/temp-store.js';
import { DecryptError, blobKeyId } from './envelope.js';
import { openKeyring } from './keyring.js';

const context = 'keybox/secret/v1\0p\0e\0/\0NAME\u00001';
const clock = createTestClock();

let temp: Awaited<ReturnType<typeof openTempStore>>;
beforeEach(async () => {
  temp = await openTempStore();
});
afterEach(async () => {
  await temp.close();
});

async function openFailure(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('openKeyring', () => {
  it('creates a data key, a token key and an audit key wrapped by the root key in an empty store', async () => {
    const root = testRootKey();
    const keyring = await openKeyring(temp.db, root, clock);
    const rows = await temp.db.selectFrom('data_keys').selectAll().orderBy('id').execute();
    expect(rows.map((r) => [r.id, r.purpose, r.root_key_id])).toEqual([
      [1, 'data', root.id],
      [2, 'token-hmac', root.id],
      [3, 'audit-hmac', root.id],
    ]);
    expect(keyring.activeKeyId).toBe(1);
    expect(keyring.rootKeyId).toBe(root.id);
    for (const row of rows) expect(Buffer.from(row.wrapped).includes(root.key)).toBe(false);
  });

  it('round-trips a value and tags the blob with the active key id', async () => {
    const keyring = await openKeyring(temp.db, testRootKey(), clock);
    const { blob, keyId } = keyring.encrypt(Buffer.from('CANARY-keyring'), context);
    expect(keyId).toBe(1);
    expect(blobKeyId(blob)).toBe(1);
    expect(keyring.decrypt(blob, context).toString()).toBe('CANARY-keyring');
  });

  it('reopens an existing store with the same root key and reads what it wrote', async () => {
    const root = testRootKey();
    const first = await openKeyring(temp.db, root, clock);
    const { blob } = first.encrypt(Buffer.from('kept'), context);
    const second = await openKeyring(temp.db, root, clock);
    expect(second.decrypt(blob, context).toString()).toBe('kept');
    expect(second.tokenHash('kbx_token')).toBe(first.tokenHash('kbx_token'));
    expect(await temp.db.selectFrom('data_keys').select('id').execute()).toHaveLength(3);
  });

  it('refuses a value under another context string', async () => {
    const keyring = await openKeyring(temp.db, testRootKey(), clock);
    const { blob } = keyring.encrypt(Buffer.from('value'), context);
    expect(() => keyring.decrypt(blob, context.replace('NAME', 'OTHER'))).toThrow(DecryptError);
  });

  it('refuses a blob naming a key the ring does not hold, including the token key', async () => {
    const keyring = await openKeyring(temp.db, testRootKey(), clock);
    const { blob } = keyring.encrypt(Buffer.from('value'), context);
    for (const id of [2, 99]) {
      const relabelled = Buffer.from(blob);
      relabelled.writeUInt32BE(id, 1);
      expect(() => keyring.decrypt(relabelled, context)).toThrow(new DecryptError(`no data key with id ${id}`));
    }
  });

  it('keys token hashes so that another store gives other hashes', async () => {
    const keyring = await openKeyring(temp.db, testRootKey(), clock);
    const other = await openTempStore();
    try {
      const otherRing = await openKeyring(other.db, testRootKey(), clock);
      expect(keyring.tokenHash('kbx_same')).toMatch(/^[0-9a-f]{64}$/);
      expect(keyring.tokenHash('kbx_same')).not.toBe(otherRing.tokenHash('kbx_same'));
    } finally {
      await other.close();
    }
  });
});

describe('tokenHashMatches', () => {
  it('matches only the stored hash of that very secret', async () => {
    const keyring = await openKeyring(temp.db, testRootKey(), clock);
    const stored = keyring.tokenHash('kbx_right');
    expect(keyring.tokenHashMatches('kbx_right', stored)).toBe(true);
    expect(keyring.tokenHashMatches('kbx_wrong', stored)).toBe(false);
    expect(keyring.tokenHashMatches('kbx_right', undefined)).toBe(false);
    expect(keyring.tokenHashMatches('kbx_right', stored.slice(0, 62))).toBe(false);
    expect(keyring.tokenHashMatches('kbx_right', 'not hex at all')).toBe(false);
  });
});

describe('openKeyring with the wrong root key', () => {
  it('refuses another root key on an existing store, naming both key ids and how to fix it', async () => {
    const original = testRootKey();
    await openKeyring(temp.db, original, clock);
    const wrong = testRootKey();
    const error = await openFailure(openKeyring(temp.db, wrong, clock));
    expect(error.code).toBe('INTERNAL');
    expect(error.message).toContain(`the root key (id ${wrong.id}) is not the one this store was created with`);
    expect(error.message).toContain(original.id);
    expect(error.message).toMatch(/keybox\.key|KEYBOX_MASTER_KEY/);
    expect(error.message).not.toContain(wrong.key.toString('hex'));
    expect(error.message).not.toContain(wrong.key.toString('base64'));
  });

  it('refuses a wrong root key even when the stored fingerprint was edited to match it', async () => {
    await openKeyring(temp.db, testRootKey(), clock);
    const wrong = testRootKey();
    await temp.db.updateTable('data_keys').set({ root_key_id: wrong.id }).execute();
    const error = await openFailure(openKeyring(temp.db, wrong, clock));
    expect(error.message).toBe('data key 1 cannot be unwrapped: the data_keys table was altered');
  });
});

describe('openKeyring with altered data keys', () => {
  it('refuses a wrapped data key with a flipped bit', async () => {
    const root = testRootKey();
    await openKeyring(temp.db, root, clock);
    await sql`update data_keys set wrapped = ${flipLastByte(await wrappedOf(1))} where id = 1`.execute(temp.db);
    const error = await openFailure(openKeyring(temp.db, root, clock));
    expect(error.code).toBe('INTERNAL');
    expect(error.message).toBe('data key 1 cannot be unwrapped: the data_keys table was altered');
  });

  it('refuses the token key copied over the data key', async () => {
    const root = testRootKey();
    await openKeyring(temp.db, root, clock);
    await sql`update data_keys set wrapped = ${await wrappedOf(2)} where id = 1`.execute(temp.db);
    const error = await openFailure(openKeyring(temp.db, root, clock));
    expect(error.message).toContain('data key 1 cannot be unwrapped');
  });

  it('refuses a data key relabelled with another purpose', async () => {
    const root = testRootKey();
    await openKeyring(temp.db, root, clock);
    await temp.db.updateTable('data_keys').set({ purpose: 'token-hmac' }).where('id', '=', 1).execute();
    const error = await openFailure(openKeyring(temp.db, root, clock));
    expect(error.message).toContain('data key 1 cannot be unwrapped');
  });
});

async function wrappedOf(id: number): Promise<Buffer> {
  const row = await temp.db.selectFrom('data_keys').select('wrapped').where('id', '=', id).executeTakeFirstOrThrow();
  return Buffer.from(row.wrapped);
}

function flipLastByte(blob: Buffer): Buffer {
  const copy = Buffer.from(blob);
  copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 0x01;
  return copy;
}
