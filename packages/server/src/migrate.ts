import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from './core/app-error.js';
import { copySqliteToPostgres, type CopyProgress, type CopyResult } from './core/store/copy-store.js';
import { openSqliteStore, SQLITE_FILE } from './core/store/open-sqlite-store.js';
import { openStore } from './core/store/open-store.js';
import { describePostgresUrl } from './core/store/postgres-url.js';

export interface MigrateResult extends CopyResult {
  source: string;
  target: string;
  ms: number;
}

/**
 * `keybox server migrate`: copies DATA_DIR/keybox.db into the empty PostgreSQL database at `url`. The data dir keeps
 * its root key (and the copy needs it: start the servers with it and `--db url`).
 */
export async function migrateToPostgres(
  options: { dataDir: string; url: string },
  onProgress?: (progress: CopyProgress) => void,
): Promise<MigrateResult> {
  const dataDir = resolve(options.dataDir);
  const file = join(dataDir, SQLITE_FILE);
  if (!existsSync(file)) throw new AppError('NOT_FOUND', `there is no store to migrate: ${file} does not exist`);
  const target = describePostgresUrl(options.url);
  const started = performance.now();
  const from = await openSqliteStore(dataDir);
  try {
    // Through openStore: the PostgreSQL store stays a chunk of its own, loaded only here.
    const to = await openStore(options.url, dataDir);
    try {
      const result = await copySqliteToPostgres(from, to, onProgress);
      return { ...result, source: file, target, ms: Math.round(performance.now() - started) };
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}
