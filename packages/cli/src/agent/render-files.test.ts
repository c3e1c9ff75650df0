import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkFileParent,
  parseGroup,
  parseMode,
  prepareDir,
  SecretDirectory,
  SecretFile,
  STATE_FILE,
  sweepTempFiles,
  writeFileAtomically,
} from './render-files.js';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keybox-agent-unit-'));
  made.push(dir);
  return dir;
}
const mode = (file: string) => statSync(file).mode & 0o7777;
const PRIVATE = { mode: 0o600, gid: undefined };

describe('parseMode', () => {
  it('takes octal modes that keep others out', () => {
    expect(parseMode('0600')).toBe(0o600);
    expect(parseMode('400')).toBe(0o400);
    expect(parseMode('0640')).toBe(0o640);
  });
  it.each(['0644', '0604', '0777', '600x', 'rw', '0200', '06000'])('refuses %s', (text) => {
    expect(() => parseMode(text)).toThrow(/--mode/);
  });
});

describe('parseGroup', () => {
  it('takes a gid, or a name from the group file', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'group'), 'root:x:0:\napp:x:1234:alice\n');
    expect(parseGroup('42')).toBe(42);
    expect(parseGroup('app', join(dir, 'group'))).toBe(1234);
    expect(() => parseGroup('nobody-here', join(dir, 'group'))).toThrow(/no group named/);
  });
});

describe('prepareDir', () => {
  it('creates a missing directory 0700 (0750 for group-readable files) whatever the umask', () => {
    const base = scratch();
    const old = process.umask(0o077);
    try {
      prepareDir(join(base, 'a', 'private'), PRIVATE);
      prepareDir(join(base, 'shared'), { mode: 0o640, gid: undefined });
    } finally {
      process.umask(old);
    }
    expect(mode(join(base, 'a', 'private'))).toBe(0o700);
    expect(mode(join(base, 'shared'))).toBe(0o750);
  });

  it('refuses a directory others can write to, and a file in place of a directory', () => {
    const base = scratch();
    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(() => prepareDir(open, PRIVATE)).toThrow(/writable by other users/);
    writeFileSync(join(base, 'plain'), '');
    expect(() => prepareDir(join(base, 'plain'), PRIVATE)).toThrow(/not a directory|EEXIST|ENOTDIR/);
  });
});

describe('checkFileParent', () => {
  it('accepts a private or sticky directory and refuses a world-writable one', () => {
    const base = scratch();
    expect(() => checkFileParent(join(base, 'app.env'))).not.toThrow();
    const sticky = join(base, 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    expect(() => checkFileParent(join(sticky, 'app.env'))).not.toThrow();
    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(() => checkFileParent(join(open, 'app.env'))).toThrow(/writable by other users/);
    expect(() => checkFileParent(join(base, 'missing', 'app.env'))).toThrow(/ENOENT/);
  });
});

describe('writeFileAtomically', () => {
  it('gives the file its mode whatever the umask, replaces a symlink instead of following it, leaves no temp file', () => {
    const dir = scratch();
    const elsewhere = join(dir, 'elsewhere');
    writeFileSync(elsewhere, 'untouched');
    symlinkSync(elsewhere, join(dir, 'TARGET'));
    const old = process.umask(0o000);
    try {
      writeFileAtomically(join(dir, 'TARGET'), 'value', { mode: 0o400, gid: undefined });
    } finally {
      process.umask(old);
    }
    expect(lstatSync(join(dir, 'TARGET')).isFile()).toBe(true);
    expect(mode(join(dir, 'TARGET'))).toBe(0o400);
    expect(readFileSync(join(dir, 'TARGET'), 'utf8')).toBe('value');
    expect(readFileSync(elsewhere, 'utf8')).toBe('untouched');
    expect(readdirSync(dir).sort()).toEqual(['TARGET', 'elsewhere']);
  });

  it('gives a group-readable mode even under a umask that would take it away', () => {
    const dir = scratch();
    const old = process.umask(0o077);
    try {
      writeFileAtomically(join(dir, 'SHARED'), 'value', { mode: 0o640, gid: undefined });
    } finally {
      process.umask(old);
    }
    expect(mode(join(dir, 'SHARED'))).toBe(0o640);
  });

  it('fails with a clear error and no temp file when the target is a directory', () => {
    const dir = scratch();
    mkdirSync(join(dir, 'TARGET'));
    expect(() => writeFileAtomically(join(dir, 'TARGET'), 'v', PRIVATE)).toThrow(/cannot write .*TARGET \(EISDIR\)/);
    expect(readdirSync(dir)).toEqual(['TARGET']);
  });
});

describe('SecretDirectory', () => {
  it('writes one file per secret, exact bytes, and records the names (never the values)', () => {
    const dir = scratch();
    const out = new SecretDirectory(dir, PRIVATE);
    const outcome = out.render(
      new Map([
        ['B', 'two\n'],
        ['A', 'ünï'],
      ]),
    );
    expect(outcome).toEqual({ written: ['A', 'B'], removed: [], unchanged: 0 });
    expect(readFileSync(join(dir, 'A'), 'utf8')).toBe('ünï');
    expect(readFileSync(join(dir, 'B'), 'utf8')).toBe('two\n');
    expect(mode(join(dir, 'A'))).toBe(0o600);
    expect(JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8'))).toEqual({ names: ['A', 'B'] });
    expect(mode(join(dir, STATE_FILE))).toBe(0o600);
  });

  it('rewrites only what changed, and removes the files of secrets that left', () => {
    const dir = scratch();
    const out = new SecretDirectory(dir, PRIVATE);
    out.render(
      new Map([
        ['A', '1'],
        ['B', '2'],
        ['C', '3'],
      ]),
    );
    const inodeOfA = statSync(join(dir, 'A')).ino;
    const outcome = out.render(
      new Map([
        ['A', '1'],
        ['B', '22'],
      ]),
    );
    expect(outcome).toEqual({ written: ['B'], removed: ['C'], unchanged: 1 });
    expect(statSync(join(dir, 'A')).ino).toBe(inodeOfA);
    expect(existsSync(join(dir, 'C'))).toBe(false);
    expect(readFileSync(join(dir, 'B'), 'utf8')).toBe('22');
  });

  it('a new agent keeps identical files, removes what the last one wrote, and leaves files it did not write', () => {
    const dir = scratch();
    new SecretDirectory(dir, PRIVATE).render(
      new Map([
        ['A', '1'],
        ['GONE', 'x'],
      ]),
    );
    writeFileSync(join(dir, 'MINE'), 'the operator put this here');
    const inodeOfA = statSync(join(dir, 'A')).ino;
    const outcome = new SecretDirectory(dir, PRIVATE).render(new Map([['A', '1']]));
    expect(outcome).toEqual({ written: [], removed: ['GONE'], unchanged: 1 });
    expect(statSync(join(dir, 'A')).ino).toBe(inodeOfA);
    expect(readFileSync(join(dir, 'MINE'), 'utf8')).toBe('the operator put this here');
  });

  it('rewrites a file left with the right content but a wider mode', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'A'), '1');
    chmodSync(join(dir, 'A'), 0o644);
    expect(new SecretDirectory(dir, PRIVATE).render(new Map([['A', '1']])).written).toEqual(['A']);
    expect(mode(join(dir, 'A'))).toBe(0o600);
  });

  it('tells which files were deleted or replaced behind its back, and writes them again', () => {
    const dir = scratch();
    const out = new SecretDirectory(dir, PRIVATE);
    const secrets = new Map([
      ['A', '1'],
      ['B', '2'],
      ['C', '3'],
    ]);
    out.render(secrets);
    expect(out.tampered()).toEqual([]);
    rmSync(join(dir, 'A'));
    rmSync(join(dir, 'B'));
    writeFileSync(join(dir, 'B'), 'forged');
    expect(out.tampered()).toEqual(['A', 'B']);
    expect(out.render(secrets).written).toEqual(['A', 'B']);
    expect(readFileSync(join(dir, 'B'), 'utf8')).toBe('2');
    expect(out.tampered()).toEqual([]);
  });

  it('refuses a name that is not an environment variable name before writing anything', () => {
    const dir = scratch();
    const out = new SecretDirectory(dir, PRIVATE);
    expect(() =>
      out.render(
        new Map([
          ['A', '1'],
          ['../escape', 'x'],
        ]),
      ),
    ).toThrow(/not a valid secret name/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('removeAll deletes what it wrote and its record, nothing else', () => {
    const dir = scratch();
    const out = new SecretDirectory(dir, PRIVATE);
    out.render(new Map([['A', '1']]));
    writeFileSync(join(dir, 'MINE'), 'keep');
    out.removeAll();
    expect(readdirSync(dir)).toEqual(['MINE']);
  });
});

describe('SecretFile', () => {
  it('writes when the text changes or the file was replaced, not otherwise', () => {
    const dir = scratch();
    const file = new SecretFile(join(dir, 'app.env'), { mode: 0o640, gid: undefined });
    expect(file.render('A=1\n')).toBe(true);
    expect(mode(join(dir, 'app.env'))).toBe(0o640);
    expect(file.render('A=1\n')).toBe(false);
    expect(file.render('A=2\n')).toBe(true);
    rmSync(join(dir, 'app.env'));
    expect(file.tampered()).toBe(true);
    expect(file.render('A=2\n')).toBe(true);
    expect(readFileSync(join(dir, 'app.env'), 'utf8')).toBe('A=2\n');
  });
});

describe('sweepTempFiles', () => {
  it('removes the temp files of dead pids only', () => {
    const dir = scratch();
    const dead = `.A.999999999.0123456789ab.tmp`;
    const live = `.A.${process.pid}.0123456789ab.tmp`;
    for (const name of [dead, live, 'A', '.not-ours.tmp']) writeFileSync(join(dir, name), '');
    expect(sweepTempFiles(dir)).toEqual([dead]);
    expect(readdirSync(dir).sort()).toEqual(
      ['.A.' + String(process.pid) + '.0123456789ab.tmp', '.not-ours.tmp', 'A'].sort(),
    );
  });
});
