import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkTargets, cliStateTargets, dataDirTargets, fixFindings, secretDirTargets } from './permissions.js';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A data dir as a server leaves it: 0700, key and store 0600. */
function dataDir(): string {
  const base = mkdtempSync(join(tmpdir(), 'keybox-perms-'));
  made.push(base);
  const dir = join(base, 'data');
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o700);
  for (const name of ['keybox.key', 'keybox.db', 'audit.head']) writeFileSync(join(dir, name), 'x', { mode: 0o600 });
  return dir;
}

const problems = (dir: string) =>
  checkTargets(dataDirTargets(dir)).map((f) => [f.path.slice(dir.length), f.severity, f.problem]);

describe('keybox audit perms', () => {
  it('finds nothing wrong in a data dir as the server makes it', () => {
    expect(problems(dataDir())).toEqual([]);
  });

  it('reports a key or store others can read or write, and a directory others can write to', () => {
    const dir = dataDir();
    chmodSync(join(dir, 'keybox.key'), 0o644);
    chmodSync(join(dir, 'keybox.db'), 0o620);
    chmodSync(join(dir, 'audit.head'), 0o640);
    chmodSync(dir, 0o777);
    expect(problems(dir)).toEqual([
      ['', 'error', 'is writable by every user (0777)'],
      ['/audit.head', 'warning', 'is readable by its group (0640)'],
      ['/keybox.db', 'error', 'is writable by others (0620)'],
      ['/keybox.key', 'error', 'is readable by every user (0644)'],
    ]);
  });

  it('--fix sets the modes, after which nothing is left', () => {
    const dir = dataDir();
    chmodSync(join(dir, 'keybox.key'), 0o644);
    chmodSync(dir, 0o755);
    const findings = checkTargets(dataDirTargets(dir));
    expect(fixFindings(findings).sort()).toEqual([dir, join(dir, 'keybox.key')].sort());
    expect(statSync(join(dir, 'keybox.key')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(problems(dir)).toEqual([]);
  });

  it('warns about an old root key left after a rotation, and checks backups', () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'keybox.key.0123456789abcdef.old'), 'x', { mode: 0o600 });
    mkdirSync(join(dir, 'backups'), { mode: 0o700 });
    writeFileSync(join(dir, 'backups', 'b.db'), 'x', { mode: 0o644 });
    expect(problems(dir)).toEqual([
      ['/backups/b.db', 'error', 'is readable by every user (0644)'],
      [
        '/keybox.key.0123456789abcdef.old',
        'warning',
        'is a root key left in the data dir (after a rotation): move it off this machine with the backups it opens',
      ],
    ]);
  });

  it("lets an agent's secret files be group-readable, never world-readable", () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'SHARED'), 'x', { mode: 0o640 });
    chmodSync(join(dir, 'SHARED'), 0o640);
    writeFileSync(join(dir, 'OPEN'), 'x');
    chmodSync(join(dir, 'OPEN'), 0o604);
    const found = checkTargets(secretDirTargets(dir)).map((f) => [f.path.slice(dir.length), f.problem]);
    expect(found).toEqual([['/OPEN', 'is readable by every user (0604)']]);
  });

  it('checks a sub-directory of a secret dir as a directory, and never proposes to chmod through a link', () => {
    const dir = dataDir();
    // As Kubernetes mounts a secret volume: a timestamped directory behind a ..data link.
    mkdirSync(join(dir, '..2026_12_07'), { mode: 0o755 });
    chmodSync(join(dir, '..2026_12_07'), 0o755);
    symlinkSync(join(dir, '..2026_12_07'), join(dir, '..data'));
    const found = checkTargets(secretDirTargets(dir)).map((f) => [f.path.slice(dir.length), f.problem, f.fix]);
    expect(found).toContainEqual(['/..2026_12_07', 'can be listed by every user (0755)', 0o700]);
    // The link is checked as the directory it leads to, reported, and left alone by --fix.
    expect(found).toContainEqual(['/..data', 'can be listed by every user (0755)', undefined]);
    expect(found.some(([, problem]) => problem === 'is readable by every user (0755)')).toBe(false);
  });

  it("reports another user's file, a symlink and a dangling one", () => {
    const dir = dataDir();
    const uid = process.getuid?.();
    if (uid === 0) {
      chownSync(join(dir, 'keybox.db'), 4242, 4242);
      expect(problems(dir)).toEqual([['/keybox.db', 'error', `belongs to uid 4242, not 0`]]);
      chownSync(join(dir, 'keybox.db'), 0, 0);
    }
    symlinkSync(join(dir, 'nowhere'), join(dir, 'keybox.key.link'));
    const found = problems(dir).map(([p, , problem]) => [p, problem]);
    expect(found).toContainEqual([
      '/keybox.key.link',
      `is a symlink to ${join(dir, 'nowhere')}: check the target's permissions too`,
    ]);
    expect(found).toContainEqual(['/keybox.key.link', 'is a dangling symlink']);
  });

  it("checks the CLI's own session and cache, missing ones being fine", () => {
    const dir = dataDir();
    expect(
      checkTargets(cliStateTargets(join(dir, 'none'), join(dir, 'none', 'session.json'), join(dir, 'nope'))),
    ).toEqual([]);
    const cache = join(dir, 'cache');
    mkdirSync(cache, { mode: 0o700 });
    writeFileSync(join(cache, 'bundle'), 'x', { mode: 0o644 });
    chmodSync(join(cache, 'bundle'), 0o644);
    const found = checkTargets(cliStateTargets(join(dir, 'none'), join(dir, 'none', 'session.json'), cache));
    expect(found.map((f) => [f.path, f.severity])).toEqual([[join(cache, 'bundle'), 'error']]);
  });
});
