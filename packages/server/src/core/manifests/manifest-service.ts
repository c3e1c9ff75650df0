import { parseManifest, type DeclaredItem, type Manifest } from '@keybox/sdk';
import { invalidInput, notFound } from '../app-error.js';
import { audited, type TxAudit } from '../audit/tx-audit.js';
import { isoNow, type Clock } from '../clock.js';
import { resolveEnvironment } from '../secrets/locations.js';
import type { Db } from '../store/database.js';

/** For each declared item, where in the environment a secret of that name exists (no values). */
export interface ManifestItemState extends Pick<
  DeclaredItem,
  'name' | 'description' | 'secret' | 'required' | 'envVars' | 'fileVars'
> {
  /** Folders holding a live secret of this name, among those the caller may list. */
  folders: string[];
  present: boolean;
}

export interface StoredManifest {
  manifest: Manifest;
  updatedAt: string;
  updatedBy: string;
  items: ManifestItemState[];
  /** Secrets in the environment that no item declares (names only). */
  undeclared: { name: string; folders: string[] }[];
}

export interface ManifestServiceDeps {
  db: Db;
  clock: Clock;
}

/** Manifests stored per project and environment, compared with the secrets that exist there. */
export function createManifestService({ db, clock }: ManifestServiceDeps) {
  async function put(project: string, env: string, body: unknown, actor: string, audit?: TxAudit) {
    const parsed = parseManifest(body);
    if (!parsed.ok) {
      throw invalidInput(
        `invalid manifest: ${parsed.issues
          .slice(0, 5)
          .map((i) => `${i.at} ${i.message}`)
          .join('; ')}`,
        {
          issues: parsed.issues,
        },
      );
    }
    const text = JSON.stringify(body);
    await audited(
      db,
      audit,
      async (trx) => {
        const ref = await resolveEnvironment(trx, project, env);
        const now = isoNow(clock);
        const existing = await trx
          .selectFrom('manifests')
          .select('environment_id')
          .where('environment_id', '=', ref.envId)
          .executeTakeFirst();
        if (existing === undefined) {
          await trx
            .insertInto('manifests')
            .values({ environment_id: ref.envId, body: text, updated_at: now, updated_by: actor })
            .execute();
        } else {
          await trx
            .updateTable('manifests')
            .set({ body: text, updated_at: now, updated_by: actor })
            .where('environment_id', '=', ref.envId)
            .execute();
        }
      },
      () => ({ items: parsed.manifest.items.map((i) => i.name) }),
    );
  }

  async function get(project: string, env: string, allow: (path: string) => boolean): Promise<StoredManifest> {
    const ref = await resolveEnvironment(db, project, env);
    const row = await db.selectFrom('manifests').selectAll().where('environment_id', '=', ref.envId).executeTakeFirst();
    // `manifest: null` tells this apart from a missing project or environment (the same code).
    if (row === undefined)
      throw notFound(`no manifest is stored for ${project}/${env}`, { project, env, manifest: null });
    const parsed = parseManifest(JSON.parse(row.body) as unknown);
    if (!parsed.ok) throw invalidInput('the stored manifest no longer parses');
    const live = await db
      .selectFrom('secrets as s')
      .innerJoin('folders as f', 'f.id', 's.folder_id')
      .select(['s.name', 'f.path'])
      .where('f.environment_id', '=', ref.envId)
      .where('s.deleted_at', 'is', null)
      .execute();
    const where = new Map<string, string[]>();
    for (const { name, path } of live) {
      if (!allow(path)) continue;
      where.set(name, [...(where.get(name) ?? []), path]);
    }
    const declared = new Set<string>();
    const items = parsed.manifest.items.map((item) => {
      // An item is fed by a secret named as one of its variables (its own name only when that is one of them, as by
      // default): what `keybox run` injects under that name is what the SDK reads, and nothing else is.
      const names = item.envVars;
      names.forEach((n) => declared.add(n));
      const folders = [...new Set(names.flatMap((n) => where.get(n) ?? []))].sort();
      return {
        name: item.name,
        description: item.description,
        secret: item.secret,
        required: item.required,
        envVars: item.envVars,
        fileVars: item.fileVars,
        folders,
        present: folders.length > 0,
      };
    });
    const undeclared = [...where.entries()]
      .filter(([name]) => !declared.has(name))
      .map(([name, folders]) => ({ name, folders }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    return { manifest: parsed.manifest, updatedAt: row.updated_at, updatedBy: row.updated_by, items, undeclared };
  }

  return { put, get };
}

export type ManifestService = ReturnType<typeof createManifestService>;
