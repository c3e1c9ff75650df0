import { openSqliteStore } from './open-sqlite-store.js';
import type { PostgresStoreOptions } from './postgres-store.js';
import type { Store } from './store.js';

/** `--db`: a postgres:// URL, or nothing / `sqlite:` for the embedded file in the data dir. */
export function isPostgresUrl(db: string | undefined): db is string {
  return db !== undefined && /^postgres(ql)?:\/\//.test(db);
}

/**
 * Opens the store `--db` names: PostgreSQL for a postgres:// URL, else `DATA_DIR/keybox.db`. The PostgreSQL client
 * is loaded only for the former: a server on the embedded store does not carry it in memory.
 */
export async function openStore(
  db: string | undefined,
  dataDir: string,
  options: PostgresStoreOptions = {},
): Promise<Store> {
  if (!isPostgresUrl(db)) return openSqliteStore(dataDir, options);
  const { openPostgresStore } = await import('./postgres-store.js');
  return openPostgresStore(db, options);
}
