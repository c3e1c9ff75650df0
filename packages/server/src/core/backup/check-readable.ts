import type { Keyring } from '../crypto/keyring.js';
import { bundleContext, valueContext, type EnvRef } from '../secrets/locations.js';
import type { Db } from '../store/database.js';

export interface ReadableCheck {
  values: number;
  bundles: number;
  /** One line per blob that does not decrypt: where it is, never what it holds. */
  problems: string[];
}

const PAGE = 1000;

/**
 * Decrypts every stored value (every version that still has one) and every folder bundle, and keeps nothing: proof
 * that a store is readable with this keyring, down to the last byte of ciphertext. SQLite's integrity check and the
 * audit chain say nothing about a damaged value.
 */
export async function checkReadable(db: Db, keyring: Keyring): Promise<ReadableCheck> {
  const result: ReadableCheck = { values: 0, bundles: 0, problems: [] };
  const note = (what: string) => {
    if (result.problems.length < 20) result.problems.push(what);
  };
  // Keyset paging (by the primary keys), not OFFSET: each page starts where the last one ended, so the whole pass
  // stays linear in the store's size.
  for (let after: { id: string; version: number } | undefined; ;) {
    const last = after;
    const rows = await db
      .selectFrom('secret_versions as v')
      .innerJoin('secrets as s', 's.id', 'v.secret_id')
      .innerJoin('folders as f', 'f.id', 's.folder_id')
      .innerJoin('environments as e', 'e.id', 'f.environment_id')
      .select(['v.secret_id', 'v.value', 'v.version', 's.name', 'f.path', 'e.id as envId', 'e.project_id as projectId'])
      .where('v.value', 'is not', null)
      .$if(last !== undefined, (q) =>
        q.where((eb) =>
          eb.or([
            eb('v.secret_id', '>', last!.id),
            eb.and([eb('v.secret_id', '=', last!.id), eb('v.version', '>', last!.version)]),
          ]),
        ),
      )
      .orderBy('v.secret_id')
      .orderBy('v.version')
      .limit(PAGE)
      .execute();
    for (const row of rows) {
      const env: EnvRef = { projectId: row.projectId, envId: row.envId, project: '', env: '' };
      try {
        keyring.decrypt(row.value!, valueContext(env, row.path, row.name, row.version));
        result.values += 1;
      } catch {
        note(`${row.path} ${row.name} version ${row.version} does not decrypt`);
      }
    }
    const end = rows.at(-1);
    if (rows.length < PAGE || end === undefined) break;
    after = { id: end.secret_id, version: end.version };
  }
  for (let after: string | undefined; ;) {
    const last = after;
    const rows = await db
      .selectFrom('folders as f')
      .innerJoin('environments as e', 'e.id', 'f.environment_id')
      .select(['f.id', 'f.bundle', 'f.path', 'f.revision', 'e.id as envId', 'e.project_id as projectId'])
      .where('f.bundle', 'is not', null)
      .$if(last !== undefined, (q) => q.where('f.id', '>', last!))
      .orderBy('f.id')
      .limit(PAGE)
      .execute();
    for (const row of rows) {
      const env: EnvRef = { projectId: row.projectId, envId: row.envId, project: '', env: '' };
      try {
        keyring.decrypt(row.bundle!, bundleContext(env, row.path, row.revision));
        result.bundles += 1;
      } catch {
        note(`the bundle of folder ${row.path} (revision ${row.revision}) does not decrypt`);
      }
    }
    const end = rows.at(-1);
    if (rows.length < PAGE || end === undefined) break;
    after = end.id;
  }
  return result;
}
