import { z } from 'zod';
import { compileGlob } from './path-glob.js';

export const CAPABILITIES = ['read', 'list', 'write', 'delete', 'admin'] as const;
export type Capability = (typeof CAPABILITIES)[number];

/**
 * One policy rule. `*` in projects or environments means any; paths are folder globs (see path-glob.ts).
 *
 * - read: secret values (bulk read, get, export, run)
 * - list: names, versions, history and folders — never values
 * - write: set, import, rollback
 * - delete: delete and destroy
 * - admin: on a project, its environments and settings; on project `*`, everything else too (projects, users,
 *   identities, policies, tokens, the audit log)
 */
export interface PolicyRule {
  effect: 'allow' | 'deny';
  projects: string[];
  environments: string[];
  paths: string[];
  capabilities: Capability[];
}

const slugOrAny = z.string().regex(/^(\*|[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)$/, 'a slug or *');

const ruleSchema = z
  .object({
    effect: z.enum(['allow', 'deny']).default('allow'),
    projects: z.array(slugOrAny).min(1).max(100),
    environments: z.array(slugOrAny).min(1).max(100).default(['*']),
    paths: z.array(z.string().max(512)).min(1).max(100).default(['/**']),
    capabilities: z.array(z.enum(CAPABILITIES)).min(1),
  })
  .strict();

export type RulesCheck = { ok: true; rules: PolicyRule[] } | { ok: false; errors: string[] };

/** Validates rules given as JSON (API or CLI); reports every problem with its rule number and field. */
export function parseRules(input: unknown): RulesCheck {
  const parsed = z.array(ruleSchema).min(1, 'a policy needs at least one rule').max(200).safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map(
        (i) => `${i.path.length === 0 ? 'rules' : `rule ${i.path.join('.')}`}: ${i.message}`,
      ),
    };
  }
  const errors: string[] = [];
  parsed.data.forEach((rule, i) => {
    for (const path of rule.paths) {
      const glob = compileGlob(path);
      if (!glob.ok) errors.push(`rule ${i}.paths: ${glob.reason}`);
    }
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, rules: parsed.data };
}
