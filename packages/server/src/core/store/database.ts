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
  /** JSON `[[name, version], ...]` of the live secrets: no values. What a bulk read of the folder audits. */
  names: string | null;
  /**
   * JSON object, string → string: the folder's custom metadata, set through the Vault API's `metadata/` (tags such
   * as External Secrets' `managed-by`). Metadata, not secret: stored in plain text like the names.
   */
  custom_metadata: string | null;
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
  /** HMAC-SHA-256 of the whole token, hex. */
  hash: string;
  /** `api` (static, with its own policies), `session` (a user's login) or `access` (an identity's login). */
  kind: string;
  /** `token` for a static API token, else `user` or `identity`. */
  principal_type: string | null;
  principal_id: string | null;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  /** Renewals never extend past this. */
  max_expires_at: string | null;
  /** The lifetime it was issued with (renewals extend by this). */
  ttl_seconds: number | null;
  /** Null: unlimited. */
  uses_remaining: number | null;
  last_used_at: string | null;
  last_ip: string | null;
  /** For access tokens: the client secret that minted it (revoking the secret revokes its tokens). */
  secret_id: string | null;
  revoked_at: string | null;
}

export interface UsersTable {
  id: string;
  name: string;
  password_hash: string;
  is_admin: number;
  created_at: string;
  created_by: string;
  disabled_at: string | null;
  last_login_at: string | null;
}

export interface IdentitiesTable {
  id: string;
  name: string;
  description: string;
  /** Seconds. */
  token_ttl: number;
  token_max_ttl: number;
  /** 0: unlimited. */
  token_uses: number;
  /** JSON array of CIDRs; empty: any address. */
  trusted_cidrs: string;
  created_at: string;
  created_by: string;
  disabled_at: string | null;
}

export interface IdentitySecretsTable {
  id: string;
  identity_id: string;
  hash: string;
  description: string;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface PoliciesTable {
  name: string;
  description: string;
  /** JSON array of rules (see core/policy/policy-rules.ts). */
  rules: string;
  builtin: number;
  created_at: string;
  updated_at: string;
  updated_by: string;
}

export interface PolicyAttachmentsTable {
  principal_type: string;
  principal_id: string;
  policy_name: string;
}

export interface AuditLogTable {
  seq: number;
  time: string;
  actor: string;
  actor_type: string;
  source_ip: string;
  user_agent: string;
  action: string;
  resource: string;
  outcome: string;
  request_id: string;
  /** JSON; never a value. */
  details: string;
  /** HMAC chain link: HMAC(audit key, previous mac + this entry). */
  mac: string;
}

/**
 * The names and versions a bulk read served (JSON `[[name, version], …]`), stored once per distinct list and named
 * in audit entries by its SHA-256: a read of a 200-secret folder records ~60 bytes instead of ~4 KB. Append-only;
 * `verify` checks every referenced list against its hash.
 */
export interface AuditNamesTable {
  hash: string;
  names: string;
}

export interface AuditHeadTable {
  id: number;
  seq: number;
  mac: string;
}

export interface ManifestsTable {
  environment_id: string;
  /** The manifest as JSON (validated with the SDK's parseManifest). */
  body: string;
  updated_at: string;
  updated_by: string;
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
  users: UsersTable;
  identities: IdentitiesTable;
  identity_secrets: IdentitySecretsTable;
  policies: PoliciesTable;
  policy_attachments: PolicyAttachmentsTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  audit_names: AuditNamesTable;
  manifests: ManifestsTable;
}

export type Db = Kysely<Database>;
