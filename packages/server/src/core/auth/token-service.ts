import { randomBytes, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { sql } from 'kysely';
import { AppError, notFound } from '../app-error.js';
import { isoNow, type Clock } from '../clock.js';
import type { Keyring } from '../crypto/keyring.js';
import type { CompiledPolicy } from '../policy/policy-engine.js';
import type { PolicyService, PrincipalType } from '../policy/policy-service.js';
import type { StoreChanges } from '../store/store-changes.js';
import { audited, type TxAudit } from '../audit/tx-audit.js';
import type { ApiTokensTable, Db } from '../store/database.js';
import { prepared } from '../store/prepared.js';
import type { Principal } from './principal.js';

/*
 * Every token looks like `kbx_<16 hex id>.<43 base64url secret>`. The id finds the row; only an HMAC-SHA-256 of the
 * whole token (keyed by a data key, so a stolen database cannot be used to test guesses offline) is stored, and it is
 * compared in constant time. Tokens are random, so a slow password hash would only cost time on every request.
 * What a check reads is reused only until the store changes: a revocation takes effect on the next request to this
 * server, and within OTHERS_POLL_MS (5 ms) on every other server sharing the database.
 */

const TOKEN_PATTERN = /^kbx_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;
const LAST_USED_EVERY_MS = 60_000;

export type TokenKind = 'api' | 'session' | 'access';
export type AuthFailure = 'malformed' | 'unknown' | 'revoked' | 'expired' | 'address';
export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: AuthFailure };

export interface TokenInfo {
  id: string;
  name: string;
  kind: TokenKind;
  principalType: PrincipalType;
  principalId: string | null;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  maxExpiresAt: string | null;
  usesRemaining: number | null;
  lastUsedAt: string | null;
  lastIp: string | null;
  revokedAt: string | null;
}

export interface IssueInput {
  kind: TokenKind;
  name: string;
  principalType: PrincipalType;
  /** For static API tokens, omitted: the token is its own principal. */
  principalId?: string | undefined;
  createdBy: string;
  ttlSeconds?: number | undefined;
  maxTtlSeconds?: number | undefined;
  uses?: number | undefined;
  secretId?: string | undefined;
}

export interface TokenServiceDeps {
  db: Db;
  keyring: Pick<Keyring, 'tokenHash' | 'tokenHashMatches'>;
  clock: Clock;
  policies: Pick<PolicyService, 'policiesFor'>;
  /** Where the store says it changed; without it every check reads the store. */
  storeChanges?: StoreChanges | undefined;
}

interface CheckedToken {
  /** The store's version when this was read. */
  version: number;
  row: Pick<
    ApiTokensTable,
    | 'id'
    | 'name'
    | 'hash'
    | 'kind'
    | 'principal_type'
    | 'principal_id'
    | 'expires_at'
    | 'uses_remaining'
    | 'last_used_at'
    | 'revoked_at'
  >;
  /** The user or identity (null: missing or disabled); undefined for a static API token. */
  principal: { name: string; trustedCidrs: string | null } | null | undefined;
  policies: CompiledPolicy[];
  /** The token that matched the stored hash (kept in memory only, like the keys that could check it again). */
  verified: Buffer;
}

function sameBytes(expected: Buffer, presented: string): boolean {
  const bytes = Buffer.from(presented);
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
}

export function createTokenService({ db, keyring, clock, policies, storeChanges }: TokenServiceDeps) {
  const byId = prepared(
    db
      .selectFrom('api_tokens')
      .select([
        'id',
        'name',
        'hash',
        'kind',
        'principal_type',
        'principal_id',
        'expires_at',
        'uses_remaining',
        'last_used_at',
        'revoked_at',
      ])
      .where('id', '=', ''),
  );
  const userById = prepared(db.selectFrom('users').select(['name', 'disabled_at']).where('id', '=', ''));
  const identityById = prepared(
    db.selectFrom('identities').select(['name', 'trusted_cidrs', 'disabled_at']).where('id', '=', ''),
  );

  const at = (seconds: number | undefined) =>
    seconds === undefined ? null : new Date(clock.now().getTime() + seconds * 1000).toISOString();

  async function issue(input: IssueInput, trx: Db = db) {
    const id = randomBytes(8).toString('hex');
    const token = `kbx_${id}.${randomBytes(32).toString('base64url')}`;
    const expiresAt = at(input.ttlSeconds);
    await trx
      .insertInto('api_tokens')
      .values({
        id,
        name: input.name,
        hash: keyring.tokenHash(token),
        kind: input.kind,
        principal_type: input.principalType,
        principal_id: input.principalId ?? id,
        created_at: isoNow(clock),
        created_by: input.createdBy,
        expires_at: expiresAt,
        max_expires_at: at(input.maxTtlSeconds) ?? expiresAt,
        ttl_seconds: input.ttlSeconds === undefined ? null : Math.round(input.ttlSeconds),
        uses_remaining: input.uses === undefined || input.uses === 0 ? null : input.uses,
        last_used_at: null,
        last_ip: null,
        secret_id: input.secretId ?? null,
        revoked_at: null,
      })
      .execute();
    return { id, token, expiresAt };
  }

  /*
   * What a check reads (the token row, its user or identity, the compiled policies), kept while the store has not
   * changed since it was read (`storeChanges`, see store/store-changes.ts): a revocation, a disabled identity or an
   * edited policy commits a change, so the next request reads again. Only entries whose token matched are kept, and
   * never a token with a use count (each use is a write).
   */
  const checked = new Map<string, CheckedToken>();
  const CHECKED_MAX = 10_000;

  async function principalOf(type: PrincipalType, id: string): Promise<CheckedToken['principal']> {
    if (type === 'user') {
      const user = (await db.executeQuery(userById(id))).rows[0];
      return user === undefined || user.disabled_at !== null ? null : { name: user.name, trustedCidrs: null };
    }
    if (type === 'identity') {
      const identity = (await db.executeQuery(identityById(id))).rows[0];
      return identity === undefined || identity.disabled_at !== null
        ? null
        : { name: identity.name, trustedCidrs: identity.trusted_cidrs };
    }
    return undefined;
  }

  async function authenticate(token: string, ip = ''): Promise<AuthResult> {
    const match = TOKEN_PATTERN.exec(token);
    if (match === null) return { ok: false, reason: 'malformed' };
    const id = match[1] as string;
    const version = storeChanges?.version('access');
    let hit = version === undefined ? undefined : checked.get(id);
    if (hit !== undefined && hit.version !== version) {
      checked.delete(id);
      hit = undefined;
    }
    const row = hit?.row ?? (await db.executeQuery(byId(id))).rows[0];
    // The very token checked before (compared in constant time) needs no new HMAC; anything else is hashed and
    // compared, even for an unknown id. (A wrong secret for an id checked recently skips the database read, so it is
    // answered faster than an unknown id: that tells whether an id is in use, and ids are not secret.)
    const seen = hit !== undefined && sameBytes(hit.verified, token);
    if ((!seen && !keyring.tokenHashMatches(token, row?.hash)) || row === undefined) {
      return { ok: false, reason: 'unknown' };
    }
    if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
    const now = clock.now();
    if (row.expires_at !== null && row.expires_at <= now.toISOString()) return { ok: false, reason: 'expired' };

    const type = (row.principal_type ?? 'token') as PrincipalType;
    const principalId = row.principal_id ?? row.id;
    const principal = hit !== undefined ? hit.principal : await principalOf(type, principalId);
    if (principal === null) return { ok: false, reason: 'revoked' };
    if (principal !== undefined && principal.trustedCidrs !== null && !addressAllowed(principal.trustedCidrs, ip)) {
      return { ok: false, reason: 'address' };
    }

    if (row.uses_remaining !== null) {
      const used = await db
        .updateTable('api_tokens')
        .set({ uses_remaining: sql<number>`uses_remaining - 1` })
        .where('id', '=', row.id)
        .where('uses_remaining', '>', 0)
        .executeTakeFirst();
      if (Number(used.numUpdatedRows) === 0) return { ok: false, reason: 'expired' };
    }
    // Metadata that survives restarts, without a write on every request.
    if (row.last_used_at === null || now.getTime() - Date.parse(row.last_used_at) > LAST_USED_EVERY_MS) {
      await db
        .updateTable('api_tokens')
        .set({ last_used_at: now.toISOString(), last_ip: ip })
        .where('id', '=', row.id)
        .execute();
    }
    const attached = hit?.policies ?? (await policies.policiesFor(type, principalId));
    if (hit === undefined && version !== undefined && row.uses_remaining === null) {
      if (checked.size >= CHECKED_MAX) checked.clear();
      checked.set(id, { version, row, principal, policies: attached, verified: Buffer.from(token) });
    }

    return {
      ok: true,
      principal: {
        type,
        id: principalId,
        name: principal?.name ?? row.name,
        actor: `${type}:${principal?.name ?? row.name}`,
        tokenId: row.id,
        tokenKind: row.kind as TokenKind,
        policies: attached,
      },
    };
  }

  /**
   * Extends a token's life by its original TTL, never past its max TTL (static tokens do not expire, so do not
   * renew). The new expiry and its audit entry commit together.
   */
  async function renew(tokenId: string, audit?: TxAudit): Promise<{ expiresAt: string | null; capped: boolean }> {
    return audited(
      db,
      audit,
      async (trx): Promise<{ expiresAt: string | null; capped: boolean }> => {
        const row = await trx.selectFrom('api_tokens').selectAll().where('id', '=', tokenId).executeTakeFirst();
        if (row === undefined || row.revoked_at !== null) throw notFound('token not found');
        if (row.expires_at === null) return { expiresAt: null, capped: false };
        const ttl =
          row.ttl_seconds !== null ? row.ttl_seconds * 1000 : Date.parse(row.expires_at) - Date.parse(row.created_at);
        const wanted = clock.now().getTime() + ttl;
        const max = row.max_expires_at === null ? wanted : Date.parse(row.max_expires_at);
        const expiresAt = new Date(Math.min(wanted, max)).toISOString();
        await trx.updateTable('api_tokens').set({ expires_at: expiresAt }).where('id', '=', tokenId).execute();
        return { expiresAt, capped: wanted > max };
      },
      (renewed) => renewed,
    );
  }

  async function revoke(tokenId: string, audit?: TxAudit): Promise<void> {
    await audited(db, audit, async (trx) => {
      const exists = await trx.selectFrom('api_tokens').select('id').where('id', '=', tokenId).executeTakeFirst();
      if (exists === undefined) throw notFound(`token ${tokenId} does not exist`);
      await trx
        .updateTable('api_tokens')
        .set({ revoked_at: isoNow(clock) })
        .where('id', '=', tokenId)
        .where('revoked_at', 'is', null)
        .execute();
    });
  }

  async function revokeWhere(
    filter: { principalType: PrincipalType; principalId: string } | { secretId: string },
    trx: Db = db,
  ) {
    let query = trx
      .updateTable('api_tokens')
      .set({ revoked_at: isoNow(clock) })
      .where('revoked_at', 'is', null);
    query =
      'secretId' in filter
        ? query.where('secret_id', '=', filter.secretId)
        : query.where('principal_type', '=', filter.principalType).where('principal_id', '=', filter.principalId);
    await query.execute();
  }

  function toInfo(r: Omit<ApiTokensTable, 'hash' | 'ttl_seconds'>): TokenInfo {
    return {
      id: r.id,
      name: r.name,
      kind: r.kind === 'session' || r.kind === 'access' ? r.kind : 'api',
      principalType: (r.principal_type ?? 'token') as PrincipalType,
      principalId: r.principal_id,
      createdAt: r.created_at,
      createdBy: r.created_by,
      expiresAt: r.expires_at,
      maxExpiresAt: r.max_expires_at,
      usesRemaining: r.uses_remaining,
      lastUsedAt: r.last_used_at,
      lastIp: r.last_ip,
      revokedAt: r.revoked_at,
    };
  }

  async function get(tokenId: string): Promise<TokenInfo> {
    const row = await db.selectFrom('api_tokens').selectAll().where('id', '=', tokenId).executeTakeFirst();
    if (row === undefined) throw notFound(`token ${tokenId} does not exist`);
    return toInfo(row);
  }

  async function list(filter: { kind?: TokenKind; includeRevoked?: boolean } = {}): Promise<TokenInfo[]> {
    let query = db.selectFrom('api_tokens').selectAll().orderBy('created_at').orderBy('id');
    if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
    if (filter.includeRevoked !== true) query = query.where('revoked_at', 'is', null);
    return (await query.execute()).map(toInfo);
  }

  /**
   * Deletes session and access tokens that expired or were revoked before `cutoff` (every login makes one, so
   * they would pile up). Static API tokens are kept: their metadata is the record of who had access.
   */
  async function purge(cutoff: string): Promise<number> {
    const result = await db
      .deleteFrom('api_tokens')
      .where('kind', 'in', ['session', 'access'])
      .where((eb) => eb.or([eb('expires_at', '<', cutoff), eb('revoked_at', '<', cutoff)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async function count(): Promise<number> {
    const row = await db
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** A static API token with its own policies (what `keybox tokens create` and the first start make). */
  async function create(
    input: {
      name: string;
      createdBy: string;
      expiresAt?: string | null | undefined;
      ttlSeconds?: number | undefined;
      policies?: string[] | undefined;
    },
    deps: { attach?: PolicyService['attach']; audit?: TxAudit | undefined } = {},
  ) {
    const ttl =
      input.ttlSeconds ??
      (input.expiresAt === undefined || input.expiresAt === null
        ? undefined
        : (Date.parse(input.expiresAt) - clock.now().getTime()) / 1000);
    if (ttl !== undefined && !(ttl > 0)) throw new AppError('INVALID_INPUT', 'a token must expire in the future');
    return audited(
      db,
      deps.audit,
      async (trx) => {
        const issued = await issue(
          { kind: 'api', name: input.name, principalType: 'token', createdBy: input.createdBy, ttlSeconds: ttl },
          trx,
        );
        if (deps.attach !== undefined) await deps.attach('token', issued.id, input.policies ?? [], trx);
        return issued;
      },
      (issued) => ({ tokenId: issued.id, expiresAt: issued.expiresAt, policies: input.policies ?? [] }),
    );
  }

  return { issue, create, authenticate, renew, revoke, revokeWhere, get, list, purge, count };
}

export type TokenService = ReturnType<typeof createTokenService>;

/** Whether `ip` may use an identity bound to `cidrsJson` (an empty list allows any address). */
// Built lists keyed by the stored JSON: an identity's trusted CIDRs are parsed once, not on every request.
const blockLists = new Map<string, BlockList | undefined>();

function blockListOf(cidrsJson: string): BlockList | undefined {
  if (blockLists.has(cidrsJson)) return blockLists.get(cidrsJson);
  const cidrs = JSON.parse(cidrsJson) as string[];
  let list: BlockList | undefined;
  if (cidrs.length > 0) {
    list = new BlockList();
    for (const cidr of cidrs) {
      const [net, bits] = cidr.split('/');
      const netFamily = isIP(net ?? '');
      if (netFamily === 0) continue;
      list.addSubnet(net as string, Number(bits ?? (netFamily === 4 ? 32 : 128)), netFamily === 4 ? 'ipv4' : 'ipv6');
    }
  }
  if (blockLists.size > 1000) blockLists.clear();
  blockLists.set(cidrsJson, list);
  return list;
}

export function addressAllowed(cidrsJson: string, ip: string): boolean {
  const list = blockListOf(cidrsJson);
  if (list === undefined) return true;
  const address = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  const family = isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
