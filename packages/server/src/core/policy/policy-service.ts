import { AppError, conflict, invalidInput, notFound } from '../app-error.js';
import { isoNow, type Clock } from '../clock.js';
import { audited, type TxAudit } from '../audit/tx-audit.js';
import type { Db } from '../store/database.js';
import { prepared } from '../store/prepared.js';
import { BUILTIN_POLICIES, ROLE_TEMPLATES } from './builtin-policies.js';
import { compilePolicy, type CompiledPolicy } from './policy-engine.js';
import { parseRules, type PolicyRule } from './policy-rules.js';

export type PrincipalType = 'user' | 'identity' | 'token';

export interface PolicyInfo {
  name: string;
  description: string;
  rules: PolicyRule[];
  builtin: boolean;
  updatedAt: string;
  updatedBy: string;
}

const NAME = /^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$/;

export interface PolicyServiceDeps {
  db: Db;
  clock: Clock;
}

export function createPolicyService({ db, clock }: PolicyServiceDeps) {
  // Compiled policies by name, with the stored JSON they came from: a changed policy has other text, so a hit is
  // only taken when the text is the same (no per-request key string to build).
  const compiled = new Map<string, { rulesJson: string; policy: CompiledPolicy }>();

  function compileStored(name: string, rulesJson: string): CompiledPolicy {
    const hit = compiled.get(name);
    if (hit !== undefined && hit.rulesJson === rulesJson) return hit.policy;
    const policy = compilePolicy(name, JSON.parse(rulesJson) as PolicyRule[]);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(name, { rulesJson, policy });
    return policy;
  }

  /** Creates the built-in policies that are missing (every start; they cannot be changed through the API). */
  async function ensureBuiltins(): Promise<void> {
    const now = isoNow(clock);
    for (const [name, policy] of Object.entries(BUILTIN_POLICIES)) {
      const rules = JSON.stringify(policy.rules);
      const existing = await db.selectFrom('policies').select('rules').where('name', '=', name).executeTakeFirst();
      if (existing === undefined) {
        await db
          .insertInto('policies')
          .values({
            name,
            description: policy.description,
            rules,
            builtin: 1,
            created_at: now,
            updated_at: now,
            updated_by: 'system',
          })
          .execute();
      } else if (existing.rules !== rules) {
        await db
          .updateTable('policies')
          .set({ rules, description: policy.description, builtin: 1 })
          .where('name', '=', name)
          .execute();
      }
    }
  }

  /** The compiled policies attached to a principal: what every request is decided against. */
  // On every request: compiled once (see store/prepared.ts).
  const attachedPolicies = prepared(
    db
      .selectFrom('policy_attachments as a')
      .innerJoin('policies as p', 'p.name', 'a.policy_name')
      .select(['p.name', 'p.rules'])
      .where('a.principal_type', '=', '')
      .where('a.principal_id', '=', ''),
  );

  async function policiesFor(type: PrincipalType, id: string): Promise<CompiledPolicy[]> {
    const { rows } = await db.executeQuery(attachedPolicies(type, id));
    return rows.map((r) => compileStored(r.name, r.rules));
  }

  async function namesFor(type: PrincipalType, id: string): Promise<string[]> {
    const rows = await db
      .selectFrom('policy_attachments')
      .select('policy_name')
      .where('principal_type', '=', type)
      .where('principal_id', '=', id)
      .orderBy('policy_name')
      .execute();
    return rows.map((r) => r.policy_name);
  }

  function toInfo(row: {
    name: string;
    description: string;
    rules: string;
    builtin: number;
    updated_at: string;
    updated_by: string;
  }): PolicyInfo {
    return {
      name: row.name,
      description: row.description,
      rules: JSON.parse(row.rules) as PolicyRule[],
      builtin: row.builtin === 1,
      updatedAt: row.updated_at,
      updatedBy: row.updated_by,
    };
  }

  async function list(): Promise<PolicyInfo[]> {
    const rows = await db.selectFrom('policies').selectAll().orderBy('name').execute();
    return rows.map(toInfo);
  }

  async function get(name: string): Promise<PolicyInfo> {
    const row = await db.selectFrom('policies').selectAll().where('name', '=', name).executeTakeFirst();
    if (row === undefined) throw notFound(`policy "${name}" does not exist`);
    return toInfo(row);
  }

  /** Creates or replaces a policy from rules, or from a role template and a scope. */
  async function put(
    name: string,
    input: {
      description?: string;
      rules?: unknown;
      role?: string;
      scope?: { project: string; env: string; path: string };
    },
    actor: string,
    audit?: TxAudit,
  ): Promise<PolicyInfo> {
    if (!NAME.test(name)) throw invalidInput('a policy name is 1-64 lower-case letters, digits, - and _');
    if (Object.hasOwn(BUILTIN_POLICIES, name)) throw conflict(`policy "${name}" is built in and cannot be changed`);
    let rules: unknown = input.rules;
    let description = input.description ?? '';
    if (input.role !== undefined) {
      // Own keys only: a role named "toString" must not find Object.prototype's.
      const template = Object.hasOwn(ROLE_TEMPLATES, input.role) ? ROLE_TEMPLATES[input.role] : undefined;
      if (template === undefined) {
        throw invalidInput(`unknown role "${input.role}" (roles: ${Object.keys(ROLE_TEMPLATES).join(', ')})`);
      }
      if (input.scope === undefined)
        throw invalidInput(`role ${input.role} needs a project, an environment and a path`);
      rules = template.rules(input.scope);
      description ||= `${input.role}: ${template.description} (${input.scope.project}/${input.scope.env} ${input.scope.path})`;
    }
    const check = parseRules(rules);
    if (!check.ok)
      throw invalidInput(`invalid policy: ${check.errors.slice(0, 5).join('; ')}`, { errors: check.errors });
    const now = isoNow(clock);
    const json = JSON.stringify(check.rules);
    await audited(db, audit, async (trx) => {
      const existing = await trx.selectFrom('policies').select('name').where('name', '=', name).executeTakeFirst();
      if (existing === undefined) {
        await trx
          .insertInto('policies')
          .values({ name, description, rules: json, builtin: 0, created_at: now, updated_at: now, updated_by: actor })
          .execute();
      } else {
        await trx
          .updateTable('policies')
          .set({ description, rules: json, updated_at: now, updated_by: actor })
          .where('name', '=', name)
          .execute();
      }
    });
    return get(name);
  }

  async function remove(name: string, audit?: TxAudit): Promise<void> {
    if (Object.hasOwn(BUILTIN_POLICIES, name)) throw conflict(`policy "${name}" is built in and cannot be deleted`);
    await audited(db, audit, async (trx) => {
      const result = await trx.deleteFrom('policies').where('name', '=', name).executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) throw notFound(`policy "${name}" does not exist`);
    });
  }

  /** Attaches policies (which must exist) to a principal, in the caller's transaction if given. */
  async function attach(type: PrincipalType, id: string, names: readonly string[], trx: Db = db): Promise<void> {
    for (const name of new Set(names)) {
      const exists = await trx.selectFrom('policies').select('name').where('name', '=', name).executeTakeFirst();
      if (exists === undefined) throw notFound(`policy "${name}" does not exist`);
      const already = await trx
        .selectFrom('policy_attachments')
        .select('policy_name')
        .where('principal_type', '=', type)
        .where('principal_id', '=', id)
        .where('policy_name', '=', name)
        .executeTakeFirst();
      if (already === undefined) {
        await trx
          .insertInto('policy_attachments')
          .values({ principal_type: type, principal_id: id, policy_name: name })
          .execute();
      }
    }
  }

  async function detach(type: PrincipalType, id: string, names: readonly string[], trx: Db = db): Promise<void> {
    for (const name of names) {
      const result = await trx
        .deleteFrom('policy_attachments')
        .where('principal_type', '=', type)
        .where('principal_id', '=', id)
        .where('policy_name', '=', name)
        .executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) throw new AppError('NOT_FOUND', `policy "${name}" is not attached`);
    }
  }

  function attachAudited(type: PrincipalType, id: string, names: readonly string[], audit?: TxAudit) {
    return audited(db, audit, (trx) => attach(type, id, names, trx));
  }

  function detachAudited(type: PrincipalType, id: string, names: readonly string[], audit?: TxAudit) {
    return audited(db, audit, (trx) => detach(type, id, names, trx));
  }

  async function detachAll(type: PrincipalType, id: string, trx: Db = db): Promise<void> {
    await trx
      .deleteFrom('policy_attachments')
      .where('principal_type', '=', type)
      .where('principal_id', '=', id)
      .execute();
  }

  return {
    ensureBuiltins,
    policiesFor,
    namesFor,
    list,
    get,
    put,
    remove,
    attach,
    detach,
    attachAudited,
    detachAudited,
    detachAll,
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
