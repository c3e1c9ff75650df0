import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { AppError } from '../app-error.js';
import { isoNow, type Clock } from '../clock.js';
import type { Db } from '../store/database.js';
import { DecryptError, blobKeyId, open, seal } from './envelope.js';
import type { RootKey } from './root-key.js';

/*
 * Envelope encryption. The root key only wraps data keys (stored in `data_keys`); data keys encrypt values. Rotating
 * the root key later means re-wrapping a handful of rows, and a new data key means new writes use it while old blobs
 * still name the key they need.
 */

export type KeyPurpose = 'data' | 'token-hmac' | 'audit-hmac';

export interface Keyring {
  /** Encrypts under the active data key, binding `context` (the value's location) as associated data. */
  encrypt(plaintext: Buffer, context: string): { blob: Buffer; keyId: number };
  /** Decrypts any blob whose key is in the ring; throws DecryptError if it was tampered with or moved. */
  decrypt(blob: Uint8Array, context: string): Buffer;
  /** HMAC-SHA-256 keyed with the token key: how API token secrets are stored. */
  tokenHash(secret: string): string;
  /**
   * Whether `secret` hashes to `storedHex`, in constant time; with no stored hash (an unknown id) it still hashes
   * and compares, so both cases take the same time.
   */
  tokenHashMatches(secret: string, storedHex: string | undefined): boolean;
  /** The key of the audit log's HMAC chain. */
  readonly auditKey: KeyObject;
  readonly activeKeyId: number;
  readonly rootKeyId: string;
}

const REQUIRED: readonly KeyPurpose[] = ['data', 'token-hmac', 'audit-hmac'];

async function keyInUse(trx: Db, purpose: KeyPurpose): Promise<boolean> {
  const rows =
    purpose === 'data'
      ? await trx.selectFrom('secret_versions').select('secret_id').limit(1).execute()
      : purpose === 'token-hmac'
        ? await trx.selectFrom('api_tokens').select('id').limit(1).execute()
        : await trx.selectFrom('audit_log').select('seq').limit(1).execute();
  return rows.length > 0;
}

function wrapContext(id: number, purpose: string): string {
  return `keybox/data-key/v1\0${id}\0${purpose}`;
}

/** Loads and unwraps every data key, creating the first ones in an empty store. */
export async function openKeyring(db: Db, root: RootKey, clock: Clock): Promise<Keyring> {
  const rootKey = createSecretKey(root.key);
  let rows = await db.selectFrom('data_keys').selectAll().orderBy('id').execute();
  const missing = REQUIRED.filter((purpose) => !rows.some((r) => r.purpose === purpose));
  if (missing.length > 0) {
    await db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('data_keys').select(['id', 'purpose']).execute();
      const now = isoNow(clock);
      let nextId = Math.max(0, ...existing.map((r) => r.id)) + 1;
      for (const purpose of REQUIRED) {
        if (existing.some((r) => r.purpose === purpose)) continue;
        // A new key where rows already depend on the old one would make all of them unreadable for good.
        if (await keyInUse(trx, purpose)) {
          throw new AppError(
            'INTERNAL',
            `the ${purpose} key is missing from data_keys but the store holds data that needs it; restore data_keys from a backup`,
          );
        }
        const id = nextId++;
        const wrapped = seal(rootKey, 0, randomBytes(32), wrapContext(id, purpose));
        await trx
          .insertInto('data_keys')
          .values({ id, purpose, wrapped, root_key_id: root.id, created_at: now, retired_at: null })
          .execute();
      }
    });
    rows = await db.selectFrom('data_keys').selectAll().orderBy('id').execute();
  }

  const keys = new Map<number, KeyObject>();
  let active: number | undefined;
  let hmacKey: KeyObject | undefined;
  let auditKey: KeyObject | undefined;
  for (const row of rows) {
    if (row.root_key_id !== root.id) {
      throw new AppError(
        'INTERNAL',
        `the root key (id ${root.id}) is not the one this store was created with (id ${row.root_key_id}); ` +
          'start the server with the original keybox.key, KEYBOX_MASTER_KEY or --master-key-file',
      );
    }
    let raw: Buffer;
    try {
      raw = open(rootKey, row.wrapped, wrapContext(row.id, row.purpose));
    } catch (error) {
      if (error instanceof DecryptError) {
        throw new AppError('INTERNAL', `data key ${row.id} cannot be unwrapped: the data_keys table was altered`);
      }
      throw error;
    }
    if (row.purpose === 'token-hmac') {
      // A KeyObject, not the Buffer: Node 24 spends ~10 µs per HMAC probing a raw Buffer key, on every request.
      hmacKey = createSecretKey(raw);
    } else if (row.purpose === 'audit-hmac') {
      auditKey = createSecretKey(raw);
    } else {
      keys.set(row.id, createSecretKey(raw));
      if (row.retired_at === null && (active === undefined || row.id > active)) active = row.id;
    }
  }
  if (active === undefined || hmacKey === undefined || auditKey === undefined) {
    throw new AppError('INTERNAL', 'the store has no active data key');
  }
  const activeKeyId = active;
  const activeKey = keys.get(activeKeyId) as KeyObject;
  const tokenKey = hmacKey;

  return {
    activeKeyId,
    rootKeyId: root.id,
    auditKey,
    encrypt(plaintext, context) {
      return { blob: seal(activeKey, activeKeyId, plaintext, context), keyId: activeKeyId };
    },
    decrypt(blob, context) {
      const id = blobKeyId(blob);
      const key = keys.get(id);
      if (key === undefined) throw new DecryptError(`no data key with id ${id}`);
      return open(key, blob, context);
    },
    tokenHash(secret) {
      return createHmac('sha256', tokenKey).update(secret).digest('hex');
    },
    tokenHashMatches(secret, storedHex) {
      const actual = createHmac('sha256', tokenKey).update(secret).digest();
      const expected = Buffer.from(storedHex ?? '', 'hex');
      const comparable = expected.length === actual.length;
      return timingSafeEqual(actual, comparable ? expected : Buffer.alloc(actual.length)) && comparable;
    },
  };
}

/**
 * Root key rotation: every data key unwrapped with `from` and wrapped again with `to`, in the caller's transaction.
 * Nothing encrypted with the data keys changes, so this is a handful of rows whatever the store's size. Returns the
 * ids re-wrapped.
 */
export async function rewrapDataKeys(trx: Db, from: RootKey, to: RootKey): Promise<number[]> {
  const fromKey = createSecretKey(from.key);
  const toKey = createSecretKey(to.key);
  const rows = await trx.selectFrom('data_keys').selectAll().orderBy('id').execute();
  for (const row of rows) {
    if (row.root_key_id !== from.id) {
      throw new AppError(
        'INVALID_INPUT',
        `data key ${row.id} is wrapped with root key ${row.root_key_id}, not ${from.id}`,
      );
    }
    const context = wrapContext(row.id, row.purpose);
    const wrapped = seal(toKey, 0, open(fromKey, row.wrapped, context), context);
    await trx.updateTable('data_keys').set({ wrapped, root_key_id: to.id }).where('id', '=', row.id).execute();
  }
  return rows.map((r) => r.id);
}

/**
 * Data key rotation: a new data key, wrapped with `root`, becomes the active one; the ones it replaces are retired
 * (still there to decrypt what they encrypted, never used to encrypt again). In the caller's transaction.
 */
export async function addDataKey(trx: Db, root: RootKey, clock: Clock): Promise<{ id: number; retired: number[] }> {
  const now = isoNow(clock);
  const existing = await trx.selectFrom('data_keys').select(['id', 'purpose', 'retired_at']).execute();
  const retired = existing.filter((r) => r.purpose === 'data' && r.retired_at === null).map((r) => r.id);
  const id = Math.max(0, ...existing.map((r) => r.id)) + 1;
  const wrapped = seal(createSecretKey(root.key), 0, randomBytes(32), wrapContext(id, 'data'));
  await trx
    .insertInto('data_keys')
    .values({ id, purpose: 'data', wrapped, root_key_id: root.id, created_at: now, retired_at: null })
    .execute();
  if (retired.length > 0) {
    await trx.updateTable('data_keys').set({ retired_at: now }).where('id', 'in', retired).execute();
  }
  return { id, retired };
}
