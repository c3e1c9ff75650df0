import { openPostgresStore, type PostgresStoreOptions } from './postgres-store.js';
import { openSqliteStore } from './open-sqlite-store.js';
import type { Store } from './store.js';

/** `--db`: a postgres:// URL, or nothing / `sqlite:` for the embedded file in the data dir. */
export function isPostgresUrl(db: string | undefined): db is string {
  return db !== undefined && /^postgres(ql)?:\/\//.test(db);
}

/** Opens the store `--db` names: PostgreSQL for a postgres:// URL, else `DATA_DIR/keybox.db`. */
export function openStore(db: string | undefined, dataDir: string, options: PostgresStoreOptions = {}): Promise<Store> {
  return isPostgresUrl(db) ? openPostgresStore(db, options) : openSqliteStore(dataDir, options);
}
