import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely } from 'kysely';
import type { Database } from './database.js';
import { migrateToLatest } from './migrations.js';
import { adaptNodeSqlite, NodeSqliteDialect, openNodeSqlite } from './node-sqlite-dialect.js';

export const SQLITE_FILE = 'keybox.db';

export interface Store {
  db: Kysely<Database>;
  dialect: 'sqlite' | 'postgres';
  /** True when this open created the database. */
  created: boolean;
  close(): Promise<void>;
}

/** Opens (creating if needed) `DATA_DIR/keybox.db`, migrated to the latest schema. */
export async function openSqliteStore(dataDir: string): Promise<Store> {
  const file = join(dataDir, SQLITE_FILE);
  const created = !existsSync(file);
  const raw = openNodeSqlite({ file });
  // The values inside are encrypted, but names and metadata are not: keep the files private.
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(file + suffix)) chmodSync(file + suffix, 0o600);
  }
  const db = new Kysely<Database>({ dialect: new NodeSqliteDialect(adaptNodeSqlite(raw)) });
  await migrateToLatest(db, 'sqlite');
  return {
    db,
    dialect: 'sqlite',
    created,
    close: () => db.destroy(),
  };
}
