import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from './core/app-error.js';
import { createAuditLog } from './core/audit/audit-log.js';
import { systemClock } from './core/clock.js';
import { addDataKey, openKeyring, rewrapDataKeys, type Keyring } from './core/crypto/keyring.js';
import { loadRootKey, parseKeyMaterial, rootKeyId, ROOT_KEY_FILE, type RootKey } from './core/crypto/root-key.js';
import { bundleContext, valueContext, type EnvRef } from './core/secrets/locations.js';
import type { Db } from './core/store/database.js';
import { openStore } from './core/store/open-store.js';
import type { Store } from './core/store/store.js';
import { AUDIT_HEAD_FILE } from './main.js';
import { runningServer } from './pid-file.js';

/*
 * `keybox rotate root-key` and `keybox rotate data-key`, run on the store directly (a server may keep running: it
 * holds its data keys unwrapped in memory, and picks up the change at its next start).
 *
 * - Root key: every data key is wrapped again with a new root key, in one transaction — a handful of rows, whatever
 *   the store holds. A timestamped backup (sealed with the old key) is made first.
 * - Data key: a new data key becomes the active one and the old ones are retired (kept to decrypt what they
 *   encrypted). With `reencrypt`, every value and bundle is encrypted again under the active key.
 *
 * Each rotation is an audit entry (`key.rotate`, actor `system:rotate`) and shows in /api/secrets/status.
 */

export interface RotateOptions {
  dataDir: string;
  /** `--db`: a PostgreSQL URL; the data dir's SQLite store otherwise. */
  db?: string | undefined;
  masterKey?: string | undefined;
  masterKeyFile?: string | undefined;
  dryRun?: boolean;
}

export interface RootRotation {
  kind: 'root';
  dryRun: boolean;
  from: string;
  to: string | undefined;
  dataKeys: number;
  /** Where the new key is. */
  keyFile: string | undefined;
  /** Where the old key went (when it was the data dir's keybox.key). */
  oldKeyFile: string | undefined;
  /** The backup made before the rotation, sealed with the old key. */
  backup: string | undefined;
}

export interface DataRotation {
  kind: 'data';
  dryRun: boolean;
  activeKeyId: number | undefined;
  retired: number[];
  /** Null when --reencrypt was not asked for. */
  reencrypted: { values: number; bundles: number } | null;
}

/** The meta row behind /api/secrets/status `rotation.last`. */
export const ROTATION_META = 'rotation.last';

async function withStore<T>(options: RotateOptions, work: (store: Store, root: RootKey) => Promise<T>): Promise<T> {
  const dataDir = resolve(options.dataDir);
  const usesDataDirKey = (options.masterKey ?? '') === '' && (options.masterKeyFile ?? '') === '';
  if (usesDataDirKey && !existsSync(join(dataDir, ROOT_KEY_FILE))) {
    throw new AppError('INVALID_INPUT', `${join(dataDir, ROOT_KEY_FILE)} does not exist: give the current root key`);
  }
  if (options.db === undefined && !existsSync(join(dataDir, 'keybox.db'))) {
    throw new AppError('NOT_FOUND', `there is no store in ${dataDir}`);
  }
  const root = loadRootKey({ dataDir, masterKey: options.masterKey, masterKeyFile: options.masterKeyFile });
  const store = await openStore(options.db, dataDir);
  try {
    return await work(store, root);
  } finally {
    await store.close();
  }
}

async function record(store: Store, keyring: Keyring, dataDir: string, details: Record<string, unknown>) {
  const auditLog = createAuditLog({
    db: store.db,
    dialect: store.dialect,
    key: keyring.auditKey,
    clock: systemClock,
    headFile: join(dataDir, AUDIT_HEAD_FILE),
  });
  const at = systemClock.now().toISOString();
  await store.db
    .insertInto('meta')
    .values({ key: ROTATION_META, value: JSON.stringify({ at, kind: details['kind'] }) })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: JSON.stringify({ at, kind: details['kind'] }) }))
    .execute();
  await auditLog.append({
    actor: 'system:rotate',
    actorType: 'system',
    sourceIp: '',
    userAgent: '',
    action: 'key.rotate',
    resource: `key:${String(details['kind'])}`,
    outcome: 'success',
    requestId: 'rotate',
    details,
  });
  await auditLog.settled();
}

/**
 * Wraps every data key with a new root key: the one in `newKeyFile` if that file exists, else a new random key
 * written there (0600, exclusively). Without `newKeyFile`, the data dir's keybox.key is replaced (the old one is kept
 * beside it as keybox.key.<old id>.old, for the backups made before).
 */
export async function rotateRootKey(
  options: RotateOptions & { newKeyFile?: string | undefined },
): Promise<RootRotation> {
  const dataDir = resolve(options.dataDir);
  return withStore(options, async (store, root) => {
    const inDataDir = root.source === 'data-dir';
    if (options.newKeyFile === undefined && !inDataDir) {
      throw new AppError(
        'INVALID_INPUT',
        'the current root key does not come from the data dir: say where the new one goes (--new-key-file FILE)',
      );
    }
    const keyed = await store.db.selectFrom('data_keys').select('id').execute();
    const result: RootRotation = {
      kind: 'root',
      dryRun: options.dryRun === true,
      from: root.id,
      to: undefined,
      dataKeys: keyed.length,
      keyFile: undefined,
      oldKeyFile: undefined,
      backup: undefined,
    };
    // The current key must open the store before anything changes.
    const before = await openKeyring(store.db, root, systemClock);
    if (options.dryRun === true) return result;

    const target =
      options.newKeyFile === undefined ? join(dataDir, `${ROOT_KEY_FILE}.new`) : resolve(options.newKeyFile);
    const given = existsSync(target) && options.newKeyFile !== undefined;
    const live = join(dataDir, ROOT_KEY_FILE);
    const oldKeyFile = `${live}.${root.id}.old`;
    if (options.newKeyFile === undefined && existsSync(oldKeyFile) && !sameFile(oldKeyFile, live)) {
      throw new AppError('CONFLICT', `${oldKeyFile} exists and is not the current key file: move it away first`);
    }
    const next = given ? readNewKey(target) : createKeyFile(target);
    let attempted = false;
    try {
      if (next.id === root.id) throw new AppError('INVALID_INPUT', 'the new root key is the current one');
      result.to = next.id;
      // The old key gets its second name before anything changes, so no failure later leaves it without one.
      if (options.newKeyFile === undefined && !existsSync(oldKeyFile)) linkSync(live, oldKeyFile);
      // A backup first, sealed with the old key: the way back if anything below goes wrong.
      if (store.snapshot !== undefined) {
        const dir = join(dataDir, 'backups');
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const stamp = new Date()
          .toISOString()
          .replace(/[-:]/g, '')
          .replace(/\.\d+Z$/, 'Z');
        result.backup = join(dir, `keybox-before-root-rotation-${stamp}.db`);
        await store.snapshot(result.backup);
      }
      attempted = true;
      await store.db.transaction().execute((trx) => rewrapDataKeys(trx, root, next));
    } catch (error) {
      // A key made for this run goes only when the store certainly does not need it: before the transaction, or
      // after one that left every data key with the old root key (a COMMIT that failed may still have landed).
      if (!given && (!attempted || (await stillWrappedBy(store, root.id)))) rmSync(target, { force: true });
      throw error;
    }
    const after = await openKeyring(store.db, next, systemClock);
    if (after.activeKeyId !== before.activeKeyId) throw new AppError('INTERNAL', 'the rotated store lost its data key');

    if (options.newKeyFile === undefined) {
      // The data dir's key file now holds the new key; the old one stays (keybox.key.<id>.old) for its backups.
      renameSync(target, live);
      result.oldKeyFile = oldKeyFile;
      result.keyFile = live;
    } else {
      result.keyFile = target;
    }
    await record(store, after, dataDir, { kind: 'root', from: root.id, to: next.id, dataKeys: keyed.length });
    return result;
  });
}

/** A new active data key; with `reencrypt`, every value and bundle encrypted again under the active key. */
export async function rotateDataKey(
  options: RotateOptions & { reencrypt?: boolean; newKey?: boolean },
): Promise<DataRotation> {
  const dataDir = resolve(options.dataDir);
  return withStore(options, async (store, root) => {
    const before = await openKeyring(store.db, root, systemClock);
    const result: DataRotation = {
      kind: 'data',
      dryRun: options.dryRun === true,
      activeKeyId: before.activeKeyId,
      retired: [],
      reencrypted: null,
    };
    if (options.dryRun === true) return result;
    if (options.reencrypt === true) await refuseStaleServer(store, dataDir, options.newKey !== false);
    if (options.newKey !== false) {
      const added = await store.db.transaction().execute((trx) => addDataKey(trx, root, systemClock));
      result.activeKeyId = added.id;
      result.retired = added.retired;
    }
    const keyring = await openKeyring(store.db, root, systemClock);
    if (options.reencrypt === true) result.reencrypted = await reencrypt(store.db, keyring);
    await record(store, keyring, dataDir, {
      kind: 'data',
      activeKeyId: result.activeKeyId,
      retired: result.retired,
      reencrypted: result.reencrypted,
    });
    return result;
  });
}

/**
 * A running server knows the data keys that existed when it started, and no later one: values re-encrypted under a
 * newer key would be unreadable to it until it restarts. Checks this data dir's server (each replica on PostgreSQL
 * has its own data dir: the docs say to restart them all first).
 */
async function refuseStaleServer(store: Store, dataDir: string, addingKey: boolean): Promise<void> {
  const running = runningServer(dataDir);
  if (running === undefined) return;
  const hint = 'restart it after `keybox rotate data-key`, then run `keybox rotate data-key --reencrypt --no-new-key`';
  if (addingKey) {
    throw new AppError(
      'CONFLICT',
      `a server (pid ${running.pid}) is running on ${dataDir} and would not know the new key: ${hint}`,
    );
  }
  const active = await store.db
    .selectFrom('data_keys')
    .select(['id', 'created_at'])
    .where('purpose', '=', 'data')
    .where('retired_at', 'is', null)
    .orderBy('id', 'desc')
    .executeTakeFirst();
  if (active !== undefined && Date.parse(active.created_at) > running.startedAt.getTime()) {
    throw new AppError(
      'CONFLICT',
      `a server (pid ${running.pid}) started before data key ${active.id} existed and cannot read values under it: ${hint}`,
    );
  }
}

const BATCH = 500;

/** Every value and bundle not under the active key, decrypted and encrypted again, a batch per transaction. */
async function reencrypt(db: Db, keyring: Keyring): Promise<{ values: number; bundles: number }> {
  const active = keyring.activeKeyId;
  const done = { values: 0, bundles: 0 };
  for (;;) {
    const n = await db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('secret_versions as v')
        .innerJoin('secrets as s', 's.id', 'v.secret_id')
        .innerJoin('folders as f', 'f.id', 's.folder_id')
        .innerJoin('environments as e', 'e.id', 'f.environment_id')
        .select([
          'v.secret_id',
          'v.version',
          'v.value',
          's.name',
          'f.path',
          'e.id as envId',
          'e.project_id as projectId',
        ])
        .where('v.value', 'is not', null)
        .where('v.key_id', '!=', active)
        .limit(BATCH)
        .execute();
      for (const row of rows) {
        const env: EnvRef = { projectId: row.projectId, envId: row.envId, project: '', env: '' };
        const context = valueContext(env, row.path, row.name, row.version);
        const { blob, keyId } = keyring.encrypt(keyring.decrypt(row.value!, context), context);
        await trx
          .updateTable('secret_versions')
          .set({ value: blob, key_id: keyId })
          .where('secret_id', '=', row.secret_id)
          .where('version', '=', row.version)
          .execute();
      }
      return rows.length;
    });
    done.values += n;
    if (n < BATCH) break;
  }
  for (;;) {
    const n = await db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('folders as f')
        .innerJoin('environments as e', 'e.id', 'f.environment_id')
        .select(['f.id', 'f.bundle', 'f.path', 'f.revision', 'e.id as envId', 'e.project_id as projectId'])
        .where('f.bundle', 'is not', null)
        .where('f.bundle_key_id', '!=', active)
        .limit(BATCH)
        .execute();
      for (const row of rows) {
        const env: EnvRef = { projectId: row.projectId, envId: row.envId, project: '', env: '' };
        const context = bundleContext(env, row.path, row.revision);
        const { blob, keyId } = keyring.encrypt(keyring.decrypt(row.bundle!, context), context);
        await trx.updateTable('folders').set({ bundle: blob, bundle_key_id: keyId }).where('id', '=', row.id).execute();
      }
      return rows.length;
    });
    done.bundles += n;
    if (n < BATCH) break;
  }
  return done;
}

async function stillWrappedBy(store: Store, rootId: string): Promise<boolean> {
  try {
    const rows = await store.db.selectFrom('data_keys').select('root_key_id').execute();
    return rows.length > 0 && rows.every((r) => r.root_key_id === rootId);
  } catch {
    return false;
  }
}

function sameFile(a: string, b: string): boolean {
  try {
    return readFileSync(a).equals(readFileSync(b));
  } catch {
    return false;
  }
}

function createKeyFile(path: string): RootKey {
  const key = randomBytes(32);
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    throw new AppError('INVALID_INPUT', `cannot create ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    writeSync(fd, `${key.toString('base64')}\n`);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o600);
  return { key, id: rootKeyId(key), source: 'file', path, created: true };
}

function readNewKey(path: string): RootKey {
  const key = parseKeyMaterial(readFileSync(path), path, { allowRaw: true });
  return { key, id: rootKeyId(key), source: 'file', path, created: false };
}
