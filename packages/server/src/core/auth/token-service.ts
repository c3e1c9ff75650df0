import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isoNow, type Clock } from '../clock.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from '../store/database.js';

/*
 * API tokens look like `kbx_<16 hex id>.<43 base64url secret>`. The id finds the row; only an HMAC-SHA-256 of the
 * whole token (keyed by a data key, so a stolen database cannot be used to test guesses offline) is stored, and it
 * is compared in constant time. Tokens are random, so a slow password hash would only cost time on every request.
 */

const TOKEN_PATTERN = /^kbx_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

export interface Principal {
  kind: 'token';
  tokenId: string;
  name: string;
  /** How the actor is recorded on versions and (later) audit entries, e.g. `token:admin`. */
  actor: string;
}

export type AuthResult =
  { ok: true; principal: Principal } | { ok: false; reason: 'malformed' | 'unknown' | 'revoked' | 'expired' };

export interface TokenServiceDeps {
  db: Db;
  keyring: Pick<Keyring, 'tokenHash'>;
  clock: Clock;
}

export function createTokenService({ db, keyring, clock }: TokenServiceDeps) {
  async function create(input: { name: string; kind: string; createdBy: string; expiresAt?: string | null }) {
    const id = randomBytes(8).toString('hex');
    const token = `kbx_${id}.${randomBytes(32).toString('base64url')}`;
    await db
      .insertInto('api_tokens')
      .values({
        id,
        name: input.name,
        hash: keyring.tokenHash(token),
        kind: input.kind,
        created_at: isoNow(clock),
        created_by: input.createdBy,
        expires_at: input.expiresAt ?? null,
        last_used_at: null,
        revoked_at: null,
      })
      .execute();
    return { id, token };
  }

  async function authenticate(token: string): Promise<AuthResult> {
    const match = TOKEN_PATTERN.exec(token);
    if (match === null) return { ok: false, reason: 'malformed' };
    const id = match[1] as string;
    const row = await db
      .selectFrom('api_tokens')
      .select(['id', 'name', 'hash', 'expires_at', 'revoked_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    const expected = Buffer.from(row?.hash ?? '0'.repeat(64), 'hex');
    const actual = Buffer.from(keyring.tokenHash(token), 'hex');
    // Hash and compare even for an unknown id, so the two cases take the same time.
    const same = expected.length === actual.length && timingSafeEqual(expected, actual);
    if (row === undefined || !same) return { ok: false, reason: 'unknown' };
    if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
    if (row.expires_at !== null && row.expires_at <= isoNow(clock)) return { ok: false, reason: 'expired' };
    return { ok: true, principal: { kind: 'token', tokenId: row.id, name: row.name, actor: `token:${row.name}` } };
  }

  async function count(): Promise<number> {
    const row = await db
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  return { create, authenticate, count };
}

export type TokenService = ReturnType<typeof createTokenService>;
