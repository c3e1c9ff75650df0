import type { BulkFolder } from '../contract/api-types.js';

export interface MergedSecret {
  value: string;
  version: number;
  path: string;
}

export interface Shadowed {
  name: string;
  /** The folder whose value is used. */
  winner: string;
  /** Folders whose value for the same name is not used, in the order they were seen. */
  losers: string[];
}

export interface MergeResult {
  secrets: Map<string, MergedSecret>;
  shadowed: Shadowed[];
}

/**
 * Merges the folders of a bulk read in precedence order: a later folder wins over an earlier one (the later
 * `--path`, or the deeper folder of a recursive read). Every name held by more than one folder is reported, so
 * callers can warn.
 */
export function mergeFolders(folders: readonly BulkFolder[]): MergeResult {
  const secrets = new Map<string, MergedSecret>();
  const losers = new Map<string, string[]>();
  for (const folder of folders) {
    for (const secret of folder.secrets) {
      const previous = secrets.get(secret.name);
      if (previous !== undefined) {
        const list = losers.get(secret.name) ?? [];
        list.push(previous.path);
        losers.set(secret.name, list);
      }
      secrets.set(secret.name, { value: secret.value, version: secret.version, path: folder.path });
    }
  }
  const shadowed: Shadowed[] = [];
  for (const [name, list] of losers) {
    const winner = secrets.get(name);
    if (winner !== undefined) shadowed.push({ name, winner: winner.path, losers: list });
  }
  return { secrets, shadowed };
}
