import { SECRET_NAME_PATTERN } from '@keybox/sdk';
import { CliError } from '../errors.js';

// Builtins come from process.getBuiltinModule: see config/project-file.ts.
const fs = process.getBuiltinModule('node:fs');
const os = process.getBuiltinModule('node:os');
const path = process.getBuiltinModule('node:path');

export const DEFAULT_PREFIX = 'keybox-run-';

export interface BaseDir {
  dir: string;
  source: 'XDG_RUNTIME_DIR' | '/dev/shm' | 'tmpdir';
  /** On tmpfs/ramfs: the files never reach a disk. When false, `run` should say so. */
  memoryBacked: boolean;
}

export interface SecretFiles {
  /** The private directory holding the files (0700). */
  dir: string;
  /** Secret name → file path. */
  files: Record<string, string>;
  /** `NAME_FILE` → file path: what the child gets in its environment instead of the values. */
  env: Record<string, string>;
  /** Deletes the directory and everything in it. Synchronous, idempotent, never throws: fit for exit paths. */
  remove(): void;
}

/**
 * Where to put secret files: `$XDG_RUNTIME_DIR` (per-user, 0700, tmpfs on systemd hosts) when it is set and passes
 * the XDG checks, else `/dev/shm`, else the temp directory. `paths` replaces the last two (for tests).
 */
export function pickBaseDir(
  env: Readonly<Record<string, string | undefined>>,
  paths: { shm?: string; tmpdir?: string } = {},
): BaseDir {
  const xdg = env['XDG_RUNTIME_DIR'];
  // The XDG spec: ignore a relative path, and a directory that is not ours or that others can enter.
  if (xdg !== undefined && path.isAbsolute(xdg) && usable(xdg, true)) {
    return { dir: xdg, source: 'XDG_RUNTIME_DIR', memoryBacked: memoryBacked(xdg) };
  }
  const shm = paths.shm ?? '/dev/shm';
  if (usable(shm, false)) return { dir: shm, source: '/dev/shm', memoryBacked: memoryBacked(shm) };
  const tmp = paths.tmpdir ?? os.tmpdir();
  return { dir: tmp, source: 'tmpdir', memoryBacked: memoryBacked(tmp) };
}

/**
 * `--as-files`: writes each secret to its own file in a new private directory under the first base directory that
 * accepts one (default: {@link pickBaseDir}). Nothing is ever readable by anyone else, not even for a moment: the
 * directory is made by mkdtemp (unpredictable name, fails if it exists) and each file is opened O_EXCL|O_NOFOLLOW
 * with its mode, then both are set to exactly 0700/0600 whatever the umask. The name carries our pid and pid
 * namespace so that {@link sweepStale} can tell a leftover from a live run.
 */
export function writeSecretFiles(
  secrets: ReadonlyMap<string, string>,
  options: { baseDirs?: string[]; prefix?: string } = {},
): SecretFiles {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (prefix.includes('/') || prefix.includes('\0')) throw new Error(`invalid prefix ${JSON.stringify(prefix)}`);
  const bases = options.baseDirs ?? [pickBaseDir(process.env).dir];
  const dir = makeDir(bases, `${prefix}${process.pid}-${pidNamespace()}-`);
  const files = Object.create(null) as Record<string, string>;
  const env = Object.create(null) as Record<string, string>;
  let removed = false;
  const remove = () => {
    if (removed) return;
    try {
      fs.rmSync(dir, { recursive: true, force: true });
      removed = true;
    } catch {
      // Left for sweepStale: an exit path must not throw.
    }
  };

  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  try {
    fs.chmodSync(dir, 0o700); // mkdtemp applies the umask; 0700 & ~umask is never wider than 0700
    for (const [name, value] of secrets) {
      // Secret names are environment variable names: no '/', no '.', nothing that could leave the directory.
      if (!SECRET_NAME_PATTERN.test(name)) throw new CliError('BAD_RESPONSE', `${name} is not a valid secret name`);
      const file = path.join(dir, name);
      const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      try {
        fs.fchmodSync(fd, 0o600);
        fs.writeFileSync(fd, value, 'utf8');
      } finally {
        fs.closeSync(fd);
      }
      files[name] = file;
      env[`${name}_FILE`] = file;
    }
  } catch (error) {
    remove();
    if (error instanceof CliError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    // EEXIST here: two names that are one file on a case-insensitive file system.
    throw new CliError('CONFIG_INVALID', `cannot write secret files in ${dir}: ${code}`);
  }
  return { dir, files, env, remove };
}

/**
 * Removes the directories that runs of this tool left in `baseDir` when they could not clean up (SIGKILL, power
 * loss on a disk-backed temp dir): only those whose name this module made, whose owner pid is gone, in our pid
 * namespace, owned by us. A live pid keeps its directory even if the number was reused by another program: erring
 * towards keeping. Returns the paths removed.
 */
export function sweepStale(baseDir: string, prefix: string = DEFAULT_PREFIX): string[] {
  const pattern = new RegExp(
    `^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([1-9][0-9]{0,9})-([0-9]+)-[A-Za-z0-9]{6}$`,
  );
  const ownNamespace = pidNamespace();
  const uid = process.getuid?.();
  let names: string[];
  try {
    names = fs.readdirSync(baseDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = pattern.exec(name);
    if (match === null || match[2] !== ownNamespace) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    const full = path.join(baseDir, name);
    try {
      const stat = fs.lstatSync(full);
      if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) continue;
      fs.rmSync(full, { recursive: true, force: true });
      removed.push(full);
    } catch {
      // Gone already, or not ours to remove.
    }
  }
  return removed;
}

function makeDir(bases: readonly string[], stem: string): string {
  const codes: string[] = [];
  for (const base of bases) {
    try {
      return fs.mkdtempSync(path.join(base, stem));
    } catch (error) {
      codes.push(`${base}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  throw new CliError('CONFIG_INVALID', `cannot create a directory for secret files (${codes.join(', ') || 'none'})`, {
    hint: 'set XDG_RUNTIME_DIR or TMPDIR to a writable directory',
  });
}

/** `kill(pid, 0)`: no error means alive; EPERM means alive but someone else's. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A pid means nothing outside its pid namespace: a toolbox/distrobox container shares `$XDG_RUNTIME_DIR` with the
 * host, and must not take a live host run's directory for a dead one. `0` where there are no namespaces.
 */
function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(fs.readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}

function usable(dir: string, mustBePrivate: boolean): boolean {
  try {
    const stat = fs.statSync(dir);
    if (!stat.isDirectory()) return false;
    const uid = process.getuid?.();
    if (mustBePrivate && ((uid !== undefined && stat.uid !== uid) || (stat.mode & 0o077) !== 0)) return false;
    // World-writable without the sticky bit: anyone could rename our directory away and put theirs in its place.
    if ((stat.mode & 0o002) !== 0 && (stat.mode & 0o1000) === 0) return false;
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

function memoryBacked(dir: string): boolean {
  try {
    const { type } = fs.statfsSync(dir);
    return process.platform === 'linux' && (type === TMPFS_MAGIC || type === RAMFS_MAGIC);
  } catch {
    return false;
  }
}
