import { KeyboxError } from '../client/keybox-error.js';

/*
 * Secret references inside values, expanded by `keybox run`, `keybox export` and the SDK with the caller's own
 * permissions:
 *
 *   ${KEY}                   KEY in the same scope as the value that mentions it
 *   ${env.KEY}               KEY in the root folder of environment `env` (same project)
 *   ${env./folder/path.KEY}  KEY in that folder of environment `env`
 *   $${                      a literal "${"
 *
 * References nest up to 10 deep. A reference to a secret that does not exist, one the caller may not read, or a
 * cycle is an error naming the secret: never a silently unexpanded literal.
 */

export const MAX_REFERENCE_DEPTH = 10;

export interface Reference {
  /** Another environment, or undefined for the value's own scope. */
  env: string | undefined;
  /** A folder in that environment ('/' when only the environment is named). */
  path: string | undefined;
  name: string;
  /** The text as written, e.g. `${prod./db.PASSWORD}`. */
  raw: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

/** A scope a value can live in: the run's own merged scope (`local`), or a folder of another environment. */
export type ScopeKey = 'local' | `${string}:${string}`;

export function scopeKey(env: string, path: string): ScopeKey {
  return `${env}:${path}`;
}

function parseBody(body: string, raw: string): Reference | undefined {
  const dot = body.indexOf('.');
  if (dot === -1) return NAME.test(body) ? { env: undefined, path: undefined, name: body, raw } : undefined;
  const env = body.slice(0, dot);
  const rest = body.slice(dot + 1);
  if (!ENV.test(env)) return undefined;
  if (!rest.startsWith('/')) return NAME.test(rest) ? { env, path: '/', name: rest, raw } : undefined;
  const last = rest.lastIndexOf('.');
  if (last <= 0) return undefined;
  const path = rest.slice(0, last).replace(/\/+$/, '') || '/';
  const name = rest.slice(last + 1);
  return NAME.test(name) ? { env, path, name, raw } : undefined;
}

/** Splits a value into literal text and references. Malformed `${…}` is an error (it was meant as a reference). */
export function parseValue(value: string, owner: string): (string | Reference)[] {
  const parts: (string | Reference)[] = [];
  let text = '';
  let i = 0;
  while (i < value.length) {
    if (value.startsWith('$${', i)) {
      text += '${';
      i += 3;
      continue;
    }
    if (value.startsWith('${', i)) {
      const end = value.indexOf('}', i + 2);
      const raw = end === -1 ? value.slice(i) : value.slice(i, end + 1);
      const ref = end === -1 ? undefined : parseBody(value.slice(i + 2, end), raw);
      if (ref === undefined) {
        throw new KeyboxError(
          'INVALID_INPUT',
          `${owner} holds a malformed reference (use \${KEY}, \${env.KEY} or \${env./path.KEY}; write $\${ for a literal \${)`,
        );
      }
      if (text !== '') parts.push(text);
      text = '';
      parts.push(ref);
      i = end + 1;
      continue;
    }
    text += value[i] as string;
    i += 1;
  }
  if (text !== '') parts.push(text);
  return parts;
}

/** Whether a value mentions any reference (or the `$${` escape) at all: most do not, and skip all the work. */
export function hasReferences(value: string): boolean {
  return value.includes('${');
}

/** The other scopes the values refer to, to fetch before expanding. */
export function referencedScopes(values: Iterable<[owner: string, value: string]>): Set<ScopeKey> {
  const scopes = new Set<ScopeKey>();
  for (const [owner, value] of values) {
    if (!hasReferences(value)) continue;
    for (const part of parseValue(value, owner)) {
      if (typeof part !== 'string' && part.env !== undefined) scopes.add(scopeKey(part.env, part.path ?? '/'));
    }
  }
  return scopes;
}

export type ScopeValues = ReadonlyMap<string, string>;

/**
 * Expands every value of the local scope. `scopes` holds the other scopes' values as fetched with the caller's
 * permissions; a scope that is missing there was not readable (or does not exist) and referring to it is an error.
 */
export function expandAll(local: ScopeValues, scopes: ReadonlyMap<ScopeKey, ScopeValues>): Map<string, string> {
  // Memoised with the depth of each value's reference chain, so the limit holds whatever order values expand in.
  const done = new Map<string, { value: string; depth: number }>();
  const resolving: string[] = [];

  function lookup(scope: ScopeKey, name: string, via: string) {
    const values = scope === 'local' ? local : scopes.get(scope);
    if (values === undefined) {
      throw new KeyboxError('NOT_FOUND', `${via} refers to ${scope.replace(':', ' ')}, which cannot be read`);
    }
    const value = values.get(name);
    if (value === undefined) throw new KeyboxError('NOT_FOUND', `${via} refers to ${name}, which does not exist there`);
    return expand(scope, name, value);
  }

  function expand(scope: ScopeKey, name: string, value: string): { value: string; depth: number } {
    const id = `${scope}\0${name}`;
    const cached = done.get(id);
    if (cached !== undefined) return cached;
    if (!hasReferences(value)) return { value, depth: 0 };
    if (resolving.includes(id)) {
      const cycle = [...resolving.slice(resolving.indexOf(id)), id].map((r) => r.split('\0')[1]).join(' -> ');
      throw new KeyboxError('CONFLICT', `reference cycle: ${cycle}`);
    }
    if (resolving.length > MAX_REFERENCE_DEPTH) {
      throw new KeyboxError('CONFLICT', `${name}: references nest deeper than ${MAX_REFERENCE_DEPTH}`);
    }
    resolving.push(id);
    let out = '';
    let depth = 0;
    for (const part of parseValue(value, name)) {
      if (typeof part === 'string') {
        out += part;
        continue;
      }
      const target = part.env === undefined ? scope : scopeKey(part.env, part.path ?? '/');
      const inner = lookup(target, part.name, name);
      out += inner.value;
      depth = Math.max(depth, inner.depth + 1);
    }
    resolving.pop();
    if (depth > MAX_REFERENCE_DEPTH) {
      throw new KeyboxError('CONFLICT', `${name}: references nest deeper than ${MAX_REFERENCE_DEPTH}`);
    }
    const result = { value: out, depth };
    done.set(id, result);
    return result;
  }

  const result = new Map<string, string>();
  for (const [name, value] of local) result.set(name, expand('local', name, value).value);
  return result;
}
