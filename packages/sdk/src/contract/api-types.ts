/** Wire types of the native API under `/api/v1`. Field names are part of the public contract. */

import type { ApiErrorCode } from './error-codes.js';

export interface ApiErrorBody {
  error: {
    code: ApiErrorCode;
    message: string;
    requestId: string;
    details?: Record<string, unknown>;
  };
}

/** A machine identity (`/api/v1/identities`): never its client secrets. */
export interface IdentityInfo {
  name: string;
  clientId: string;
  description: string;
  policies: string[];
  tokenTtl: number;
  tokenMaxTtl: number;
  /** 0: unlimited. */
  tokenUses: number;
  trustedCidrs: string[];
  createdAt: string;
  createdBy: string;
  disabled: boolean;
}

/** One of an identity's client secrets, as listed: metadata only. */
export interface ClientSecretInfo {
  id: string;
  description: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface EnvironmentInfo {
  slug: string;
  name: string;
  createdAt: string;
}

export interface ProjectInfo {
  slug: string;
  name: string;
  createdAt: string;
  environments: EnvironmentInfo[];
}

/** One secret as the bulk read returns it. */
export interface BulkSecret {
  name: string;
  value: string;
  version: number;
}

/** One folder in a bulk read; `revision` changes with every write in the folder. */
export interface BulkFolder {
  path: string;
  revision: number;
  secrets: BulkSecret[];
}

/**
 * `GET /api/v1/secrets?project&env&path&recursive`: every live secret in scope, grouped by folder. Folders come in
 * precedence order: for each requested path in turn, the folder itself and then (with `recursive`) its descendants,
 * shallower first. When two folders hold the same name, the later folder wins.
 */
export interface BulkReadResponse {
  project: string;
  environment: string;
  folders: BulkFolder[];
}

export interface SecretMeta {
  name: string;
  path: string;
  version: number;
  deleted: boolean;
  createdAt: string;
  updatedAt: string;
  updatedBy: string;
}

export interface SecretWithValue extends SecretMeta {
  value: string;
}

export type VersionOp = 'set' | 'delete' | 'rollback';

export interface SecretVersionInfo {
  version: number;
  op: VersionOp;
  createdAt: string;
  createdBy: string;
  folderRevision: number;
  /** For a rollback, the version whose value was restored. */
  restoredFrom: number | null;
  destroyed: boolean;
  destroyedAt: string | null;
  destroyedBy: string | null;
}

export type SecretChange =
  { name: string; value: string; ifVersion?: number } | { name: string; delete: true; ifVersion?: number };

export interface BatchRequest {
  changes: SecretChange[];
  /** Check-and-set on the folder: the write fails with CONFLICT unless the folder is at this revision. */
  ifRevision?: number;
}

export type ChangeOutcome = 'created' | 'updated' | 'unchanged' | 'deleted';

export interface BatchResult {
  path: string;
  /** The folder's revision after the write (unchanged when nothing changed). */
  revision: number;
  results: { name: string; outcome: ChangeOutcome; version: number }[];
}

export interface FolderInfo {
  path: string;
  revision: number;
  secretCount: number;
  updatedAt: string;
}

export interface FolderRevisionInfo {
  revision: number;
  createdAt: string;
  createdBy: string;
  action: string;
  changes: { name: string; version: number; op: VersionOp }[];
}

export interface FolderRollbackRequest {
  toRevision?: number;
  /** ISO-8601 time; the folder is restored to its state right after the last change at or before it. */
  toTime?: string;
  ifRevision?: number;
}

export interface FolderRollbackResult extends BatchResult {
  /** The revision whose state was restored. */
  restoredRevision: number;
}

export interface HealthResponse {
  status: 'ok';
  version: string;
}
