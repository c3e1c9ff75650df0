import type { Db } from '../store/database.js';

/**
 * `/api/secrets/status`: how the server is doing, for a monitor — never a value, and never a name: only states,
 * counts and ages.
 */
export interface ServerStatus {
  status: 'ok' | 'degraded';
  version: string;
  uptimeSeconds: number;
  store: { ok: boolean; dialect: string; error?: string };
  keys: {
    rootKeyId: string;
    dataKeys: number;
    activeDataKeyCreatedAt: string | null;
    activeDataKeyAgeDays: number | null;
  };
  counts: {
    projects: number;
    environments: number;
    folders: number;
    secrets: number;
    versions: number;
    identities: number;
    users: number;
    activeTokens: number;
  } | null;
  audit: { entries: number; headConsistent: boolean } | null;
  backup: {
    /** The last backup made through the API (`keybox backup create`), if any. */
    last: { createdAt: string; ageDays: number; bytes: number; auditSeq: number } | null;
    note?: string;
  };
  rotation: {
    /** The last key rotation (`keybox rotate root-key|data-key`), if any. */
    last: { at: string; kind: string; ageDays: number } | null;
    note?: string;
  };
}

export interface StatusDeps {
  db: Db;
  dialect: string;
  version: string;
  rootKeyId: string;
  startedAt: Date;
  now: () => Date;
  lastRotation?: () => Promise<{ at: string; kind: string } | undefined>;
  lastBackup?: () => Promise<{ createdAt: string; bytes: number; auditSeq: number } | undefined>;
  /** The head kept outside the database, for the consistency check. */
  readHeadFile: () => Promise<{ seq: number; mac: string } | undefined>;
}

async function count(
  db: Db,
  table: 'projects' | 'environments' | 'folders' | 'identities' | 'users' | 'secret_versions',
): Promise<number> {
  const row = await db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function serverStatus(deps: StatusDeps): Promise<ServerStatus> {
  const now = deps.now();
  const base = {
    version: deps.version,
    uptimeSeconds: Math.round((now.getTime() - deps.startedAt.getTime()) / 1000),
  } as const;
  try {
    const keys = await deps.db
      .selectFrom('data_keys')
      .select(['purpose', 'created_at', 'retired_at'])
      .orderBy('id')
      .execute();
    const active = keys.filter((k) => k.purpose === 'data' && k.retired_at === null).at(-1);
    const secrets = await deps.db
      .selectFrom('secrets')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    const tokens = await deps.db
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now.toISOString())]))
      .executeTakeFirst();
    // The file first: it only ever trails the database, so read before the rows it must not be ahead of.
    const file = await deps.readHeadFile();
    // Head row and last entry from one statement, one snapshot: a commit landing in between does not look like
    // tampering, and a status poll takes no write lock (a transaction here would: writers begin IMMEDIATE).
    const ends = await deps.db
      .selectNoFrom((eb) => [
        eb.selectFrom('audit_head').select('seq').where('id', '=', 1).as('headSeq'),
        eb.selectFrom('audit_head').select('mac').where('id', '=', 1).as('headMac'),
        eb.selectFrom('audit_log').select('seq').orderBy('seq', 'desc').limit(1).as('lastSeq'),
        eb.selectFrom('audit_log').select('mac').orderBy('seq', 'desc').limit(1).as('lastMac'),
      ])
      .executeTakeFirstOrThrow();
    const lastSeq = Number(ends.lastSeq ?? 0);
    // A quick consistency check (the full one is `keybox audit verify`): head row, last entry and head file agree.
    const headConsistent =
      Number(ends.headSeq ?? 0) === lastSeq &&
      (ends.headMac ?? '') === (ends.lastMac ?? '') &&
      (file === undefined ? lastSeq === 0 : file.seq <= lastSeq);
    const backup = await deps.lastBackup?.();
    const rotation = await deps.lastRotation?.();
    const ageDays =
      active === undefined ? null : Math.floor((now.getTime() - Date.parse(active.created_at)) / 86_400_000);
    return {
      status: headConsistent ? 'ok' : 'degraded',
      ...base,
      backup:
        backup === undefined
          ? {
              last: null,
              note:
                deps.dialect === 'postgres'
                  ? 'no backup has been made with keybox backup create (pg_dump runs are not seen by the server)'
                  : 'no backup has been made with keybox backup create',
            }
          : {
              last: {
                createdAt: backup.createdAt,
                ageDays: Math.floor((now.getTime() - Date.parse(backup.createdAt)) / 86_400_000),
                bytes: backup.bytes,
                auditSeq: backup.auditSeq,
              },
            },
      rotation:
        rotation === undefined
          ? { last: null, note: 'no key has been rotated (keybox rotate root-key|data-key)' }
          : {
              last: {
                at: rotation.at,
                kind: rotation.kind,
                ageDays: Math.floor((now.getTime() - Date.parse(rotation.at)) / 86_400_000),
              },
            },
      store: { ok: true, dialect: deps.dialect },
      keys: {
        rootKeyId: deps.rootKeyId,
        dataKeys: keys.length,
        activeDataKeyCreatedAt: active?.created_at ?? null,
        activeDataKeyAgeDays: ageDays,
      },
      counts: {
        projects: await count(deps.db, 'projects'),
        environments: await count(deps.db, 'environments'),
        folders: await count(deps.db, 'folders'),
        secrets: Number(secrets?.n ?? 0),
        versions: await count(deps.db, 'secret_versions'),
        identities: await count(deps.db, 'identities'),
        users: await count(deps.db, 'users'),
        activeTokens: Number(tokens?.n ?? 0),
      },
      audit: { entries: lastSeq, headConsistent },
    };
  } catch (error) {
    return {
      status: 'degraded',
      ...base,
      backup: { last: null, note: 'the store cannot be read' },
      rotation: { last: null, note: 'the store cannot be read' },
      store: { ok: false, dialect: deps.dialect, error: (error as Error).name },
      keys: { rootKeyId: deps.rootKeyId, dataKeys: 0, activeDataKeyCreatedAt: null, activeDataKeyAgeDays: null },
      counts: null,
      audit: null,
    };
  }
}
