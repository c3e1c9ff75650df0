import {
  expandAll,
  isKeyboxError,
  mergeFolders,
  referencedScopes,
  scopeKey,
  type KeyboxClient,
  type ScopeKey,
} from '@keybox/sdk';
import { CliError } from '../errors.js';

/**
 * Expands `${…}` references in the merged values. References to other environments or folders are fetched with
 * the caller's own token (one bulk read per scope), following references found in what was fetched, so a chain
 * across scopes resolves; a scope the caller may not read stays absent and referring to it is an error.
 */
export async function expandScope(
  local: ReadonlyMap<string, string>,
  project: string,
  client: KeyboxClient | undefined,
): Promise<Map<string, string>> {
  const scopes = new Map<ScopeKey, Map<string, string>>();
  const tried = new Set<ScopeKey>();
  let pending = referencedScopes(local);
  for (let round = 0; pending.size > 0 && round < 10; round++) {
    if (client === undefined) {
      throw new CliError('UNREACHABLE', 'values refer to other environments or folders, which need the server', {
        hint: 'pass --no-expand to use the values as they are',
      });
    }
    const found: [string, string][] = [];
    for (const key of pending) {
      tried.add(key);
      const [env, path] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
      try {
        const result = await client.bulkRead({ project, env, paths: [path] });
        if (result.notModified) continue;
        const values = new Map([...mergeFolders(result.data.folders).secrets].map(([n, s]) => [n, s.value]));
        scopes.set(scopeKey(env, path), values);
        found.push(...values);
      } catch (error) {
        if (!isKeyboxError(error) || (error.status !== 403 && error.status !== 404)) throw error;
      }
    }
    pending = new Set([...referencedScopes(found)].filter((k) => !tried.has(k)));
  }
  try {
    return expandAll(local, scopes);
  } catch (error) {
    if (isKeyboxError(error))
      throw new CliError(error.code, error.message, { hint: 'pass --no-expand to use the values as they are' });
    throw error;
  }
}
