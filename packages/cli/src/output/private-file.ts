// Builtins come from process.getBuiltinModule: see config/project-file.ts.
const fs = process.getBuiltinModule('node:fs');
const nodePath = process.getBuiltinModule('node:path');

/**
 * Replaces `target` atomically with a new 0600 file: written to a hidden temp file next to it (exclusively, after
 * removing one a crashed run of this pid left), then renamed over it. Throws the file system's error; the temp file
 * is gone either way.
 */
export function writePrivateFile(target: string, data: string | Uint8Array): void {
  const temp = nodePath.join(nodePath.dirname(target), `.${nodePath.basename(target)}.${process.pid}.tmp`);
  try {
    fs.rmSync(temp, { force: true });
    fs.writeFileSync(temp, data, { mode: 0o600, flag: 'wx' });
    fs.renameSync(temp, target);
  } catch (error) {
    try {
      fs.rmSync(temp, { force: true });
    } catch {
      // nothing was written there
    }
    throw error;
  }
}
