import { createHash } from 'node:crypto';
import {
  folderDepth,
  isWithinFolder,
  type BatchResult,
  type FolderInfo,
  type FolderRevisionInfo,
  type FolderRollbackResult,
  type SecretChange,
  type SecretMeta,
  type SecretVersionInfo,
  type SecretWithValue,
  type VersionOp,
} from '@keybox/sdk';
import { AppError, invalidInput, notFound } from '../app-error.js';
import { isoNow, type Clock } from '../clock.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from '../store/database.js';
import { createFolderWriter, type FolderChange } from './folder-writer.js';
import {
  assertName,
  assertPath,
  bundleContext,
  pathFilter,
  resolveEnvironment,
  scopeNotFound,
  valueContext,
  type EnvRef,
} from './locations.js';

export interface SecretServiceDeps {
  db: Db;
  keyring: Pick<Keyring, 'encrypt' | 'decrypt'>;
  clock: Clock;
}

export interface Scope {
  project: string;
  env: string;
  path: string;
}

export type BulkReadOutcome =
  | { status: 304; etag: string }
  | {
      status: 200;
      etag: string;
      /** The response body, built from the decrypted bundles without re-serialising values. */
      body: Buffer<ArrayBuffer>;
      folders: { path: string; revision: number }[];
    };

const EMPTY_BUNDLE = Buffer.from('[]');

export function createSecretService({ db, keyring, clock }: SecretServiceDeps) {
  const writer = createFolderWriter({ keyring, clock });

  /**
   * The hot path: every live secret in scope in one response, one decrypt per folder. The ETag is derived from the
   * folders' ids and revisions before anything is decrypted, so an unchanged scope costs one indexed query.
   */
  async function bulkRead(
    project: string,
    env: string,
    rawPaths: readonly string[],
    recursive: boolean,
    ifNoneMatch?: string,
  ): Promise<BulkReadOutcome> {
    const paths = (rawPaths.length === 0 ? ['/'] : rawPaths).map(assertPath);
    const rows = await db
      .selectFrom('folders as f')
      .innerJoin('environments as e', 'e.id', 'f.environment_id')
      .innerJoin('projects as p', 'p.id', 'e.project_id')
      .select(['f.id', 'f.path', 'f.revision', 'f.bundle', 'e.id as envId', 'p.id as projectId'])
      .where('p.slug', '=', project)
      .where('e.slug', '=', env)
      .where((eb) =>
        eb.or(
          paths.flatMap((path) => {
            const range = pathFilter(path, recursive);
            if (!recursive) return [eb('f.path', '=', path)];
            if (path === '/') return [eb('f.path', '>=', '/')];
            return [eb('f.path', '=', path), eb.and([eb('f.path', '>', range.lower), eb('f.path', '<', range.upper)])];
          }),
        ),
      )
      .execute();
    if (rows.length === 0) {
      const ref = await resolveEnvironment(db, project, env);
      throw notFound(`folder ${paths[0] ?? '/'} does not exist in ${ref.project}/${ref.env}`, { path: paths[0] });
    }

    // Precedence order: each requested path in turn, its folder then descendants by depth; a folder named by two
    // requests keeps its last place.
    const ordered: typeof rows = [];
    for (const path of paths) {
      const matching = rows
        .filter((r) => (recursive ? isWithinFolder(r.path, path) : r.path === path))
        .sort((a, b) => folderDepth(a.path) - folderDepth(b.path) || (a.path < b.path ? -1 : 1));
      if (matching.length === 0) {
        throw notFound(`folder ${path} does not exist in ${project}/${env}`, { path });
      }
      for (const row of matching) {
        const at = ordered.indexOf(row);
        if (at !== -1) ordered.splice(at, 1);
        ordered.push(row);
      }
    }

    const hash = createHash('sha256').update(recursive ? 'v1|r|' : 'v1|f|');
    for (const row of ordered) hash.update(`${row.id}:${row.revision};`);
    const etag = `"${hash.digest('base64url').slice(0, 27)}"`;
    // If-None-Match uses the weak comparison (RFC 9110 13.1.2): a proxy that compresses may have added W/.
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) {
      return { status: 304, etag };
    }

    const parts: Buffer[] = [
      Buffer.from(`{"project":${JSON.stringify(project)},"environment":${JSON.stringify(env)},"folders":[`),
    ];
    ordered.forEach((row, i) => {
      const ref: EnvRef = { projectId: row.projectId, envId: row.envId, project, env };
      parts.push(
        Buffer.from(`${i === 0 ? '' : ','}{"path":${JSON.stringify(row.path)},"revision":${row.revision},"secrets":`),
        row.bundle === null ? EMPTY_BUNDLE : keyring.decrypt(row.bundle, bundleContext(ref, row.path, row.revision)),
        Buffer.from('}'),
      );
    });
    parts.push(Buffer.from(']}'));
    return {
      status: 200,
      etag,
      body: Buffer.concat(parts),
      folders: ordered.map((r) => ({ path: r.path, revision: r.revision })),
    };
  }

  async function findFolder(ref: EnvRef, path: string) {
    const folder = await db
      .selectFrom('folders')
      .select(['id', 'path', 'revision'])
      .where('environment_id', '=', ref.envId)
      .where('path', '=', path)
      .executeTakeFirst();
    if (folder === undefined) throw notFound(`folder ${path} does not exist in ${ref.project}/${ref.env}`, { path });
    return folder;
  }

  function findSecret(scope: Scope, name: string) {
    return findSecretIn(db, scope, name);
  }

  async function list(scope: Scope, options: { recursive?: boolean; includeDeleted?: boolean } = {}) {
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
      else await findFolder(ref, path);
    }
    return rows.map((r): SecretMeta => ({
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
    const { ref, path, secret } = await findSecret(scope, name);
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
    const { secret } = await findSecret(scope, name);
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

  async function applyChanges(
    scope: Scope,
    changes: readonly SecretChange[],
    options: { actor: string; action?: string; ifRevision?: number | undefined },
  ): Promise<BatchResult> {
    if (changes.length === 0) throw invalidInput('no changes given');
    const path = assertPath(scope.path);
    const folderChanges: FolderChange[] = changes.map((c) => ({
      name: assertName(c.name),
      value: 'delete' in c ? undefined : c.value,
      ifVersion: c.ifVersion,
    }));
    const action = options.action ?? (folderChanges.every((c) => c.value === undefined) ? 'delete' : 'set');
    return db.transaction().execute(async (trx) => {
      const ref = await resolveEnvironment(trx, scope.project, scope.env);
      return writer.write(trx, ref, path, folderChanges, {
        actor: options.actor,
        action,
        ifRevision: options.ifRevision,
      });
    });
  }

  /** Restores one secret's value from an older version, as a new version. */
  async function rollbackSecret(
    scope: Scope,
    name: string,
    toVersion: number,
    options: { actor: string; ifVersion?: number | undefined },
  ): Promise<BatchResult> {
    return db.transaction().execute(async (trx) => {
      const { ref, path, secret } = await findSecretIn(trx, scope, name);
      const target = await trx
        .selectFrom('secret_versions')
        .select(['op', 'value'])
        .where('secret_id', '=', secret.id)
        .where('version', '=', toVersion)
        .executeTakeFirst();
      if (target === undefined) throw notFound(`secret ${name} has no version ${toVersion}`, { name });
      if (target.op === 'delete') {
        throw invalidInput(`version ${toVersion} of ${name} is a deletion; delete the secret instead`);
      }
      if (target.value === null) {
        throw new AppError('VALUE_DESTROYED', `the value of ${name} version ${toVersion} was destroyed`, {
          name,
          version: toVersion,
        });
      }
      const value = keyring.decrypt(target.value, valueContext(ref, path, name, toVersion)).toString('utf8');
      return writer.write(trx, ref, path, [{ name, value, ifVersion: options.ifVersion, restoredFrom: toVersion }], {
        actor: options.actor,
        action: `rollback ${name} to v${toVersion}`,
      });
    });
  }

  /**
   * Restores a whole folder to its state at a revision (or at a point in time): secrets created since are deleted,
   * changed ones get their old value back, deleted ones come back. All in one new revision.
   */
  async function rollbackFolder(
    scope: Scope,
    target: { toRevision?: number | undefined; toTime?: string | undefined },
    options: { actor: string; ifRevision?: number | undefined },
  ): Promise<FolderRollbackResult> {
    return db.transaction().execute(async (trx) => {
      const ref = await resolveEnvironment(trx, scope.project, scope.env);
      const path = assertPath(scope.path);
      const folder = await trx
        .selectFrom('folders')
        .select(['id', 'revision'])
        .where('environment_id', '=', ref.envId)
        .where('path', '=', path)
        .executeTakeFirst();
      if (folder === undefined) throw notFound(`folder ${path} does not exist in ${ref.project}/${ref.env}`);

      let revision: number;
      if (target.toRevision !== undefined) {
        revision = target.toRevision;
      } else if (target.toTime !== undefined) {
        const time = new Date(target.toTime);
        if (Number.isNaN(time.getTime())) throw invalidInput('toTime is not an ISO-8601 time');
        const row = await trx
          .selectFrom('folder_revisions')
          .select((eb) => eb.fn.max('revision').as('revision'))
          .where('folder_id', '=', folder.id)
          .where('created_at', '<=', time.toISOString())
          .executeTakeFirst();
        revision = Number(row?.revision ?? 0);
      } else {
        throw invalidInput('give toRevision or toTime');
      }
      if (!Number.isInteger(revision) || revision < 0 || revision > folder.revision) {
        throw invalidInput(`folder ${path} has revisions 0 to ${folder.revision}`);
      }

      const versions = await trx
        .selectFrom('secret_versions as v')
        .innerJoin('secrets as s', 's.id', 'v.secret_id')
        .select(['s.name', 'v.version', 'v.op', 'v.value'])
        .where('s.folder_id', '=', folder.id)
        .where('v.folder_revision', '<=', revision)
        .orderBy('v.version')
        .execute();
      const atTarget = new Map<string, (typeof versions)[number]>();
      for (const v of versions) atTarget.set(v.name, v);
      const heads = await trx
        .selectFrom('secrets')
        .select(['name', 'deleted_at'])
        .where('folder_id', '=', folder.id)
        .execute();

      const changes: FolderChange[] = [];
      for (const head of heads) {
        const then = atTarget.get(head.name);
        if (then === undefined || then.op === 'delete') {
          if (head.deleted_at === null) changes.push({ name: head.name, value: undefined });
          continue;
        }
        if (then.value === null) {
          throw new AppError(
            'VALUE_DESTROYED',
            `cannot restore ${head.name}: the value of its version ${then.version} was destroyed`,
            { name: head.name, version: then.version },
          );
        }
        const value = keyring.decrypt(then.value, valueContext(ref, path, head.name, then.version)).toString('utf8');
        changes.push({ name: head.name, value, restoredFrom: then.version });
      }
      const result = await writer.write(trx, ref, path, changes, {
        actor: options.actor,
        action: `rollback to r${revision}`,
        ifRevision: options.ifRevision,
      });
      return { ...result, restoredRevision: revision };
    });
  }

  /** Permanently removes one version's value; the history row stays. The live version cannot be destroyed. */
  async function destroyVersion(scope: Scope, name: string, version: number, options: { actor: string }) {
    await db.transaction().execute(async (trx) => {
      const { secret } = await findSecretIn(trx, scope, name);
      const row = await trx
        .selectFrom('secret_versions')
        .select(['op', 'destroyed_at'])
        .where('secret_id', '=', secret.id)
        .where('version', '=', version)
        .executeTakeFirst();
      if (row === undefined) throw notFound(`secret ${name} has no version ${version}`, { name, version });
      if (row.op === 'delete') throw invalidInput(`version ${version} of ${name} is a deletion and holds no value`);
      if (row.destroyed_at !== null) return;
      if (secret.version === version && secret.deleted_at === null) {
        throw new AppError(
          'CONFLICT',
          `version ${version} is the current value of ${name}; set a new value or delete the secret first`,
          { name, version },
        );
      }
      await trx
        .updateTable('secret_versions')
        .set({ value: null, key_id: null, destroyed_at: isoNow(clock), destroyed_by: options.actor })
        .where('secret_id', '=', secret.id)
        .where('version', '=', version)
        .execute();
    });
  }

  async function findSecretIn(trx: Db, scope: Scope, name: string) {
    const ref = await resolveEnvironment(trx, scope.project, scope.env);
    const path = assertPath(scope.path);
    const secret = await trx
      .selectFrom('secrets as s')
      .innerJoin('folders as f', 'f.id', 's.folder_id')
      .selectAll('s')
      .where('f.environment_id', '=', ref.envId)
      .where('f.path', '=', path)
      .where('s.name', '=', assertName(name))
      .executeTakeFirst();
    if (secret === undefined) throw notFound(`secret ${name} does not exist in ${path}`, { name, path });
    return { ref, path, secret };
  }

  async function listFolders(scope: Scope): Promise<FolderInfo[]> {
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
    return rows.map((r) => ({
      path: r.path,
      revision: r.revision,
      secretCount: r.secret_count,
      updatedAt: r.updated_at,
    }));
  }

  async function folderHistory(scope: Scope, limit = 50): Promise<FolderRevisionInfo[]> {
    const ref = await resolveEnvironment(db, scope.project, scope.env);
    const folder = await findFolder(ref, assertPath(scope.path));
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

  return {
    bulkRead,
    list,
    get,
    history,
    applyChanges,
    rollbackSecret,
    rollbackFolder,
    destroyVersion,
    listFolders,
    folderHistory,
    scopeNotFound: (project: string, env: string) => scopeNotFound(db, project, env),
  };
}

export type SecretService = ReturnType<typeof createSecretService>;
