import type { Clock } from '../clock.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from '../store/database.js';
import type { StoreChanges } from '../store/store-changes.js';
import type { ChangeFeed } from './change-feed.js';
import { createFolderVersions } from './folder-versions.js';
import { scopeNotFound } from './locations.js';
import { createSecretReads } from './secret-reads.js';
import { createSecretWrites } from './secret-writes.js';

export type { Scope } from './locations.js';
export type { BulkReadOutcome, FolderRead } from './secret-reads.js';

export interface SecretServiceDeps {
  db: Db;
  keyring: Pick<Keyring, 'encrypt' | 'decrypt'>;
  clock: Clock;
  changes?: ChangeFeed | undefined;
  /** Where the store says it changed (bulk reads reuse folder rows until then). */
  storeChanges?: StoreChanges | undefined;
}

/** Secrets and folders: reads (the bulk read is the hot path) and writes (each one transaction). */
export function createSecretService(deps: SecretServiceDeps) {
  return {
    ...createSecretReads(deps),
    ...createSecretWrites(deps),
    ...createFolderVersions(deps),
    scopeNotFound: (project: string, env: string) => scopeNotFound(deps.db, project, env),
  };
}

export type SecretService = ReturnType<typeof createSecretService>;
