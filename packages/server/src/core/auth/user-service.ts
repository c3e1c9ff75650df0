import { randomUUID } from 'node:crypto';
import { AppError, conflict, invalidInput, notFound } from '../app-error.js';
import { isoNow, type Clock } from '../clock.js';
import type { PolicyService } from '../policy/policy-service.js';
import { audited, type TxAudit, type TxAuditAs } from '../audit/tx-audit.js';
import type { Db } from '../store/database.js';
import { DUMMY_HASH_PROMISE, hashPassword, PASSWORD_MIN, verifyPassword } from './password.js';
import type { TokenService } from './token-service.js';

export const SESSION_TTL_SECONDS = 12 * 3600;
export const SESSION_MAX_TTL_SECONDS = 7 * 24 * 3600;
const NAME = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/;

export interface UserInfo {
  name: string;
  admin: boolean;
  policies: string[];
  createdAt: string;
  createdBy: string;
  disabled: boolean;
  lastLoginAt: string | null;
}

export interface UserServiceDeps {
  db: Db;
  clock: Clock;
  tokens: Pick<TokenService, 'issue' | 'revokeWhere'>;
  policies: Pick<PolicyService, 'attach' | 'detachAll' | 'namesFor'>;
}

/** People, for the CLI (`keybox login`) and the web UI. An admin is a user with the built-in admin policy. */
export function createUserService({ db, clock, tokens, policies }: UserServiceDeps) {
  function checkPassword(password: string) {
    if (password.length < PASSWORD_MIN) throw invalidInput(`a password has at least ${PASSWORD_MIN} characters`);
    if (password.length > 1024) throw invalidInput('a password has at most 1024 characters');
  }

  async function find(name: string) {
    const row = await db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    if (row === undefined) throw notFound(`user "${name}" does not exist`);
    return row;
  }

  async function info(row: Awaited<ReturnType<typeof find>>): Promise<UserInfo> {
    const attached = await policies.namesFor('user', row.id);
    return {
      name: row.name,
      // What makes an admin is the admin policy, attached or detached at any time; is_admin only records the
      // --admin flag the user was created with.
      admin: attached.includes('admin'),
      policies: attached,
      createdAt: row.created_at,
      createdBy: row.created_by,
      disabled: row.disabled_at !== null,
      lastLoginAt: row.last_login_at,
    };
  }

  async function create(
    input: { name: string; password: string; admin?: boolean; policies?: string[] },
    actor: string,
    audit?: TxAudit,
  ) {
    if (!NAME.test(input.name)) throw invalidInput('a user name is 1-64 lower-case letters, digits, ., - and _');
    checkPassword(input.password);
    const hash = await hashPassword(input.password);
    const id = randomUUID();
    await audited(db, audit, async (trx) => {
      const existing = await trx.selectFrom('users').select('id').where('name', '=', input.name).executeTakeFirst();
      if (existing !== undefined) throw conflict(`user "${input.name}" already exists`);
      await trx
        .insertInto('users')
        .values({
          id,
          name: input.name,
          password_hash: hash,
          is_admin: input.admin === true ? 1 : 0,
          created_at: isoNow(clock),
          created_by: actor,
          disabled_at: null,
          last_login_at: null,
        })
        .execute();
      const names = [...(input.policies ?? []), ...(input.admin === true ? ['admin'] : [])];
      await policies.attach('user', id, names, trx);
    });
    return info(await find(input.name));
  }

  async function list(): Promise<UserInfo[]> {
    const rows = await db.selectFrom('users').selectAll().orderBy('name').execute();
    return Promise.all(rows.map(info));
  }

  async function get(name: string): Promise<UserInfo> {
    return info(await find(name));
  }

  async function setPassword(name: string, password: string, audit?: TxAudit): Promise<void> {
    checkPassword(password);
    const user = await find(name);
    const hash = await hashPassword(password);
    await audited(db, audit, async (trx) => {
      await trx.updateTable('users').set({ password_hash: hash }).where('id', '=', user.id).execute();
      // A new password ends every session started with the old one.
      await tokens.revokeWhere({ principalType: 'user', principalId: user.id }, trx);
    });
  }

  async function setDisabled(name: string, disabled: boolean, audit?: TxAudit): Promise<void> {
    const user = await find(name);
    await audited(db, audit, async (trx) => {
      await trx
        .updateTable('users')
        .set({ disabled_at: disabled ? isoNow(clock) : null })
        .where('id', '=', user.id)
        .execute();
      if (disabled) await tokens.revokeWhere({ principalType: 'user', principalId: user.id }, trx);
    });
  }

  async function remove(name: string, audit?: TxAudit): Promise<void> {
    const user = await find(name);
    await audited(db, audit, async (trx) => {
      await tokens.revokeWhere({ principalType: 'user', principalId: user.id }, trx);
      await policies.detachAll('user', user.id, trx);
      await trx.deleteFrom('users').where('id', '=', user.id).execute();
    });
  }

  /**
   * A session token for a user's name and password. The session, the last-login time and the login's audit entry
   * (`audit`, told the user's name once the password checks out) commit together.
   */
  async function login(name: string, password: string, audit?: TxAuditAs) {
    const row = await db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    const ok = await verifyPassword(password, row?.password_hash ?? (await DUMMY_HASH_PROMISE));
    if (row === undefined || !ok || row.disabled_at !== null) {
      const reason = row === undefined ? 'unknown user' : !ok ? 'wrong password' : 'user disabled';
      throw new AppError('UNAUTHENTICATED', 'invalid user name or password', undefined, { audit: { reason } });
    }
    const session = await audited(
      db,
      audit?.({ type: 'user', name: row.name }),
      async (trx) => {
        // The password was checked outside the transaction (it takes a while); under the write lock, make sure it is
        // still the one checked and the user still enabled. A password change ends every session in its own
        // transaction: one of the two is first, and no session outlives the change.
        const stamped = await trx
          .updateTable('users')
          .set({ last_login_at: isoNow(clock) })
          .where('id', '=', row.id)
          .where('password_hash', '=', row.password_hash)
          .where('disabled_at', 'is', null)
          .executeTakeFirst();
        if (Number(stamped.numUpdatedRows) !== 1) {
          throw new AppError('UNAUTHENTICATED', 'invalid user name or password', undefined, {
            audit: { reason: 'password changed or user disabled during login' },
          });
        }
        return tokens.issue(
          {
            kind: 'session',
            name: `session:${row.name}`,
            principalType: 'user',
            principalId: row.id,
            createdBy: `user:${row.name}`,
            ttlSeconds: SESSION_TTL_SECONDS,
            maxTtlSeconds: SESSION_MAX_TTL_SECONDS,
          },
          trx,
        );
      },
      (token) => ({ tokenId: token.id }),
    );
    return { token: session.token, tokenId: session.id, expiresAt: session.expiresAt, user: row.name };
  }

  /** Whether `password` is this user's current password (same cost whether or not the user exists). */
  async function verifyCurrentPassword(name: string, password: string): Promise<boolean> {
    const row = await db.selectFrom('users').select('password_hash').where('name', '=', name).executeTakeFirst();
    const ok = await verifyPassword(password, row?.password_hash ?? (await DUMMY_HASH_PROMISE));
    return row !== undefined && ok;
  }

  async function idOf(name: string): Promise<string> {
    return (await find(name)).id;
  }

  async function count(): Promise<number> {
    const row = await db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  return {
    create,
    list,
    get,
    idOf,
    verifyCurrentPassword,
    setPassword,
    setDisabled,
    remove,
    login,
    count,
  };
}

export type UserService = ReturnType<typeof createUserService>;
