import { SECRET_NAME_PATTERN } from '@keybox/sdk';
import { CliError } from '../errors.js';

// Builtins come from process.getBuiltinModule: see config/project-file.ts.
const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');
const crypto = () => process.getBuiltinModule('node:crypto');

/*
 * What `keybox agent` writes. Every file is written the one safe way: a new temp file beside the target, opened
 * O_EXCL|O_NOFOLLOW with its final mode (and group) before any byte of the value goes in, synced, then renamed over
 * the target. A reader sees the old content or the new, never a mix, never a moment of a wider mode; a symlink at
 * the target is replaced, not followed. A file whose content did not change is not touched (its mtime, inode and
 * any inotify watch on it stay as they were).
 */

/** The agent's record of what it wrote in a directory (names only), so it never deletes a file it did not make. */
export const STATE_FILE = '.keybox-agent.json';

export interface FileOptions {
  /** Permission bits of every file written (never any bit for others). */
  mode: number;
  /** Group to give the files (a numeric gid), e.g. the group a container's user is in, with mode 0640/0440. */
  gid: number | undefined;
}

export interface RenderOutcome {
  /** Names whose file was (re)written: new, changed, or found missing or replaced since the last render. */
  written: string[];
  /** Names whose file was removed: no longer in scope. */
  removed: string[];
  /** Files left as they were. */
  unchanged: number;
}

/** Parses `--mode`: octal, owner read at least, nothing for others. */
export function parseMode(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text)) {
    throw new CliError('USAGE', `--mode must be an octal mode such as 0600, 0400 or 0640, not ${JSON.stringify(text)}`);
  }
  const mode = Number.parseInt(text, 8);
  if ((mode & 0o007) !== 0) {
    throw new CliError('USAGE', `--mode ${text} would let every user of the machine read the secrets`, {
      hint: 'give the reader a group instead: --group GROUP --mode 0640',
    });
  }
  if ((mode & 0o400) === 0) throw new CliError('USAGE', `--mode ${text} leaves the owner unable to read the files`);
  return mode;
}

/** Parses `--group`: a numeric gid or a name from /etc/group. */
export function parseGroup(text: string, groupFile = '/etc/group'): number {
  if (/^[0-9]{1,10}$/.test(text)) return Number(text);
  let lines: string[] = [];
  try {
    lines = fs.readFileSync(groupFile, 'utf8').split('\n');
  } catch {
    // No group database: only numeric ids work.
  }
  for (const line of lines) {
    const [name, , gid] = line.split(':');
    if (name === text && gid !== undefined && /^[0-9]+$/.test(gid)) return Number(gid);
  }
  throw new CliError('USAGE', `no group named ${JSON.stringify(text)} in ${groupFile}`, {
    hint: 'give its numeric id',
  });
}

/** The directory mode that lets the files' readers in: 0700, or 0750 when the group may read. */
export function dirModeFor(fileMode: number): number {
  return (fileMode & 0o040) !== 0 ? 0o750 : 0o700;
}

/**
 * Makes `dir` (and missing parents) or checks the one there: a directory, ours (unless we are root), that nobody
 * else can write to. Anyone who could write there could swap a secret file for one of their own.
 */
export function prepareDir(dir: string, options: FileOptions): void {
  const mode = dirModeFor(options.mode);
  let created = false;
  try {
    created = fs.mkdirSync(dir, { recursive: true, mode }) !== undefined;
  } catch (error) {
    throw new CliError('CONFIG_INVALID', `cannot create ${dir} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const stat = fs.statSync(dir);
  if (!stat.isDirectory()) throw new CliError('CONFIG_INVALID', `${dir} is not a directory`);
  if (created) {
    fs.chmodSync(dir, mode); // mkdir applied the umask
    if (options.gid !== undefined) chown(dir, options.gid);
    return;
  }
  const uid = process.getuid?.();
  if (uid !== undefined && uid !== 0 && stat.uid !== uid) {
    throw new CliError('CONFIG_INVALID', `${dir} belongs to another user (uid ${stat.uid})`, {
      hint: 'give the agent a directory of its own',
    });
  }
  if ((stat.mode & 0o022) !== 0) {
    throw new CliError('CONFIG_INVALID', `${dir} is writable by other users: they could replace the secret files`, {
      hint: `chmod go-w ${dir}, or give the agent a directory of its own`,
    });
  }
}

/**
 * Checks the directory a single `--file` goes in: it must exist, and if others may write to it, only with the
 * sticky bit (as /tmp), so nobody can rename our file away and put theirs in its place.
 */
export function checkFileParent(file: string): void {
  const parent = path.dirname(path.resolve(file));
  let stat;
  try {
    stat = fs.statSync(parent);
  } catch (error) {
    throw new CliError('CONFIG_INVALID', `cannot use ${parent} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!stat.isDirectory()) throw new CliError('CONFIG_INVALID', `${parent} is not a directory`);
  if ((stat.mode & 0o022) !== 0 && (stat.mode & 0o1000) === 0) {
    throw new CliError('CONFIG_INVALID', `${parent} is writable by other users: they could replace ${file}`, {
      hint: `chmod go-w ${parent}, or write the file elsewhere`,
    });
  }
}

/** Removes the temp files an agent killed mid-write (SIGKILL, power loss) left in `dir`: those of dead pids. */
export function sweepTempFiles(dir: string): string[] {
  const pattern = /^\.[^/]+\.([1-9][0-9]{0,9})\.[0-9a-f]{12}\.tmp$/;
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1] ?? 0);
    if (pid === 0 || pid === process.pid || isAlive(pid)) continue;
    fs.rmSync(path.join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
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

function chown(file: string, gid: number): void {
  try {
    fs.chownSync(file, -1, gid);
  } catch (error) {
    throw new CliError(
      'CONFIG_INVALID',
      `cannot give ${file} to group ${gid} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      { hint: 'the agent can only give files to a group it is a member of (or run it as root)' },
    );
  }
}

/**
 * Writes `data` to `target` atomically with exactly `options.mode` (whatever the umask) and group, and returns the
 * new file's fingerprint (see {@link fingerprint}). The temp file's name is unpredictable and made exclusively; it is gone when this returns.
 */
export function writeFileAtomically(target: string, data: string, options: FileOptions): string {
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const temp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.${process.pid}.${crypto().randomBytes(6).toString('hex')}.tmp`,
  );
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, options.mode & 0o700);
    fs.fchmodSync(fd, options.mode);
    if (options.gid !== undefined) fs.fchownSync(fd, -1, options.gid);
    fs.writeFileSync(fd, data, 'utf8');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, target);
    return fingerprint(target) ?? '';
  } catch (error) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    if (error instanceof CliError) throw error;
    throw new CliError(
      'CONFIG_INVALID',
      `cannot write ${target} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/** The fingerprint of `file` when it holds exactly `data` with the mode and group asked for. */
function alreadyHolds(file: string, data: string, options: FileOptions): string | undefined {
  try {
    const stat = fs.lstatSync(file);
    if (!stat.isFile() || (stat.mode & 0o7777) !== options.mode) return undefined;
    if (options.gid !== undefined && stat.gid !== options.gid) return undefined;
    if (stat.size !== Buffer.byteLength(data)) return undefined;
    return fs.readFileSync(file, 'utf8') === data ? fingerprint(file) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One file per secret in a directory: `DIR/NAME` holds NAME's value, byte for byte (no trailing newline added), for
 * apps that read `NAME_FILE`. The directory's `.keybox-agent.json` lists the names the agent wrote (no values), so a
 * secret leaving the scope takes its file with it while files the agent did not make stay.
 */
export class SecretDirectory {
  readonly dir: string;
  private readonly options: FileOptions;
  /** Name → what was written and the fingerprint of the file it went to. */
  private readonly current = new Map<string, { value: string; seen: string }>();
  private readonly stateFile: string;

  constructor(dir: string, options: FileOptions) {
    this.dir = path.resolve(dir);
    this.options = options;
    this.stateFile = path.join(this.dir, STATE_FILE);
  }

  /** Names a previous agent recorded in this directory. */
  private recordedNames(): string[] {
    try {
      const parsed = JSON.parse(fs.readFileSync(this.stateFile, 'utf8')) as { names?: unknown };
      return Array.isArray(parsed.names)
        ? parsed.names.filter((n): n is string => typeof n === 'string' && SECRET_NAME_PATTERN.test(n))
        : [];
    } catch {
      return [];
    }
  }

  render(secrets: ReadonlyMap<string, string>): RenderOutcome {
    for (const name of secrets.keys()) {
      // Secret names are environment variable names: nothing that could leave the directory.
      if (!SECRET_NAME_PATTERN.test(name)) throw new CliError('BAD_RESPONSE', `${name} is not a valid secret name`);
    }
    const first = this.current.size === 0;
    const outcome: RenderOutcome = { written: [], removed: [], unchanged: 0 };
    for (const [name, value] of [...secrets].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const file = path.join(this.dir, name);
      const known = this.current.get(name);
      if (known !== undefined && known.value === value && unchangedSince(file, known.seen)) {
        outcome.unchanged += 1;
        continue;
      }
      // On the first render, a file a previous run left with the same content is kept as it is.
      const kept = known === undefined ? alreadyHolds(file, value, this.options) : undefined;
      if (kept !== undefined) {
        this.current.set(name, { value, seen: kept });
        outcome.unchanged += 1;
        continue;
      }
      this.current.set(name, { value, seen: writeFileAtomically(file, value, this.options) });
      outcome.written.push(name);
    }
    const stale = new Set([...this.current.keys()].filter((n) => !secrets.has(n)));
    if (first) for (const name of this.recordedNames()) if (!secrets.has(name)) stale.add(name);
    for (const name of [...stale].sort()) {
      fs.rmSync(path.join(this.dir, name), { force: true });
      this.current.delete(name);
      outcome.removed.push(name);
    }
    if (outcome.written.length > 0 || outcome.removed.length > 0 || first) {
      writeFileAtomically(this.stateFile, `${JSON.stringify({ names: [...this.current.keys()] })}\n`, {
        mode: 0o600,
        gid: undefined,
      });
      syncDir(this.dir);
    }
    return outcome;
  }

  /** Names whose file is gone or was replaced since it was written (by someone else). */
  tampered(): string[] {
    return [...this.current]
      .filter(([name, { seen }]) => !unchangedSince(path.join(this.dir, name), seen))
      .map(([n]) => n);
  }

  /** Deletes every file the agent wrote and its state file. Never throws: fit for exit paths. */
  removeAll(): void {
    for (const name of [...this.current.keys(), ...this.recordedNames()]) {
      fs.rmSync(path.join(this.dir, name), { force: true });
    }
    this.current.clear();
    fs.rmSync(this.stateFile, { force: true });
  }
}

/** One file holding the whole scope in a format (dotenv, JSON...), rewritten only when its text changes. */
export class SecretFile {
  readonly file: string;
  private readonly options: FileOptions;
  private last: { text: string; seen: string } | undefined;

  constructor(file: string, options: FileOptions) {
    this.file = path.resolve(file);
    this.options = options;
  }

  /** Returns true when the file was written. */
  render(text: string): boolean {
    if (this.last !== undefined && this.last.text === text && unchangedSince(this.file, this.last.seen)) return false;
    const kept = this.last === undefined ? alreadyHolds(this.file, text, this.options) : undefined;
    this.last = { text, seen: kept ?? writeFileAtomically(this.file, text, this.options) };
    return kept === undefined;
  }

  tampered(): boolean {
    return this.last !== undefined && !unchangedSince(this.file, this.last.seen);
  }

  removeAll(): void {
    if (this.last !== undefined) fs.rmSync(this.file, { force: true });
    this.last = undefined;
  }
}

/**
 * What a file is, to tell it from another put in its place: inode, size and change time. The inode alone is not
 * enough: a file deleted and written again may get the same inode number back at once.
 */
function fingerprint(file: string): string | undefined {
  try {
    const stat = fs.lstatSync(file, { bigint: true });
    return stat.isFile() ? `${stat.ino}:${stat.size}:${stat.ctimeNs}` : undefined;
  } catch {
    return undefined;
  }
}

function unchangedSince(file: string, seen: string): boolean {
  return fingerprint(file) === seen;
}

/** Makes the renames durable on a disk-backed directory (a no-op cost on tmpfs). */
function syncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Not every file system lets a directory be synced; the renames are still atomic.
  }
}
