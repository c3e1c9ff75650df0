import type { ClientSecretInfo, IdentityInfo } from '@keybox/sdk';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { AppError, conflict, invalidInput, notFound } from '../app-error.js';
import { isoNow, type Clock } from '../clock.js';
import type { Keyring } from '../crypto/keyring.js';
import type { PolicyService } from '../policy/policy-service.js';
import { audited, type TxAudit, type TxAuditAs } from '../audit/tx-audit.js';
import type { Db } from '../store/database.js';
import { addressAllowed, type TokenService } from './token-service.js';

/*
 * Machine identities (AppRole-style). An identity has a client id (kbi_…) and one or more client secrets
 * (kbs_<id>.<secret>), each with its own expiry, so a secret can be rotated without downtime: add the new one,
 * deploy it, revoke the old one. A login exchanges the pair for a short-lived access token.
 */

const NAME = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/;
const SECRET_PATTERN = /^kbs_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;
export const DEFAULT_TOKEN_TTL = 3600;
export const DEFAULT_TOKEN_MAX_TTL = 24 * 3600;

export type { ClientSecretInfo, IdentityInfo };

export interface IdentityInput {
  description?: string | undefined;
  policies?: string[] | undefined;
  tokenTtl?: number | undefined;
  tokenMaxTtl?: number | undefined;
  tokenUses?: number | undefined;
  trustedCidrs?: string[] | undefined;
}

export interface IdentityServiceDeps {
  db: Db;
  clock: Clock;
  keyring: Pick<Keyring, 'tokenHash' | 'tokenHashMatches'>;
  tokens: Pick<TokenService, 'issue' | 'revokeWhere'>;
  policies: Pick<PolicyService, 'attach' | 'detachAll' | 'namesFor'>;
}

export function createIdentityService({ db, clock, keyring, tokens, policies }: IdentityServiceDeps) {
  function checkSettings(input: IdentityInput) {
    const ttl = input.tokenTtl ?? DEFAULT_TOKEN_TTL;
    const max = input.tokenMaxTtl ?? Math.max(DEFAULT_TOKEN_MAX_TTL, ttl);
    if (!Number.isInteger(ttl) || ttl < 60 || ttl > 90 * 86400) throw invalidInput('token TTL is 1 minute to 90 days');
    if (!Number.isInteger(max) || max < ttl || max > 365 * 86400) {
      throw invalidInput('token max TTL is at least the TTL and at most 365 days');
    }
    const uses = input.tokenUses ?? 0;
    if (!Number.isInteger(uses) || uses < 0) throw invalidInput('token uses is a non-negative integer (0: unlimited)');
    for (const cidr of input.trustedCidrs ?? []) {
      const [net, bits] = cidr.split('/');
      const family = isIP(net ?? '');
      const max = family === 4 ? 32 : 128;
      if (family === 0 || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
        throw invalidInput(`"${cidr}" is not an IP address or CIDR block`);
      }
    }
    return { ttl, max, uses };
  }

  async function find(name: string) {
    const row = await db.selectFrom('identities').selectAll().where('name', '=', name).executeTakeFirst();
    if (row === undefined) throw notFound(`identity "${name}" does not exist`);
    return row;
  }

  async function info(row: Awaited<ReturnType<typeof find>>): Promise<IdentityInfo> {
    return {
      name: row.name,
      clientId: row.id,
      description: row.description,
      policies: await policies.namesFor('identity', row.id),
      tokenTtl: row.token_ttl,
      tokenMaxTtl: row.token_max_ttl,
      tokenUses: row.token_uses,
      trustedCidrs: JSON.parse(row.trusted_cidrs) as string[],
      createdAt: row.created_at,
      createdBy: row.created_by,
      disabled: row.disabled_at !== null,
    };
  }

  async function newSecret(trx: Db, identityId: string, actor: string, ttlSeconds?: number, description = '') {
    if (ttlSeconds !== undefined && !(Number.isInteger(ttlSeconds) && ttlSeconds >= 60)) {
      throw invalidInput('a client secret lives at least 60 seconds');
    }
    const id = randomBytes(8).toString('hex');
    const secret = `kbs_${id}.${randomBytes(32).toString('base64url')}`;
    const expiresAt =
      ttlSeconds === undefined ? null : new Date(clock.now().getTime() + ttlSeconds * 1000).toISOString();
    await trx
      .insertInto('identity_secrets')
      .values({
        id,
        identity_id: identityId,
        hash: keyring.tokenHash(secret),
        description,
        created_at: isoNow(clock),
        created_by: actor,
        expires_at: expiresAt,
        last_used_at: null,
        revoked_at: null,
      })
      .execute();
    return { secretId: id, clientSecret: secret, expiresAt };
  }

  /** Creates an identity and its first client secret. The secret is returned here and never again. */
  async function create(
    name: string,
    input: IdentityInput & { secretTtl?: number | undefined },
    actor: string,
    audit?: TxAudit,
  ) {
    if (!NAME.test(name)) throw invalidInput('an identity name is 1-64 lower-case letters, digits, ., - and _');
    const { ttl, max, uses } = checkSettings(input);
    const clientId = `kbi_${randomBytes(8).toString('hex')}`;
    const secret = await audited(
      db,
      audit,
      async (trx) => {
        const existing = await trx.selectFrom('identities').select('id').where('name', '=', name).executeTakeFirst();
        if (existing !== undefined) throw conflict(`identity "${name}" already exists`);
        await trx
          .insertInto('identities')
          .values({
            id: clientId,
            name,
            description: input.description ?? '',
            token_ttl: ttl,
            token_max_ttl: max,
            token_uses: uses,
            trusted_cidrs: JSON.stringify(input.trustedCidrs ?? []),
            created_at: isoNow(clock),
            created_by: actor,
            disabled_at: null,
          })
          .execute();
        await policies.attach('identity', clientId, input.policies ?? [], trx);
        return newSecret(trx, clientId, actor, input.secretTtl, 'initial');
      },
      (created) => ({ clientId, secretId: created.secretId, policies: input.policies ?? [] }),
    );
    return { identity: await info(await find(name)), clientId, ...secret };
  }

  async function update(name: string, input: IdentityInput & { disabled?: boolean | undefined }, audit?: TxAudit) {
    const row = await find(name);
    const { ttl, max, uses } = checkSettings({
      tokenTtl: input.tokenTtl ?? row.token_ttl,
      tokenMaxTtl: input.tokenMaxTtl ?? row.token_max_ttl,
      tokenUses: input.tokenUses ?? row.token_uses,
      trustedCidrs: input.trustedCidrs,
    });
    await audited(db, audit, async (trx) => {
      await trx
        .updateTable('identities')
        .set({
          description: input.description ?? row.description,
          token_ttl: ttl,
          token_max_ttl: max,
          token_uses: uses,
          trusted_cidrs: input.trustedCidrs === undefined ? row.trusted_cidrs : JSON.stringify(input.trustedCidrs),
          disabled_at: input.disabled === undefined ? row.disabled_at : input.disabled ? isoNow(clock) : null,
        })
        .where('id', '=', row.id)
        .execute();
      if (input.disabled === true) await tokens.revokeWhere({ principalType: 'identity', principalId: row.id }, trx);
    });
    return info(await find(name));
  }

  async function list(): Promise<IdentityInfo[]> {
    const rows = await db.selectFrom('identities').selectAll().orderBy('name').execute();
    return Promise.all(rows.map(info));
  }

  async function get(name: string): Promise<IdentityInfo> {
    return info(await find(name));
  }

  async function remove(name: string, audit?: TxAudit): Promise<void> {
    const row = await find(name);
    await audited(db, audit, async (trx) => {
      await tokens.revokeWhere({ principalType: 'identity', principalId: row.id }, trx);
      await policies.detachAll('identity', row.id, trx);
      await trx.deleteFrom('identities').where('id', '=', row.id).execute();
    });
  }

  async function addSecret(
    name: string,
    actor: string,
    options: { ttlSeconds?: number | undefined; description?: string | undefined } = {},
    audit?: TxAudit,
  ) {
    const row = await find(name);
    return audited(
      db,
      audit,
      (trx) => newSecret(trx, row.id, actor, options.ttlSeconds, options.description),
      (created) => ({ secretId: created.secretId, expiresAt: created.expiresAt }),
    );
  }

  async function listSecrets(name: string): Promise<ClientSecretInfo[]> {
    const row = await find(name);
    const secrets = await db
      .selectFrom('identity_secrets')
      .selectAll()
      .where('identity_id', '=', row.id)
      .orderBy('created_at')
      .execute();
    return secrets.map((s) => ({
      id: s.id,
      description: s.description,
      createdAt: s.created_at,
      createdBy: s.created_by,
      expiresAt: s.expires_at,
      lastUsedAt: s.last_used_at,
      revokedAt: s.revoked_at,
    }));
  }

  /** Revokes a client secret and every access token it minted. */
  async function revokeSecret(name: string, secretId: string, audit?: TxAudit): Promise<void> {
    const row = await find(name);
    await audited(
      db,
      audit,
      async (trx) => {
        const result = await trx
          .updateTable('identity_secrets')
          .set({ revoked_at: isoNow(clock) })
          .where('id', '=', secretId)
          .where('identity_id', '=', row.id)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) === 0) throw notFound(`identity "${name}" has no client secret ${secretId}`);
        await tokens.revokeWhere({ secretId }, trx);
      },
      () => ({ secretId }),
    );
  }

  /**
   * Exchanges a client id and secret for an access token. The token, the secret's last use and the login's audit
   * entry (`audit`, told the identity's name once the secret checks out) commit together.
   */
  async function login(clientId: string, clientSecret: string, ip: string, audit?: TxAuditAs) {
    const match = SECRET_PATTERN.exec(clientSecret);
    const row =
      match === null
        ? undefined
        : await db
            .selectFrom('identity_secrets as s')
            .innerJoin('identities as i', 'i.id', 's.identity_id')
            .select([
              's.id as secretId',
              's.hash',
              's.expires_at',
              's.revoked_at',
              'i.id as identityId',
              'i.name',
              'i.token_ttl',
              'i.token_max_ttl',
              'i.token_uses',
              'i.trusted_cidrs',
              'i.disabled_at',
            ])
            .where('s.id', '=', match[1] as string)
            .executeTakeFirst();
    const same = keyring.tokenHashMatches(clientSecret, row?.hash);
    const now = isoNow(clock);
    let reason: string | undefined;
    if (row === undefined || !same || row.identityId !== clientId) reason = 'unknown client id or secret';
    else if (row.revoked_at !== null) reason = 'client secret revoked';
    else if (row.expires_at !== null && row.expires_at <= now) reason = 'client secret expired';
    else if (row.disabled_at !== null) reason = 'identity disabled';
    else if (!addressAllowed(row.trusted_cidrs, ip)) reason = `address ${ip || 'unknown'} not trusted`;
    if (reason !== undefined || row === undefined) {
      throw new AppError('UNAUTHENTICATED', 'invalid client id or secret', undefined, {
        audit: { reason: reason ?? 'unknown', clientId: clientId.slice(0, 40) },
      });
    }
    const issued = await audited(
      db,
      audit?.({ type: 'identity', name: row.name }),
      async (trx) => {
        // Checked again under the write lock: a secret revoked, or an identity disabled, since the read above gets
        // no token (revoking a secret revokes the tokens it issued, in its own transaction: one of the two is first).
        const used = await trx
          .updateTable('identity_secrets')
          .set({ last_used_at: now })
          .where('id', '=', row.secretId)
          .where('revoked_at', 'is', null)
          .where((eb) =>
            eb.and([
              eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]),
              eb.exists(
                eb
                  .selectFrom('identities')
                  .select('id')
                  .where('id', '=', row.identityId)
                  .where('disabled_at', 'is', null),
              ),
            ]),
          )
          .executeTakeFirst();
        if (Number(used.numUpdatedRows) !== 1) {
          throw new AppError('UNAUTHENTICATED', 'invalid client id or secret', undefined, {
            audit: {
              reason: 'client secret revoked or identity disabled during login',
              clientId: clientId.slice(0, 40),
            },
          });
        }
        return tokens.issue(
          {
            kind: 'access',
            name: `access:${row.name}`,
            principalType: 'identity',
            principalId: row.identityId,
            createdBy: `identity:${row.name}`,
            ttlSeconds: row.token_ttl,
            maxTtlSeconds: row.token_max_ttl,
            uses: row.token_uses,
            secretId: row.secretId,
          },
          trx,
        );
      },
      (token) => ({ tokenId: token.id }),
    );
    return {
      accessToken: issued.token,
      tokenId: issued.id,
      expiresIn: row.token_ttl,
      maxTtl: row.token_max_ttl,
      uses: row.token_uses,
      identity: row.name,
    };
  }

  return { create, update, list, get, remove, addSecret, listSecrets, revokeSecret, login };
}

export type IdentityService = ReturnType<typeof createIdentityService>;
