/*
 * What the read caches (token checks, bulk reads) need from a store: a number per area that moves whenever something
 * they copied may have changed. Both stores classify each statement they run the same way; they differ in how they
 * learn of commits made by others (SQLite: `PRAGMA data_version`; PostgreSQL: LISTEN/NOTIFY from triggers).
 */

/**
 * The parts of the store a read cache can depend on: `access` (tokens, users, identities, policies) for token
 * checks, `secrets` (projects, environments, folders, secrets) for bulk reads. A login adds a token without
 * dropping the folders kept for bulk reads; a write to a secret does not drop token checks.
 */
export type StoreArea = 'access' | 'secrets';

/**
 * Tells the read caches when what they copied may have changed. `version(area)` moves on every change to that area
 * made through this process (at the statement and again at its commit), and on every commit by another process
 * sharing the database, as soon as the store hears of it. A cache entry is used only while the version it was read
 * at is still current; a cache reads the version before it reads the database.
 */
export interface StoreChanges {
  version(area: StoreArea): number;
}

export const ACCESS = 1;
export const SECRETS = 2;
export const ALL_AREAS = ACCESS | SECRETS;

/** Which area each table belongs to (0: none a cache reads). */
export const TABLE_AREAS: Readonly<Record<string, number>> = {
  api_tokens: ACCESS,
  users: ACCESS,
  identities: ACCESS,
  identity_secrets: ACCESS,
  policies: ACCESS,
  policy_attachments: ACCESS,
  projects: SECRETS,
  environments: SECRETS,
  folders: SECRETS,
  folder_revisions: SECRETS,
  secrets: SECRETS,
  secret_versions: SECRETS,
  // The audit chain is appended on every request and never read through a cache.
  audit_log: 0,
  audit_head: 0,
  audit_names: 0,
  // Moved by triggers only (SQLite, migration 0008): how the caches learn which area another connection changed.
  store_generations: 0,
};

/** What a statement does to what the read caches hold: which areas it writes (0: none), or a transaction edge. */
export type StatementKind = { edge: 'begin' | 'end' } | { edge?: undefined; areas: number };

export function kindOf(sql: string): StatementKind {
  const head = sql.trimStart().slice(0, 60).toLowerCase();
  if (head.startsWith('select ')) return { areas: 0 };
  if (head.startsWith('begin') || head.startsWith('start transaction')) return { edge: 'begin' };
  if (head.startsWith('commit') || head.startsWith('rollback') || head.startsWith('end')) return { edge: 'end' };
  // A connection setting (synchronous, LISTEN) changes no data.
  if (head.startsWith('pragma') || head.startsWith('listen')) return { areas: 0 };
  const table = /^(?:insert into|update|delete from) "([a-z_]+)"/.exec(head)?.[1];
  // Anything else (schema changes, a table not listed): both, to be safe.
  return { areas: table === undefined ? ALL_AREAS : (TABLE_AREAS[table] ?? ALL_AREAS) };
}

/** The counters behind a StoreChanges. */
export function createAreaVersions() {
  const versions = { access: 0, secrets: 0 };
  return {
    bump: (areas: number): void => {
      if ((areas & ACCESS) !== 0) versions.access += 1;
      if ((areas & SECRETS) !== 0) versions.secrets += 1;
    },
    get: (area: StoreArea): number => versions[area],
  };
}
