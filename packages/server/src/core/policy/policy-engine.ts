import { isWithinFolder } from '@keybox/sdk';
import { compileGlob, globReachesBelow } from './path-glob.js';
import type { Capability, PolicyRule } from './policy-rules.js';

/*
 * Deny by default. A request is allowed when at least one rule of the caller's policies allows it and no rule
 * denies it: an explicit deny always wins.
 */

/** What is being asked. Without a project the request is system-wide (users, identities, policies, audit...). */
export interface AccessRequest {
  capability: Capability;
  project?: string;
  env?: string;
  path?: string;
}

export type Decision = { allowed: true } | { allowed: false; reason: 'denied' | 'no-rule' };

interface CompiledRule {
  rule: PolicyRule;
  matchPath: (path: string) => boolean;
}

export interface CompiledPolicy {
  name: string;
  rules: CompiledRule[];
}

export function compilePolicy(name: string, rules: PolicyRule[]): CompiledPolicy {
  return {
    name,
    rules: rules.map((rule) => {
      const globs = rule.paths.map((p) => compileGlob(p)).flatMap((g) => (g.ok ? [g.match] : []));
      return { rule, matchPath: (path: string) => globs.some((m) => m(path)) };
    }),
  };
}

/*
 * A request without an environment acts on a whole project (rename it, delete it), and one without a project on
 * everything (users, identities, policies). An allow rule grants that only if it covers the whole of it: every
 * environment and every folder (and, system-wide, every project). A deny rule blocks it if it touches any part.
 */
function ruleMatches(compiled: CompiledRule, request: AccessRequest): boolean {
  const { rule } = compiled;
  if (!rule.capabilities.includes(request.capability)) return false;
  const allow = rule.effect === 'allow';
  const everyEnv = rule.environments.includes('*');
  const everyPath = rule.paths.includes('/**');
  if (request.project === undefined) return allow ? rule.projects.includes('*') && everyEnv && everyPath : true;
  if (!rule.projects.includes('*') && !rule.projects.includes(request.project)) return false;
  if (request.env === undefined) return allow ? everyEnv && everyPath : true;
  if (!everyEnv && !rule.environments.includes(request.env)) return false;
  if (request.path === undefined) return allow ? everyPath : true;
  return compiled.matchPath(request.path);
}

export function decide(policies: readonly CompiledPolicy[], request: AccessRequest): Decision {
  let allowed = false;
  for (const policy of policies) {
    for (const rule of policy.rules) {
      if (!ruleMatches(rule, request)) continue;
      if (rule.rule.effect === 'deny') return { allowed: false, reason: 'denied' };
      allowed = true;
    }
  }
  return allowed ? { allowed: true } : { allowed: false, reason: 'no-rule' };
}

/** Whether the caller can see a project at all (any allow rule naming it or `*`). */
export function canSeeProject(policies: readonly CompiledPolicy[], project: string): boolean {
  return policies.some((p) =>
    p.rules.some(
      (r) => r.rule.effect === 'allow' && (r.rule.projects.includes('*') || r.rule.projects.includes(project)),
    ),
  );
}

/**
 * Whether some folder at or below `path` may be allowed `capability` (so a recursive request is worth answering
 * with the allowed part rather than refused outright).
 */
export function mayReachBelow(
  policies: readonly CompiledPolicy[],
  request: Required<Pick<AccessRequest, 'capability' | 'project' | 'env' | 'path'>>,
): boolean {
  const applies = (rule: PolicyRule) =>
    rule.capabilities.includes(request.capability) &&
    (rule.projects.includes('*') || rule.projects.includes(request.project)) &&
    (rule.environments.includes('*') || rule.environments.includes(request.env));
  // A deny of the folder and everything below it (`/x/**` at or above the path) closes the whole subtree.
  const closed = policies.some((p) =>
    p.rules.some(
      ({ rule }) =>
        rule.effect === 'deny' &&
        applies(rule) &&
        rule.paths.some((glob) => glob.endsWith('/**') && isWithinFolder(request.path, glob.slice(0, -3) || '/')),
    ),
  );
  if (closed) return false;
  return policies.some((p) =>
    p.rules.some(
      ({ rule }) =>
        rule.effect === 'allow' && applies(rule) && rule.paths.some((glob) => globReachesBelow(glob, request.path)),
    ),
  );
}
