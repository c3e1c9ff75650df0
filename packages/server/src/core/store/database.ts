import type { Kysely } from 'kysely';

/*
 * The schema as the typed query layer sees it. Times are ISO-8601 UTC strings (they sort as text and read the same
 * on SQLite and PostgreSQL); ids are random UUIDs; binary columns hold envelope blobs (see crypto/envelope.ts).
 */

export interface MetaTable {
  key: string;
  value: string;
}

export interface DataKeysTable {
  id: number;
  /** `data` encrypts secret values and bundles; `token-hmac` keys the token hashes. */
  purpose: string;
  wrapped: Uint8Array;
  root_key_id: string;
  created_at: string;
  retired_at: string | null;
}

export interface ProjectsTable {
  id: string;
  slug: string;
  name: string;
  created_at: string;
  updated_at: string;
}

export interface EnvironmentsTable {
  id: string;
  project_id: string;
  slug: string;
  name: string;
  position: number;
  created_at: string;
}

export interface FoldersTable {
  id: string;
  environment_id: string;
  path: string;
  /** Bumped by every change in the folder: the ETag input, the watch cursor, the Vault-visible version. */
  revision: number;
  /** Encrypted JSON array of the live secrets `[{name,value,version}]`, rebuilt from version rows on each write. */
  bundle: Uint8Array | null;
  bundle_key_id: number | null;
  secret_count: number;
  created_at: string;
  updated_at: string;
}

export interface FolderRevisionsTable {
  folder_id: string;
  revision: number;
  action: string;
  created_at: string;
  created_by: string;
}

export interface SecretsTable {
  id: string;
  folder_id: string;
  name: string;
  /** Latest version number (a deletion is a version too). */
  version: number;
  deleted_at: string | null;
  created_at: string;
  updated_at: string;
  updated_by: string;
}

export interface SecretVersionsTable {
  secret_id: string;
  version: number;
  /** `set`, `delete` (a tombstone: no value) or `rollback`. */
  op: string;
  /** Null for a deletion and for a destroyed version. */
  value: Uint8Array | null;
  key_id: number | null;
  folder_revision: number;
  restored_from: number | null;
  created_at: string;
  created_by: string;
  destroyed_at: string | null;
  destroyed_by: string | null;
}

export interface ApiTokensTable {
  id: string;
  name: string;
  /** HMAC-SHA-256 of the token's secret part, hex. */
  hash: string;
  kind: string;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface Database {
  meta: MetaTable;
  data_keys: DataKeysTable;
  projects: ProjectsTable;
  environments: EnvironmentsTable;
  folders: FoldersTable;
  folder_revisions: FolderRevisionsTable;
  secrets: SecretsTable;
  secret_versions: SecretVersionsTable;
  api_tokens: ApiTokensTable;
}

export type Db = Kysely<Database>;
