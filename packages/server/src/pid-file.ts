import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** `DATA_DIR/keybox.pid`: the pid of the server running on the data dir, written once it listens. */
export const PID_FILE = 'keybox.pid';

/**
 * The server running on `dataDir`, if any: its pid and when it started (the pid file's time). A pid file whose
 * process is gone, or is now another program, is stale and ignored.
 */
export function runningServer(dataDir: string): { pid: number; startedAt: Date } | undefined {
  const file = join(dataDir, PID_FILE);
  let pid: number;
  let startedAt: Date;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
    startedAt = statSync(file).mtime;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined; // gone
  }
  try {
    // A crashed server's number may have gone to another program since.
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('keybox')) return undefined;
  } catch {
    // No /proc (macOS): trust the pid.
  }
  return { pid, startedAt };
}
