// Builtins come from process.getBuiltinModule: see config/project-file.ts.
const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

/*
 * `keybox audit perms`: what on this machine could let another user read or replace a secret — a data dir, root key
 * or database file others can read, a directory others can write to, a file owned by someone else, a root key left
 * in the data dir after a rotation. Local files only; nothing is read from inside them.
 */

export type Severity = 'error' | 'warning';

export interface Finding {
  path: string;
  severity: Severity;
  problem: string;
  /** The mode it should have, when `--fix` can set it. */
  fix?: number | undefined;
}

export interface Target {
  path: string;
  kind: 'dir' | 'secret' | 'key' | 'store' | 'private';
  /** Missing is fine for optional targets (a WAL, a session that was never made). */
  optional: boolean;
}

/** The files of a server's data dir that hold or open secrets. */
export function dataDirTargets(dir: string): Target[] {
  const targets: Target[] = [{ path: dir, kind: 'dir', optional: false }];
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    return targets;
  }
  for (const name of names) {
    const full = path.join(dir, name);
    if (name === 'keybox.key' || /^keybox\.key\./.test(name))
      targets.push({ path: full, kind: 'key', optional: false });
    else if (/^keybox\.db/.test(name)) targets.push({ path: full, kind: 'store', optional: false });
    else if (name === 'backups') {
      targets.push({ path: full, kind: 'dir', optional: false });
      for (const backup of safeList(full))
        targets.push({ path: path.join(full, backup), kind: 'store', optional: false });
    } else targets.push({ path: full, kind: 'private', optional: false });
  }
  return targets;
}

/** A directory of secret files (what `keybox agent` or `run --as-files` writes). */
export function secretDirTargets(dir: string): Target[] {
  const stat = lstat(dir);
  if (stat === undefined || !stat.isDirectory()) return [{ path: dir, kind: 'secret', optional: false }];
  return [
    { path: dir, kind: 'dir', optional: false },
    ...safeList(dir).map((name) => {
      const full = path.join(dir, name);
      // A sub-directory (or a link to one, like Kubernetes' ..data) is checked as a directory, not as a file.
      const kind: Target['kind'] = statOf(full)?.isDirectory() === true ? 'dir' : 'secret';
      return { path: full, kind, optional: false };
    }),
  ];
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function statOf(p: string) {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

function lstat(p: string) {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

const octal = (mode: number) => `0${(mode & 0o777).toString(8).padStart(3, '0')}`;

/** Checks each target; `uid` is whose files they should be (default: ours). */
export function checkTargets(targets: readonly Target[], uid = process.getuid?.()): Finding[] {
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);
  for (const target of targets) {
    const link = lstat(target.path);
    if (link === undefined) {
      if (!target.optional) add({ path: target.path, severity: 'warning', problem: 'does not exist' });
      continue;
    }
    if (link.isSymbolicLink()) {
      add({
        path: target.path,
        severity: 'warning',
        problem: `is a symlink to ${fs.readlinkSync(target.path)}: check the target's permissions too`,
      });
    }
    let stat;
    try {
      stat = fs.statSync(target.path);
    } catch {
      add({ path: target.path, severity: 'error', problem: 'is a dangling symlink' });
      continue;
    }
    const mode = stat.mode & 0o777;
    if (uid !== undefined && stat.uid !== uid) {
      add({ path: target.path, severity: 'error', problem: `belongs to uid ${stat.uid}, not ${uid}` });
    }
    if (target.kind === 'dir') {
      if ((mode & 0o002) !== 0 && (stat.mode & 0o1000) === 0) {
        add({
          path: target.path,
          severity: 'error',
          problem: `is writable by every user (${octal(mode)})`,
          fix: 0o700,
        });
      } else if ((mode & 0o020) !== 0) {
        add({ path: target.path, severity: 'error', problem: `is writable by its group (${octal(mode)})`, fix: 0o700 });
      } else if ((mode & 0o007) !== 0) {
        add({
          path: target.path,
          severity: 'warning',
          problem: `can be listed by every user (${octal(mode)})`,
          fix: 0o700,
        });
      }
      continue;
    }
    if ((mode & 0o004) !== 0) {
      add({ path: target.path, severity: 'error', problem: `is readable by every user (${octal(mode)})`, fix: 0o600 });
    } else if ((mode & 0o022) !== 0) {
      add({ path: target.path, severity: 'error', problem: `is writable by others (${octal(mode)})`, fix: 0o600 });
    } else if ((mode & 0o040) !== 0 && target.kind !== 'secret') {
      // A secret file may be shared with the app's group on purpose (agent --group); a key or a store may not.
      add({ path: target.path, severity: 'warning', problem: `is readable by its group (${octal(mode)})`, fix: 0o600 });
    }
    if (target.kind === 'key' && /\.old$|\.new$/.test(target.path)) {
      add({
        path: target.path,
        severity: 'warning',
        problem:
          'is a root key left in the data dir (after a rotation): move it off this machine with the backups it opens',
      });
    }
  }
  // chmod follows symlinks: what a link points to is reported, never changed by --fix.
  return findings.map((f) =>
    f.fix !== undefined && lstat(f.path)?.isSymbolicLink() === true ? { ...f, fix: undefined } : f,
  );
}

/** Sets the modes `checkTargets` proposed; returns the paths changed. */
export function fixFindings(findings: readonly Finding[]): string[] {
  const fixed: string[] = [];
  for (const finding of findings) {
    if (finding.fix === undefined) continue;
    try {
      fs.chmodSync(finding.path, finding.fix);
      fixed.push(finding.path);
    } catch {
      // Reported as still wrong by the check that follows.
    }
  }
  return fixed;
}

/** What the CLI keeps for this user: the login session and the encrypted cache of `run` and `agent`. */
export function cliStateTargets(configDir: string, sessionFile: string, cacheDir: string): Target[] {
  const targets: Target[] = [];
  if (lstat(configDir) !== undefined) targets.push({ path: configDir, kind: 'dir', optional: true });
  targets.push({ path: sessionFile, kind: 'private', optional: true });
  if (lstat(cacheDir) !== undefined) {
    targets.push({ path: cacheDir, kind: 'dir', optional: true });
    for (const name of safeList(cacheDir))
      targets.push({ path: path.join(cacheDir, name), kind: 'private', optional: true });
  }
  return targets;
}
