import { AppError, notFound } from '../app-error.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from '../store/database.js';
import { assertPath, findFolder, resolveEnvironment, valueContext, type Scope } from './locations.js';

/** One revision of a folder as a whole, and how many secrets it left live (0: the revision emptied the folder). */
export interface FolderVersion {
  revision: number;
  createdAt: string;
  createdBy: string;
  action: string;
  live: number;
}

/** A folder's contents as they stood at one revision. */
export interface FolderAtRevision {
  path: string;
  revision: number;
  /** The folder's current revision. */
  current: number;
  createdAt: string;
  secrets: { name: string; value: string; version: number }[];
  customMetadata: CustomMetadata | null;
}

/**
 * Each secret of a folder (deleted ones too) at the version it had at `revision`: the last version written at or
 * before it. Secrets created after it are absent.
 */
export async function versionsAt(db: Db, folderId: string, revision: number) {
  const versions = await db
    .selectFrom('secret_versions as v')
    .innerJoin('secrets as s', 's.id', 'v.secret_id')
    .select(['s.name', 'v.version', 'v.op', 'v.value'])
    .where('s.folder_id', '=', folderId)
    .where('v.folder_revision', '<=', revision)
    .orderBy('v.version')
    .execute();
  const atRevision = new Map<string, (typeof versions)[number]>();
  for (const v of versions) atRevision.set(v.name, v);
  return atRevision;
}

/** A folder's custom metadata: string keys to string values. */
export type CustomMetadata = Record<string, string>;

/** The stored custom metadata (JSON text), checked to be an object of strings; anything else reads as none. */
export function parseCustomMetadata(text: string | null): CustomMetadata | null {
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
    const map = Object.create(null) as CustomMetadata;
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) if (typeof v === 'string') map[key] = v;
    return map;
  } catch {
    return null;
  }
}

/** The newest revisions `versions` reports. */
export const FOLDER_VERSIONS_MAX = 1000;

export interface FolderVersionsDeps {
  db: Db;
  keyring: Pick<Keyring, 'decrypt'>;
}

/**
 * A folder's revisions read as versions of the whole folder (the Vault KV v2 view of it): its contents at any
 * revision, and every revision with what it left live. Both are derived from the version rows, the store's truth.
 */
export function createFolderVersions({ db, keyring }: FolderVersionsDeps) {
  /** The live secrets of a folder at `revision`, each at the version it had then. */
  async function folderAt(scope: Scope, revision: number): Promise<FolderAtRevision> {
    const ref = await resolveEnvironment(db, scope.project, scope.env);
    const path = assertPath(scope.path);
    const folder = await findFolder(db, ref, path);
    const row = await db
      .selectFrom('folder_revisions')
      .select(['created_at'])
      .where('folder_id', '=', folder.id)
      .where('revision', '=', revision)
      .executeTakeFirst();
    if (row === undefined) {
      throw notFound(`folder ${path} has no revision ${revision} (it is at ${folder.revision})`, { path, revision });
    }
    const atRevision = await versionsAt(db, folder.id, revision);
    const secrets: FolderAtRevision['secrets'] = [];
    for (const [name, v] of [...atRevision.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (v.op === 'delete') continue;
      if (v.value === null) {
        throw new AppError('VALUE_DESTROYED', `the value of ${name} version ${v.version} was destroyed`, {
          name,
          version: v.version,
          revision,
        });
      }
      const value = keyring.decrypt(v.value, valueContext(ref, path, name, v.version)).toString('utf8');
      secrets.push({ name, value, version: v.version });
    }
    return {
      path,
      revision,
      current: folder.revision,
      createdAt: row.created_at,
      secrets,
      customMetadata: parseCustomMetadata(folder.custom_metadata),
    };
  }

  /** The folder's revisions, oldest first (the newest FOLDER_VERSIONS_MAX of them), with what each left live. */
  async function folderVersions(scope: Scope): Promise<{
    path: string;
    current: number;
    versions: FolderVersion[];
    customMetadata: CustomMetadata | null;
  }> {
    const ref = await resolveEnvironment(db, scope.project, scope.env);
    const path = assertPath(scope.path);
    const folder = await findFolder(db, ref, path);
    const revisions = await db
      .selectFrom('folder_revisions')
      .select(['revision', 'created_at', 'created_by', 'action'])
      .where('folder_id', '=', folder.id)
      .orderBy('revision')
      .execute();
    const changes = await db
      .selectFrom('secret_versions as v')
      .innerJoin('secrets as s', 's.id', 'v.secret_id')
      .select(['s.name', 'v.op', 'v.folder_revision'])
      .where('s.folder_id', '=', folder.id)
      .orderBy('v.folder_revision')
      .execute();
    const live = new Set<string>();
    let next = 0;
    const versions = revisions.map((r): FolderVersion => {
      for (; next < changes.length && (changes[next]?.folder_revision ?? 0) <= r.revision; next++) {
        const change = changes[next] as (typeof changes)[number];
        if (change.op === 'delete') live.delete(change.name);
        else live.add(change.name);
      }
      return {
        revision: r.revision,
        createdAt: r.created_at,
        createdBy: r.created_by,
        action: r.action,
        live: live.size,
      };
    });
    return {
      path,
      current: folder.revision,
      versions: versions.slice(-FOLDER_VERSIONS_MAX),
      customMetadata: parseCustomMetadata(folder.custom_metadata),
    };
  }

  return { folderAt, folderVersions };
}
