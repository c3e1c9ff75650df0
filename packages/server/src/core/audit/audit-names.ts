import { createHash } from 'node:crypto';
import type { Db } from '../store/database.js';

/*
 * A bulk read records every name and version it served (PRODUCT.md: "what (names, version)"). The same folder
 * revision is read again and again, so its list is stored once in `audit_names`, keyed by its SHA-256, and the
 * entry holds `"secrets": {"sha256": "…"}` instead: the entry's mac covers the hash, the hash covers the list, so the
 * record stays tamper-evident (`verify` checks every referenced list). Listing and streaming put the list back.
 */

export interface NamesList {
  /** SHA-256 of `names`, base64url. */
  hash: string;
  /** JSON `[[name, version], …]` as the store wrote it. */
  names: string;
}

export function namesList(names: string): NamesList {
  return { hash: hashNames(names), names };
}

export function hashNames(names: string): string {
  return createHash('sha256').update(names).digest('base64url');
}

/** The stored lists for `hashes` (those found), by hash, a few hundred per query. */
export async function loadNamesLists(db: Db, hashes: Iterable<string>): Promise<Map<string, string>> {
  const wanted = [...new Set(hashes)];
  const lists = new Map<string, string>();
  for (let at = 0; at < wanted.length; at += 500) {
    const found = await db
      .selectFrom('audit_names')
      .select(['hash', 'names'])
      .where('hash', 'in', wanted.slice(at, at + 500))
      .execute();
    for (const f of found) lists.set(f.hash, f.names);
  }
  return lists;
}

/** The names lists `entries` carry, by hash. */
export function listsOf(entries: readonly { namesLists?: readonly NamesList[] | undefined }[]): Map<string, string> {
  const lists = new Map<string, string>();
  for (const entry of entries) for (const list of entry.namesLists ?? []) lists.set(list.hash, list.names);
  return lists;
}

/** What stands in an entry for a list. */
export function namesRef(hash: string): string {
  return `{"sha256":${JSON.stringify(hash)}}`;
}

/** The hashes an entry's stored details refer to; none for most entries (found without parsing), or unreadable. */
export function referencedHashes(details: string): string[] {
  if (!details.includes('"sha256"')) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(details);
  } catch {
    return []; // an edited entry: its mac says so
  }
  return foldersOf(parsed).flatMap((folder) => (isRef(folder['secrets']) ? [folder['secrets'].sha256] : []));
}

/**
 * The details with every referenced list put back (`secrets: [[name, version], …]`). A list that cannot be found
 * stays a reference marked `missing`; one that does not match its hash (edited in the database), `altered`.
 */
export function expandNames(details: unknown, lookup: (hash: string) => string | undefined): unknown {
  for (const folder of foldersOf(details)) {
    const ref = folder['secrets'];
    if (!isRef(ref)) continue;
    const names = lookup(ref.sha256);
    folder['secrets'] =
      names === undefined
        ? { sha256: ref.sha256, missing: true }
        : (parseList(names, ref.sha256) ?? { sha256: ref.sha256, altered: true });
  }
  return details;
}

function parseList(names: string, hash: string): unknown[] | undefined {
  if (hashNames(names) !== hash) return undefined;
  try {
    const list = JSON.parse(names) as unknown;
    return Array.isArray(list) ? list : undefined;
  } catch {
    return undefined;
  }
}

function foldersOf(details: unknown): Record<string, unknown>[] {
  if (typeof details !== 'object' || details === null) return [];
  const folders = (details as { folders?: unknown }).folders;
  return Array.isArray(folders)
    ? folders.filter((f): f is Record<string, unknown> => typeof f === 'object' && f !== null)
    : [];
}

function isRef(value: unknown): value is { sha256: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as { sha256?: unknown }).sha256 === 'string'
  );
}
