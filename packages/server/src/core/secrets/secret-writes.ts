import type { BatchResult, FolderRollbackResult, SecretChange } from '@keybox/sdk';
import { AppError, conflict, invalidInput, notFound } from '../app-error.js';
import { isoNow, type Clock } from '../clock.js';
import type { Keyring } from '../crypto/keyring.js';
import { audited, type TxAudit } from '../audit/tx-audit.js';
import type { Db } from '../store/database.js';
import type { ChangeFeed } from './change-feed.js';
import { parseCustomMetadata, versionsAt, type CustomMetadata } from './folder-versions.js';
import { createFolderWriter, type FolderChange } from './folder-writer.js';
import {
  assertName,
  assertPath,
  findFolder,
  findSecret,
  folderAtPath,
  resolveEnvironment,
  valueContext,
  type Scope,
} from './locations.js';

export interface SecretWritesDeps {
  db: Db;
  keyring: Pick<Keyring, 'encrypt' | 'decrypt'>;
  clock: Clock;
  /** Told about each committed change, for watchers. */
  changes?: Pick<ChangeFeed, 'publish'> | undefined;
}

/** What the audit log records of a write: the folder, its new revision, and each name with outcome and version. */
function batchDetails(result: BatchResult): Record<string, unknown> {
  return {
    path: result.path,
    revision: result.revision,
    secrets: result.results.map((r) => [r.name, r.outcome, r.version]),
  };
}

/** The names of a folder's live secrets, in name order. */
async function liveNames(trx: Db, folderId: string): Promise<string[]> {
  const rows = await trx
    .selectFrom('secrets')
    .select('name')
    .where('folder_id', '=', folderId)
    .where('deleted_at', 'is', null)
    .orderBy('name')
    .execute();
  return rows.map((r) => r.name);
}

function isEmpty(metadata: CustomMetadata | null): boolean {
  return metadata === null || Object.keys(metadata).length === 0;
}

/** Every change to secrets: each is one transaction, and every write goes through the folder writer. */
export function createSecretWrites({ db, keyring, clock, changes }: SecretWritesDeps) {
  const writer = createFolderWriter({ keyring, clock });

  /** After the commit: watchers of the folder hear of it, unless nothing changed. */
  function notify<T extends BatchResult>(scope: Scope): (result: T) => T {
    return (result) => {
      if (result.results.some((r) => r.outcome !== 'unchanged')) {
        changes?.publish({ project: scope.project, env: scope.env, path: result.path });
      }
      return result;
    };
  }

  async function applyChanges(
    scope: Scope,
    changes: readonly SecretChange[],
    options: { actor: string; action?: string; ifRevision?: number | undefined; audit?: TxAudit | undefined },
  ): Promise<BatchResult> {
    if (changes.length === 0) throw invalidInput('no changes given');
    const path = assertPath(scope.path);
    const folderChanges: FolderChange[] = changes.map((c) => ({
      name: assertName(c.name),
      value: 'delete' in c ? undefined : c.value,
      ifVersion: c.ifVersion,
    }));
    const action = options.action ?? (folderChanges.every((c) => c.value === undefined) ? 'delete' : 'set');
    return audited(
      db,
      options.audit,
      async (trx) => {
        const ref = await resolveEnvironment(trx, scope.project, scope.env);
        return writer.write(trx, ref, path, folderChanges, {
          actor: options.actor,
          action,
          ifRevision: options.ifRevision,
        });
      },
      batchDetails,
    );
  }

  /**
   * Writes a folder as a whole (the Vault KV v2 write): `replace` makes `values` the folder's whole contents, deleting
   * every live secret it does not name (an empty `values` for a folder never written is refused: nothing to store);
   * `clear` deletes every live secret, if any; `merge` applies `values` as a JSON merge patch (null deletes; a name
   * already absent is skipped) to a folder that must hold live secrets. One transaction, one revision. `ifRevision` is the check-and-set:
   * 0 means "only if the folder has never been written". `mayDelete` is asked, inside the transaction, before any
   * secret is deleted, so a caller without the right fails with nothing written.
   */
  async function writeFolder(
    scope: Scope,
    values: Readonly<Record<string, string | null>>,
    options: {
      mode: 'replace' | 'clear' | 'merge';
      actor: string;
      ifRevision?: number | undefined;
      mayDelete?: ((names: string[]) => void) | undefined;
      audit?: TxAudit | undefined;
    },
  ): Promise<BatchResult & { updatedAt: string | null; customMetadata: CustomMetadata | null }> {
    const path = assertPath(scope.path);
    const given = Object.entries(values).map(([name, value]) => ({ name: assertName(name), value }));
    return audited(
      db,
      options.audit,
      async (trx) => {
        const ref = await resolveEnvironment(trx, scope.project, scope.env);
        const folder = await folderAtPath(trx, ref, path);
        if (folder === undefined && options.mode === 'merge') {
          throw notFound(`folder ${path} does not exist in ${ref.project}/${ref.env}`, { path });
        }
        const live = new Set(folder === undefined ? [] : await liveNames(trx, folder.id));
        if (options.mode === 'merge' && live.size === 0) {
          throw notFound(`folder ${path} holds no live secrets to patch (write it whole instead)`, { path });
        }
        const changes: FolderChange[] = [];
        for (const { name, value } of given) {
          if (value !== null) changes.push({ name, value });
          else if (live.has(name)) changes.push({ name, value: undefined });
        }
        if (options.mode === 'replace' && given.length === 0 && live.size === 0) {
          throw invalidInput('no data provided: an empty folder is not stored');
        }
        if (options.mode !== 'merge') {
          const named = new Set(given.map((g) => g.name));
          for (const name of live) if (!named.has(name)) changes.push({ name, value: undefined });
        }
        const deleting = changes.filter((c) => c.value === undefined).map((c) => c.name);
        if (deleting.length > 0) options.mayDelete?.(deleting);
        if (changes.length === 0) {
          const revision = folder?.revision ?? 0;
          if (options.ifRevision !== undefined && options.ifRevision !== revision) {
            throw conflict(`folder ${path} is at revision ${revision}, not ${options.ifRevision}`, {
              path,
              revision,
              expected: options.ifRevision,
            });
          }
          return {
            path,
            revision,
            results: [],
            updatedAt: folder?.updated_at ?? null,
            customMetadata: parseCustomMetadata(folder?.custom_metadata ?? null),
          };
        }
        const result = await writer.write(trx, ref, path, changes, {
          actor: options.actor,
          action: { replace: 'replace', clear: 'delete', merge: 'patch' }[options.mode],
          ifRevision: options.ifRevision,
        });
        const after = await findFolder(trx, ref, path);
        // The write leaves the custom metadata as it was (none for a folder it created).
        const customMetadata = parseCustomMetadata(folder?.custom_metadata ?? null);
        return { ...result, updatedAt: after.updated_at, customMetadata };
      },
      batchDetails,
    );
  }

  /**
   * Sets a folder's custom metadata (the Vault API's `metadata/`): `update` gets the current map (null: none) and
   * returns the new one. The folder is created, empty, if it does not exist. With `clearSecrets` (a Vault metadata
   * DELETE) its live secrets are deleted too, in the same transaction; their history stays.
   */
  async function writeFolderMetadata(
    scope: Scope,
    update: (current: CustomMetadata | null) => CustomMetadata | null,
    options: { actor: string; clearSecrets?: boolean; audit?: TxAudit | undefined },
  ): Promise<BatchResult & { customMetadata: CustomMetadata | null }> {
    const path = assertPath(scope.path);
    return audited(
      db,
      options.audit,
      async (trx) => {
        const ref = await resolveEnvironment(trx, scope.project, scope.env);
        const existing = await folderAtPath(trx, ref, path);
        // Nothing to store for a folder that does not exist: it is not created just to hold no metadata.
        if (existing === undefined && isEmpty(update(null)))
          return { path, revision: 0, results: [], customMetadata: null };
        let folder = await writer.lockFolder(trx, ref, path);
        let revision = folder.revision;
        let results: BatchResult['results'] = [];
        if (options.clearSecrets === true) {
          const live = await liveNames(trx, folder.id);
          if (live.length > 0) {
            const changes = live.map((name) => ({ name, value: undefined }));
            ({ revision, results } = await writer.write(trx, ref, path, changes, {
              actor: options.actor,
              action: 'delete',
            }));
            folder = await writer.lockFolder(trx, ref, path);
          }
        }
        const next = update(parseCustomMetadata(folder.custom_metadata));
        const text = isEmpty(next) ? null : JSON.stringify(next);
        await trx
          .updateTable('folders')
          // updated_at stays: it is when the current revision was written (the KV version's created_time).
          .set({ custom_metadata: text })
          .where('id', '=', folder.id)
          .execute();
        return { path, revision, results, customMetadata: parseCustomMetadata(text) };
      },
      (result) => ({ ...batchDetails(result), customMetadataKeys: Object.keys(result.customMetadata ?? {}) }),
    );
  }

  /** Restores one secret's value from an older version, as a new version. */
  async function rollbackSecret(
    scope: Scope,
    name: string,
    toVersion: number,
    options: { actor: string; ifVersion?: number | undefined; audit?: TxAudit | undefined },
  ): Promise<BatchResult> {
    return audited(
      db,
      options.audit,
      async (trx) => {
        const { ref, path, secret } = await findSecret(trx, scope, name);
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
      },
      (result) => ({ ...batchDetails(result), restoredFrom: toVersion }),
    );
  }

  /**
   * Restores a whole folder to its state at a revision (or at a point in time): secrets created since are deleted,
   * changed ones get their old value back, deleted ones come back. All in one new revision.
   */
  async function rollbackFolder(
    scope: Scope,
    target: { toRevision?: number | undefined; toTime?: string | undefined },
    options: { actor: string; ifRevision?: number | undefined; audit?: TxAudit | undefined },
  ): Promise<FolderRollbackResult> {
    return audited(
      db,
      options.audit,
      async (trx) => {
        const ref = await resolveEnvironment(trx, scope.project, scope.env);
        const path = assertPath(scope.path);
        const folder = await findFolder(trx, ref, path);

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

        const atTarget = await versionsAt(trx, folder.id, revision);
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
      },
      (result) => ({ ...batchDetails(result), restoredRevision: result.restoredRevision }),
    );
  }

  /** Permanently removes one version's value; the history row stays. The live version cannot be destroyed. */
  async function destroyVersion(
    scope: Scope,
    name: string,
    version: number,
    options: { actor: string; audit?: TxAudit | undefined },
  ) {
    await audited(
      db,
      options.audit,
      async (trx) => {
        const { secret } = await findSecret(trx, scope, name);
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
      },
      () => ({ name, version }),
    );
  }

  return {
    applyChanges: (...args: Parameters<typeof applyChanges>) => applyChanges(...args).then(notify(args[0])),
    writeFolder: (...args: Parameters<typeof writeFolder>) => writeFolder(...args).then(notify(args[0])),
    // Watchers hear of the secrets a metadata DELETE removed; a metadata change alone is not theirs to see.
    writeFolderMetadata: (...args: Parameters<typeof writeFolderMetadata>) =>
      writeFolderMetadata(...args).then(notify(args[0])),
    rollbackSecret: (...args: Parameters<typeof rollbackSecret>) => rollbackSecret(...args).then(notify(args[0])),
    rollbackFolder: (...args: Parameters<typeof rollbackFolder>) => rollbackFolder(...args).then(notify(args[0])),
    destroyVersion,
  };
}
