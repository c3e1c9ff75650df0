import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTestStore } from './test-store.js';

/** A fresh temp dir; `remove()` deletes it. */
export function createTempDir(prefix = 'keybox-test-') {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A real, migrated store (that of the test project) with a fresh temp dir, for tests below the service layer. */
export async function openTempStore() {
  const dir = createTempDir();
  const opened = await openTestStore(dir.path);
  const { store } = opened;
  return {
    dataDir: dir.path,
    store,
    db: store.db,
    async close() {
      await opened.close();
      dir.remove();
    },
  };
}
