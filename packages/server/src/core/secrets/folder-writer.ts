import { randomUUID } from 'node:crypto';
import type { BatchResult, ChangeOutcome, VersionOp } from '@keybox/sdk';
import { AppError, conflict, invalidInput, notFound } from '../app-error.js';
import { isoNow, type Clock } from '../clock.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db, FoldersTable } from '../store/database.js';
import { bundleContext, valueContext, type EnvRef } from './locations.js';

/** Largest value accepted. Linux caps one environment string at 128 KiB, so larger values only work as files. */
export const MAX_VALUE_BYTES = 256 * 1024;

export interface FolderChange {
  name: string;
  /** `undefined` deletes the secret. */
  value: string | undefined;
  ifVersion?: number | undefined;
  /** For rollbacks: the version whose value this restores. */
  restoredFrom?: number | undefined;
}

export interface WriteOptions {
  actor: string;
  /** Recorded on the folder revision: `set`, `delete`, `import`, `rollback`... */
  action: string;
  ifRevision?: number | undefined;
}

interface LiveSecret {
  id: string;
  version: number;
  deleted: boolean;
  /** Decrypted current value; undefined when deleted. */
  value: string | undefined;
}

export interface FolderWriterDeps {
  keyring: Pick<Keyring, 'encrypt' | 'decrypt'>;
  clock: Clock;
}

export function checkValue(name: string, value: string): void {
  if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) {
    throw new AppError('PAYLOAD_TOO_LARGE', `the value of ${name} is over ${MAX_VALUE_BYTES / 1024} KiB`);
  }
  if (value.includes('\0')) {
    // An environment variable cannot carry a NUL byte; storing one would break `run` later.
    throw invalidInput(`the value of ${name} contains a NUL byte, which no environment variable can hold`);
  }
}

/**
 * Applies a set of changes to one folder in the caller's transaction: new version rows (the truth), the secrets'
 * head rows, one folder revision for the whole batch, and the folder's encrypted bundle rebuilt from the version
 * rows. Unchanged values create no version and no revision.
 */
export function createFolderWriter({ keyring, clock }: FolderWriterDeps) {
  /** The folder's row, created (at revision 0, empty) if it does not exist yet. */
  async function lockFolder(trx: Db, env: EnvRef, path: string): Promise<FoldersTable> {
    const existing = await trx
      .selectFrom('folders')
      .selectAll()
      .where('environment_id', '=', env.envId)
      .where('path', '=', path)
      .executeTakeFirst();
    if (existing !== undefined) return existing;
    const now = isoNow(clock);
    const row: FoldersTable = {
      id: randomUUID(),
      environment_id: env.envId,
      path,
      revision: 0,
      bundle: null,
      bundle_key_id: null,
      secret_count: 0,
      names: null,
      custom_metadata: null,
      created_at: now,
      updated_at: now,
    };
    await trx.insertInto('folders').values(row).execute();
    return row;
  }

  async function loadSecrets(trx: Db, env: EnvRef, folder: FoldersTable): Promise<Map<string, LiveSecret>> {
    const rows = await trx
      .selectFrom('secrets as s')
      .leftJoin('secret_versions as v', (join) =>
        join.onRef('v.secret_id', '=', 's.id').onRef('v.version', '=', 's.version'),
      )
      .select(['s.id', 's.name', 's.version', 's.deleted_at', 'v.value'])
      .where('s.folder_id', '=', folder.id)
      .execute();
    const secrets = new Map<string, LiveSecret>();
    for (const row of rows) {
      const deleted = row.deleted_at !== null;
      let value: string | undefined;
      if (!deleted) {
        if (row.value === null) {
          throw new AppError('INTERNAL', `the current version of ${row.name} in ${folder.path} has no value`);
        }
        value = keyring.decrypt(row.value, valueContext(env, folder.path, row.name, row.version)).toString('utf8');
      }
      secrets.set(row.name, { id: row.id, version: row.version, deleted, value });
    }
    return secrets;
  }

  async function write(
    trx: Db,
    env: EnvRef,
    path: string,
    changes: readonly FolderChange[],
    options: WriteOptions,
  ): Promise<BatchResult> {
    const seen = new Set<string>();
    for (const change of changes) {
      if (seen.has(change.name)) throw invalidInput(`${change.name} appears twice in one write`);
      seen.add(change.name);
      if (change.value !== undefined) checkValue(change.name, change.value);
    }
    const folder = await lockFolder(trx, env, path);
    if (options.ifRevision !== undefined && folder.revision !== options.ifRevision) {
      throw conflict(`folder ${path} is at revision ${folder.revision}, not ${options.ifRevision}`, {
        path,
        revision: folder.revision,
        expected: options.ifRevision,
      });
    }
    const secrets = await loadSecrets(trx, env, folder);
    const revision = folder.revision + 1;
    const now = isoNow(clock);
    const results: BatchResult['results'] = [];
    let changed = false;

    for (const change of changes) {
      const current = secrets.get(change.name);
      const currentVersion = current?.version ?? 0;
      if (change.ifVersion !== undefined && change.ifVersion !== currentVersion) {
        throw conflict(`${change.name} is at version ${currentVersion}, not ${change.ifVersion}`, {
          name: change.name,
          version: currentVersion,
          expected: change.ifVersion,
        });
      }
      let outcome: ChangeOutcome;
      let op: VersionOp;
      if (change.value === undefined) {
        if (current === undefined || current.deleted) throw notFound(`secret ${change.name} does not exist in ${path}`);
        outcome = 'deleted';
        op = 'delete';
      } else if (current !== undefined && !current.deleted && current.value === change.value) {
        results.push({ name: change.name, outcome: 'unchanged', version: currentVersion });
        continue;
      } else {
        outcome = current === undefined || current.deleted ? 'created' : 'updated';
        op = change.restoredFrom === undefined ? 'set' : 'rollback';
      }

      const version = currentVersion + 1;
      const secretId = current?.id ?? randomUUID();
      let blob: Buffer | null = null;
      let keyId: number | null = null;
      if (change.value !== undefined) {
        const sealed = keyring.encrypt(
          Buffer.from(change.value, 'utf8'),
          valueContext(env, path, change.name, version),
        );
        blob = sealed.blob;
        keyId = sealed.keyId;
      }
      if (current === undefined) {
        await trx
          .insertInto('secrets')
          .values({
            id: secretId,
            folder_id: folder.id,
            name: change.name,
            version,
            deleted_at: null,
            created_at: now,
            updated_at: now,
            updated_by: options.actor,
          })
          .execute();
      } else {
        await trx
          .updateTable('secrets')
          .set({
            version,
            deleted_at: change.value === undefined ? now : null,
            updated_at: now,
            updated_by: options.actor,
          })
          .where('id', '=', secretId)
          .execute();
      }
      await trx
        .insertInto('secret_versions')
        .values({
          secret_id: secretId,
          version,
          op,
          value: blob,
          key_id: keyId,
          folder_revision: revision,
          restored_from: change.restoredFrom ?? null,
          created_at: now,
          created_by: options.actor,
          destroyed_at: null,
          destroyed_by: null,
        })
        .execute();
      secrets.set(change.name, {
        id: secretId,
        version,
        deleted: change.value === undefined,
        value: change.value,
      });
      results.push({ name: change.name, outcome, version });
      changed = true;
    }

    if (!changed) return { path, revision: folder.revision, results };

    await trx
      .insertInto('folder_revisions')
      .values({ folder_id: folder.id, revision, action: options.action, created_at: now, created_by: options.actor })
      .execute();
    const live = [...secrets.entries()]
      .filter(([, s]) => !s.deleted)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, s]) => ({ name, value: s.value as string, version: s.version }));
    const bundle =
      live.length === 0
        ? null
        : keyring.encrypt(Buffer.from(JSON.stringify(live), 'utf8'), bundleContext(env, path, revision));
    const updated = await trx
      .updateTable('folders')
      .set({
        revision,
        bundle: bundle?.blob ?? null,
        bundle_key_id: bundle?.keyId ?? null,
        secret_count: live.length,
        names: JSON.stringify(live.map((s) => [s.name, s.version])),
        updated_at: now,
      })
      .where('id', '=', folder.id)
      .where('revision', '=', folder.revision)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1) {
      // Another writer moved the folder on since we read it; the transaction rolls back and nothing is half-written.
      throw conflict(`folder ${path} changed during the write; retry`, { path });
    }
    return { path, revision, results };
  }

  return { write, lockFolder };
}

export type FolderWriter = ReturnType<typeof createFolderWriter>;
