import { createHash } from 'node:crypto';
import {
  folderDepth,
  isWithinFolder,
  type FolderInfo,
  type FolderRevisionInfo,
  type SecretMeta,
  type SecretVersionInfo,
  type SecretWithValue,
  type VersionOp,
} from '@keybox/sdk';
import type { CompiledQuery } from 'kysely';
import { AppError, notFound } from '../app-error.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from '../store/database.js';
import type { StoreChanges } from '../store/store-changes.js';
import { prepared } from '../store/prepared.js';
import { parseCustomMetadata } from './folder-versions.js';
import {
  assertPath,
  bundleContext,
  findFolder,
  findSecret,
  pathFilter,
  resolveEnvironment,
  valueContext,
  type EnvRef,
  type Scope,
} from './locations.js';

/** The folders a bulk read covered, with the names and versions served (JSON `[[name, version]]`): for the audit. */
export type BulkFolderIndex = { path: string; revision: number; names: string | null }[];

export type BulkReadOutcome =
  | { status: 304; etag: string; folders: BulkFolderIndex }
  | {
      status: 200;
      etag: string;
      /** The response body, built from the decrypted bundles without re-serialising values. */
      body: Buffer<ArrayBuffer>;
      folders: BulkFolderIndex;
    };

/** One folder as `readFolder` returns it. */
export interface FolderRead {
  path: string;
  revision: number;
  /** When the current revision was written. */
  updatedAt: string;
  /** How many live secrets the folder holds. */
  count: number;
  /** Its live secrets as a JSON object, name → value (the data map of a Vault KV read). */
  dataJson: string;
  /** Its custom metadata as JSON text (an object of strings), or `null`. */
  customMetadataJson: string;
  folders: BulkFolderIndex;
}

const EMPTY_BUNDLE = Buffer.from('[]');

export interface SecretReadsDeps {
  db: Db;
  keyring: Pick<Keyring, 'decrypt'>;
  /** Where the store says it changed; without it every bulk read queries the store. */
  storeChanges?: StoreChanges | undefined;
}

/** Scopes whose folder rows are kept while the store is unchanged, and the bytes of bundles kept with them. */
const SCOPES_MAX = 2048;
const SCOPE_BYTES_MAX = 16 * 1024 * 1024;
/** What a kept row costs besides its strings and bundle (objects, ids, map entries), roughly. */
const ROW_OVERHEAD = 256;

/** Everything that reads secrets and folders; nothing here writes. */
export function createSecretReads({ db, keyring, storeChanges }: SecretReadsDeps) {
  // One prepared query per shape of request (how many paths, which of them recursive from the root).
  const bulkQueries = new Map<string, ReturnType<typeof bulkQuery>>();

  function bulkQuery(kinds: readonly ('exact' | 'below' | 'all')[]) {
    return prepared(
      db
        .selectFrom('folders as f')
        .innerJoin('environments as e', 'e.id', 'f.environment_id')
        .innerJoin('projects as p', 'p.id', 'e.project_id')
        .select([
          'f.id',
          'f.path',
          'f.revision',
          'f.bundle',
          'f.names',
          'f.updated_at',
          'f.custom_metadata',
          'e.id as envId',
          'p.id as projectId',
        ])
        .where('p.slug', '=', '')
        .where('e.slug', '=', '')
        .where((eb) =>
          eb.or(
            kinds.map((kind) =>
              kind === 'all'
                ? eb('f.path', '>=', '')
                : kind === 'exact'
                  ? eb('f.path', '=', '')
                  : eb.or([eb('f.path', '=', ''), eb.and([eb('f.path', '>', ''), eb('f.path', '<', '')])]),
            ),
          ),
        ),
    );
  }

  /*
   * Each scope's folder rows as read at a store version, kept while nothing was committed since (see
   * store/store-changes.ts): an unchanged scope costs no query. A row's decrypted bundle is kept with it, since
   * the row is the exact ciphertext it came from; it is dropped with the row. This holds nothing the process could
   * not decrypt at will (its keys are in memory too), and the whole cache is bounded in entries and in bytes.
   */
  type ScopeRow = ReturnType<ReturnType<typeof bulkQuery>> extends CompiledQuery<infer R> ? R : never;
  interface ScopeEntry {
    version: number | undefined;
    rows: ScopeRow[];
    /** What it holds, roughly: bundles (and plaintexts, once decrypted), names, paths and a per-row allowance. */
    bytes: number;
    /** Whether it is in `scopes` (and counted in `cachedBytes`). */
    kept: boolean;
    /** Order and ETag when no policy filter applies (the same for every caller). */
    unfiltered?: { ordered: ScopeRow[]; etag: string };
    /** The bulk read's whole body for `unfiltered`, once built (kept like a plaintext, while there is room). */
    body?: Buffer<ArrayBuffer>;
  }
  const scopes = new Map<string, ScopeEntry>();
  const plaintexts = new WeakMap<ScopeRow, Buffer>();
  /** A row's live secrets as a name → value JSON object (readFolder), kept like its plaintext. */
  const dataMaps = new WeakMap<ScopeRow, { count: number; json: string; meta: string }>();
  const namesChecked = new WeakSet<ScopeRow>();
  let cachedBytes = 0;

  function drop(key: string): void {
    const entry = scopes.get(key);
    if (entry === undefined) return;
    scopes.delete(key);
    entry.kept = false;
    cachedBytes -= entry.bytes;
  }

  function forget(): void {
    for (const entry of scopes.values()) entry.kept = false;
    scopes.clear();
    cachedBytes = 0;
  }

  async function scopeEntry(shape: string, query: ReturnType<typeof bulkQuery>, parameters: unknown[]) {
    const version = storeChanges?.version('secrets');
    const key = version === undefined ? '' : `${shape}\u0000${parameters.join('\u0000')}`;
    const hit = version === undefined ? undefined : scopes.get(key);
    if (hit !== undefined && hit.version === version) return hit;
    const rows = (await db.executeQuery(query(...parameters))).rows;
    const bytes = rows.reduce(
      (n, r) => n + ROW_OVERHEAD + (r.bundle?.length ?? 0) + (r.names?.length ?? 0) + r.path.length,
      0,
    );
    const entry: ScopeEntry = { version, rows, bytes, kept: false };
    // A scope with no folder is answered 404: nothing to keep.
    if (version === undefined || rows.length === 0) return entry;
    // Whatever is in the map now (concurrent misses of one scope each read it; the last one stays).
    drop(key);
    if (entry.bytes > SCOPE_BYTES_MAX) return entry;
    if (scopes.size >= SCOPES_MAX || cachedBytes + entry.bytes > SCOPE_BYTES_MAX) forget();
    scopes.set(key, entry);
    entry.kept = true;
    cachedBytes += entry.bytes;
    return entry;
  }

  /**
   * A folder's names index (JSON text the audit entry embeds as is), checked to be a JSON list once per row read:
   * text that is not cannot reach the audit log however the database was edited.
   */
  function checkedNames(row: ScopeRow): string | null {
    if (row.names === null || namesChecked.has(row)) return row.names;
    if (!Array.isArray(JSON.parse(row.names))) throw new SyntaxError('a folder names index is not a JSON list');
    namesChecked.add(row);
    return row.names;
  }

  /**
   * What a read of these folders served, for the audit entry. Kept with a kept order (the same array object for
   * every read of an unchanged scope), so the audit layer can reuse what it derives from it.
   */
  const indexes = new WeakMap<readonly ScopeRow[], BulkFolderIndex>();
  function folderIndex(ordered: readonly ScopeRow[]): BulkFolderIndex {
    const kept = indexes.get(ordered);
    if (kept !== undefined) return kept;
    const folders = ordered.map((r) => ({ path: r.path, revision: r.revision, names: checkedNames(r) }));
    // Folders written before the names column existed get their names from the bundle, per read (see bulkRead).
    if (folders.every((f) => f.names !== null)) indexes.set(ordered, folders);
    return folders;
  }

  /** A row's bundle decrypted, kept with the row while its entry is cached and there is room. */
  function plaintextOf(row: ScopeRow, ref: EnvRef, entry: ScopeEntry): Buffer {
    if (row.bundle === null) return EMPTY_BUNDLE;
    const kept = plaintexts.get(row);
    if (kept !== undefined) return kept;
    const plain = keyring.decrypt(row.bundle, bundleContext(ref, row.path, row.revision));
    if (entry.kept && cachedBytes + plain.length <= SCOPE_BYTES_MAX) {
      plaintexts.set(row, plain);
      entry.bytes += plain.length;
      cachedBytes += plain.length;
    }
    return plain;
  }

  /** The folders in scope, in precedence order, with their ETag: one indexed query at most, nothing decrypted. */
  async function loadScope(
    project: string,
    env: string,
    rawPaths: readonly string[],
    recursive: boolean,
    allow: ((path: string) => boolean) | undefined,
  ) {
    const paths = (rawPaths.length === 0 ? ['/'] : rawPaths).map(assertPath);
    const kinds = paths.map((path): 'exact' | 'below' | 'all' =>
      !recursive ? 'exact' : path === '/' ? 'all' : 'below',
    );
    const shape = kinds.join(',');
    let query = bulkQueries.get(shape);
    if (query === undefined) {
      query = bulkQuery(kinds);
      bulkQueries.set(shape, query);
    }
    const parameters: unknown[] = [project, env];
    paths.forEach((path, i) => {
      if (kinds[i] === 'exact') parameters.push(path);
      else if (kinds[i] === 'all') parameters.push('/');
      else {
        const range = pathFilter(path, recursive);
        parameters.push(path, range.lower, range.upper);
      }
    });
    const entry = await scopeEntry(shape, query, parameters);
    if (entry.rows.length === 0) {
      const ref = await resolveEnvironment(db, project, env);
      throw notFound(`folder ${paths[0] ?? '/'} does not exist in ${ref.project}/${ref.env}`, { path: paths[0] });
    }
    if (allow !== undefined) {
      const filtered = entry.rows.filter((r) => allow(r.path));
      return { entry, ...orderScope(filtered, paths, { project, env, recursive, filtered: true }) };
    }
    entry.unfiltered ??= orderScope(entry.rows, paths, { project, env, recursive, filtered: false });
    return { entry, ...entry.unfiltered };
  }

  /**
   * Precedence order: each requested path in turn, its folder then descendants by depth; a folder named by two
   * requests keeps its last place. The ETag covers exactly the folders served, with their revisions.
   */
  function orderScope(
    rows: ScopeRow[],
    paths: readonly string[],
    { project, env, recursive, filtered }: { project: string; env: string; recursive: boolean; filtered: boolean },
  ) {
    const ordered: ScopeRow[] = [];
    for (const path of paths) {
      const matching = rows
        .filter((r) => (recursive ? isWithinFolder(r.path, path) : r.path === path))
        .sort((a, b) => folderDepth(a.path) - folderDepth(b.path) || (a.path < b.path ? -1 : 1));
      if (matching.length === 0 && !filtered) {
        throw notFound(`folder ${path} does not exist in ${project}/${env}`, { path });
      }
      for (const row of matching) {
        const at = ordered.indexOf(row);
        if (at !== -1) ordered.splice(at, 1);
        ordered.push(row);
      }
    }
    if (ordered.length === 0) throw notFound(`no folder in scope exists in ${project}/${env}`, { paths });

    const hash = createHash('sha256').update(recursive ? 'v1|r|' : 'v1|f|');
    for (const row of ordered) hash.update(`${row.id}:${row.revision};`);
    return { ordered, etag: `"${hash.digest('base64url').slice(0, 27)}"` };
  }

  /** The scope's current ETag, for watchers: what a bulk read would answer, without decrypting anything. */
  async function scopeEtag(
    project: string,
    env: string,
    paths: readonly string[],
    recursive: boolean,
    allow?: (path: string) => boolean,
  ): Promise<string> {
    return (await loadScope(project, env, paths, recursive, allow)).etag;
  }

  /**
   * The hot path: every live secret in scope in one response, one decrypt per folder. The ETag is derived from the
   * folders' ids and revisions before anything is decrypted, so an unchanged scope costs one indexed query.
   * `allow` filters folders (policies): the ones it refuses are neither returned nor part of the ETag.
   */
  async function bulkRead(
    project: string,
    env: string,
    rawPaths: readonly string[],
    recursive: boolean,
    options: { ifNoneMatch?: string | undefined; allow?: ((path: string) => boolean) | undefined } = {},
  ): Promise<BulkReadOutcome> {
    const { ordered, etag, entry } = await loadScope(project, env, rawPaths, recursive, options.allow);
    const folders = folderIndex(ordered);
    // If-None-Match uses the weak comparison (RFC 9110 13.1.2): a proxy that compresses may have added W/.
    const ifNoneMatch = options.ifNoneMatch;
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) {
      return { status: 304, etag, folders };
    }

    // An unfiltered read of an unchanged scope answers the body built for the first one: every start of an app
    // asks for the same, and building 17 KB per read (200 secrets) was a tenth of the loop's time per request.
    const whole = entry.unfiltered?.ordered === ordered;
    if (whole && entry.body !== undefined) return { status: 200, etag, body: entry.body, folders };
    const parts: Buffer[] = [
      Buffer.from(`{"project":${JSON.stringify(project)},"environment":${JSON.stringify(env)},"folders":[`),
    ];
    ordered.forEach((row, i) => {
      const ref: EnvRef = { projectId: row.projectId, envId: row.envId, project, env };
      const plain = plaintextOf(row, ref, entry);
      // Folders written before the names column existed: take the names from the bundle itself.
      if (row.names === null && row.bundle !== null) {
        const entries = JSON.parse(plain.toString('utf8')) as { name: string; version: number }[];
        (folders[i] as { names: string | null }).names = JSON.stringify(entries.map((e) => [e.name, e.version]));
      }
      parts.push(
        Buffer.from(`${i === 0 ? '' : ','}{"path":${JSON.stringify(row.path)},"revision":${row.revision},"secrets":`),
        plain,
        Buffer.from('}'),
      );
    });
    parts.push(Buffer.from(']}'));
    const body = Buffer.concat(parts);
    // Only a body every part of which is kept (legacy folders without a names column build their index per read).
    if (whole && entry.kept && indexes.has(ordered) && cachedBytes + body.length <= SCOPE_BYTES_MAX) {
      entry.body = body;
      entry.bytes += body.length;
      cachedBytes += body.length;
    }
    return { status: 200, etag, body, folders };
  }

  /**
   * One folder's live secrets, parsed, from the same cached rows as the bulk read (the Vault KV read): what it holds
   * at its current revision, when that revision was made, and the folder index the audit entry records.
   */
  async function readFolder(project: string, env: string, rawPath: string): Promise<FolderRead> {
    const { ordered, entry } = await loadScope(project, env, [rawPath], false, undefined);
    const row = ordered[0] as ScopeRow;
    const folders = folderIndex(ordered);
    let data = dataMaps.get(row);
    if (data === undefined || row.names === null) {
      const ref: EnvRef = { projectId: row.projectId, envId: row.envId, project, env };
      const secrets = JSON.parse(plaintextOf(row, ref, entry).toString('utf8')) as {
        name: string;
        value: string;
        version: number;
      }[];
      // Folders written before the names column existed: the names come from the bundle, per read (as bulkRead).
      if (row.names === null && row.bundle !== null) {
        (folders[0] as { names: string | null }).names = JSON.stringify(secrets.map((e) => [e.name, e.version]));
      }
      const map = Object.create(null) as Record<string, string>; // __proto__ is a name like any other
      for (const secret of secrets) map[secret.name] = secret.value;
      const meta = parseCustomMetadata(row.custom_metadata);
      data = { count: secrets.length, json: JSON.stringify(map), meta: meta === null ? 'null' : JSON.stringify(meta) };
      // Kept with the row like its plaintext (the same values, in the same bounded cache).
      const bytes = data.json.length + data.meta.length;
      if (entry.kept && cachedBytes + bytes <= SCOPE_BYTES_MAX) {
        dataMaps.set(row, data);
        entry.bytes += bytes;
        cachedBytes += bytes;
      }
    }
    return {
      path: row.path,
      revision: row.revision,
      updatedAt: row.updated_at,
      count: data.count,
      dataJson: data.json,
      customMetadataJson: data.meta,
      folders,
    };
  }

  async function list(
    scope: Scope,
    options: { recursive?: boolean; includeDeleted?: boolean; allow?: ((path: string) => boolean) | undefined } = {},
  ) {
    const ref = await resolveEnvironment(db, scope.project, scope.env);
    const path = assertPath(scope.path);
    const range = pathFilter(path, options.recursive === true);
    let query = db
      .selectFrom('secrets as s')
      .innerJoin('folders as f', 'f.id', 's.folder_id')
      .select(['s.name', 'f.path', 's.version', 's.deleted_at', 's.created_at', 's.updated_at', 's.updated_by'])
      .where('f.environment_id', '=', ref.envId);
    query =
      options.recursive === true
        ? query.where((eb) =>
            path === '/'
              ? eb('f.path', '>=', '/')
              : eb.or([
                  eb('f.path', '=', path),
                  eb.and([eb('f.path', '>', range.lower), eb('f.path', '<', range.upper)]),
                ]),
          )
        : query.where('f.path', '=', path);
    if (options.includeDeleted !== true) query = query.where('s.deleted_at', 'is', null);
    const rows = await query.orderBy('f.path').orderBy('s.name').execute();
    if (rows.length === 0) {
      if (options.recursive === true) await listFolders(scope);
      else await findFolder(db, ref, path);
    }
    const visible = options.allow === undefined ? rows : rows.filter((r) => options.allow?.(r.path) === true);
    return visible.map((r): SecretMeta => ({
      name: r.name,
      path: r.path,
      version: r.version,
      deleted: r.deleted_at !== null,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      updatedBy: r.updated_by,
    }));
  }

  async function get(scope: Scope, name: string, version?: number): Promise<SecretWithValue> {
    const { ref, path, secret } = await findSecret(db, scope, name);
    if (version === undefined && secret.deleted_at !== null) {
      throw notFound(`secret ${name} in ${path} is deleted (its history is kept; read an old --version)`, {
        name,
        path,
        deleted: true,
      });
    }
    const wanted = version ?? secret.version;
    const row = await db
      .selectFrom('secret_versions')
      .selectAll()
      .where('secret_id', '=', secret.id)
      .where('version', '=', wanted)
      .executeTakeFirst();
    if (row === undefined) throw notFound(`secret ${name} has no version ${wanted}`, { name, version: wanted });
    if (row.op === 'delete') throw notFound(`version ${wanted} of ${name} is a deletion`, { name, version: wanted });
    if (row.value === null) {
      throw new AppError('VALUE_DESTROYED', `the value of ${name} version ${wanted} was destroyed`, {
        name,
        version: wanted,
      });
    }
    const value = keyring.decrypt(row.value, valueContext(ref, path, name, wanted)).toString('utf8');
    return {
      name,
      path,
      version: wanted,
      deleted: secret.deleted_at !== null,
      createdAt: secret.created_at,
      updatedAt: row.created_at,
      updatedBy: row.created_by,
      value,
    };
  }

  async function history(scope: Scope, name: string): Promise<SecretVersionInfo[]> {
    const { secret } = await findSecret(db, scope, name);
    const rows = await db
      .selectFrom('secret_versions')
      .select([
        'version',
        'op',
        'created_at',
        'created_by',
        'folder_revision',
        'restored_from',
        'destroyed_at',
        'destroyed_by',
      ])
      .where('secret_id', '=', secret.id)
      .orderBy('version', 'desc')
      .execute();
    return rows.map((r) => ({
      version: r.version,
      op: r.op as VersionOp,
      createdAt: r.created_at,
      createdBy: r.created_by,
      folderRevision: r.folder_revision,
      restoredFrom: r.restored_from,
      destroyed: r.destroyed_at !== null,
      destroyedAt: r.destroyed_at,
      destroyedBy: r.destroyed_by,
    }));
  }

  async function listFolders(
    scope: Scope,
    options: { allow?: ((path: string) => boolean) | undefined } = {},
  ): Promise<FolderInfo[]> {
    const ref = await resolveEnvironment(db, scope.project, scope.env);
    const path = assertPath(scope.path);
    const range = pathFilter(path, true);
    const rows = await db
      .selectFrom('folders as f')
      .select(['f.path', 'f.revision', 'f.secret_count', 'f.updated_at'])
      .where('f.environment_id', '=', ref.envId)
      .where((eb) =>
        path === '/'
          ? eb('f.path', '>=', '/')
          : eb.or([eb('f.path', '=', path), eb.and([eb('f.path', '>', range.lower), eb('f.path', '<', range.upper)])]),
      )
      .orderBy('f.path')
      .execute();
    if (rows.length === 0) throw notFound(`folder ${path} does not exist in ${ref.project}/${ref.env}`, { path });
    const visible = options.allow === undefined ? rows : rows.filter((r) => options.allow?.(r.path) === true);
    return visible.map((r) => ({
      path: r.path,
      revision: r.revision,
      secretCount: r.secret_count,
      updatedAt: r.updated_at,
    }));
  }

  async function folderHistory(scope: Scope, limit = 50): Promise<FolderRevisionInfo[]> {
    const ref = await resolveEnvironment(db, scope.project, scope.env);
    const folder = await findFolder(db, ref, assertPath(scope.path));
    const revisions = await db
      .selectFrom('folder_revisions')
      .selectAll()
      .where('folder_id', '=', folder.id)
      .orderBy('revision', 'desc')
      .limit(limit)
      .execute();
    if (revisions.length === 0) return [];
    const oldest = revisions[revisions.length - 1]?.revision ?? 0;
    const changes = await db
      .selectFrom('secret_versions as v')
      .innerJoin('secrets as s', 's.id', 'v.secret_id')
      .select(['s.name', 'v.version', 'v.op', 'v.folder_revision'])
      .where('s.folder_id', '=', folder.id)
      .where('v.folder_revision', '>=', oldest)
      .orderBy('s.name')
      .execute();
    return revisions.map((r) => ({
      revision: r.revision,
      createdAt: r.created_at,
      createdBy: r.created_by,
      action: r.action,
      changes: changes
        .filter((c) => c.folder_revision === r.revision)
        .map((c) => ({ name: c.name, version: c.version, op: c.op as VersionOp })),
    }));
  }

  /** What the bulk-read cache holds now (scopes, and its reckoning of their bytes). */
  function cacheUsage(): { scopes: number; bytes: number } {
    return { scopes: scopes.size, bytes: cachedBytes };
  }

  return { bulkRead, readFolder, scopeEtag, list, get, history, listFolders, folderHistory, cacheUsage };
}
