import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/*
 * vitest globalSetup: one temp dir for the whole run, removed when it ends. Everything a test creates with
 * os.tmpdir() (data dirs with their key files, CLI state, PostgreSQL clusters, browser profiles) and every process a
 * test starts lands below it, since TMPDIR is set before the workers start and they and their children inherit it.
 * Test files also remove their own dirs; this catches what a killed worker or an `exit` handler that never ran
 * leaves behind (a test run used to leave ~150 dirs in /tmp).
 *
 * Projects inherit the root's globalSetup, so this runs once per project: the first call makes the dir, the others
 * find it in the environment.
 */
const OWNER = 'KEYBOX_TEST_TMPDIR_OWNER';

export default function setup() {
  if (process.env[OWNER] !== undefined) return;
  const root = mkdtempSync(join(tmpdir(), 'keybox-tests-'));
  // Traversable (not listable) by other users: the PostgreSQL cluster runs as `postgres` in a dir of its own below.
  chmodSync(root, 0o711);
  process.env[OWNER] = String(process.pid);
  process.env['TMPDIR'] = root;
  // On exit rather than in a teardown: another project's teardown (stopping its PostgreSQL cluster) may run later.
  process.once('exit', () => rmSync(root, { recursive: true, force: true, maxRetries: 3 }));
}
