import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../core/store/open-sqlite-store.js';

/** A fresh temp dir; `remove()` deletes it. */
export function createTempDir(prefix = 'keybox-test-') {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A real, migrated SQLite store in a fresh temp dir, for tests below the service layer. */
export async function openTempStore() {
  const dir = createTempDir();
  const store = await openSqliteStore(dir.path);
  return {
    dataDir: dir.path,
    store,
    db: store.db,
    async close() {
      await store.close();
      dir.remove();
    },
  };
}
