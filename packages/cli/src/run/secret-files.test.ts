import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CliError } from '../errors.js';
import { DEFAULT_PREFIX, pickBaseDir, sweepStale, writeSecretFiles } from './secret-files.js';

const mode = (file: string) => statSync(file).mode & 0o7777;
const namespace = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))![1]!;

const secrets = new Map([
  ['DB_URL', 'postgres://app:pw@db/app'],
  ['UNICODE', 'ünïcødé 🔑 ключ'],
  ['MULTI_LINE', '-----BEGIN KEY-----\nabc\r\ndef\n-----END KEY-----\n'],
  ['NO_NEWLINE', 'value-without-newline'],
  ['EMPTY', ''],
  ['__proto__', 'a valid secret name, and no prototype to set'],
]);

let base: string;

beforeEach(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'keybox-secret-files-')));
});

afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('writeSecretFiles', () => {
  it('makes a 0700 directory of 0600 files, whatever the umask', () => {
    for (const umask of [0o022, 0o000, 0o277]) {
      const previous = process.umask(umask);
      try {
        const written = writeSecretFiles(secrets, { baseDirs: [base] });
        expect(mode(written.dir), `umask ${umask.toString(8)}`).toBe(0o700);
        for (const file of Object.values(written.files)) expect(mode(file), `umask ${umask.toString(8)}`).toBe(0o600);
        written.remove();
      } finally {
        process.umask(previous);
      }
    }
  });

  it('writes each value exactly, byte for byte, with no newline added', () => {
    const written = writeSecretFiles(secrets, { baseDirs: [base] });
    for (const [name, value] of secrets) {
      expect(readFileSync(written.files[name]!).equals(Buffer.from(value, 'utf8')), name).toBe(true);
    }
    expect(readdirSync(written.dir).sort()).toEqual([...secrets.keys()].sort());
  });

  it('names each file after its secret and maps NAME_FILE to it', () => {
    const written = writeSecretFiles(secrets, { baseDirs: [base] });
    expect(Object.keys(written.env).sort()).toEqual([...secrets.keys()].map((n) => `${n}_FILE`).sort());
    for (const name of secrets.keys()) {
      expect(written.env[`${name}_FILE`]).toBe(written.files[name]);
      expect(basename(written.files[name]!)).toBe(name);
      expect(dirname(written.files[name]!)).toBe(written.dir);
    }
    expect(dirname(written.dir)).toBe(base);
    expect(basename(written.dir)).toMatch(new RegExp(`^${DEFAULT_PREFIX}${process.pid}-${namespace}-[A-Za-z0-9]{6}$`));
    expect(writeSecretFiles(secrets, { baseDirs: [base] }).dir).not.toBe(written.dir);
  });

  it('uses the next base directory when one cannot take a directory', () => {
    const written = writeSecretFiles(secrets, { baseDirs: [join(base, 'missing'), base], prefix: 'kb-' });
    expect(dirname(written.dir)).toBe(base);
    expect(basename(written.dir).startsWith('kb-')).toBe(true);
    expect(() => writeSecretFiles(secrets, { baseDirs: [join(base, 'missing')] })).toThrow(CliError);
  });

  it('creates every file exclusively, with its mode given at open time', () => {
    const fs = process.getBuiltinModule('node:fs');
    const { O_CREAT, O_EXCL } = fs.constants;
    const open = vi.spyOn(fs, 'openSync');
    try {
      writeSecretFiles(secrets, { baseDirs: [base] });
      expect(open).toHaveBeenCalledTimes(secrets.size);
      for (const [, flags, fileMode] of open.mock.calls) {
        expect(Number(flags) & (O_CREAT | O_EXCL)).toBe(O_CREAT | O_EXCL);
        expect(fileMode).toBe(0o600);
      }
    } finally {
      open.mockRestore();
    }
  });

  it('refuses a name that is not a secret name and leaves nothing behind', () => {
    for (const name of ['../escape', 'a/b', '', '.', '..']) {
      expect(() =>
        writeSecretFiles(
          new Map([
            ['OK', 'v'],
            [name, 'v'],
          ]),
          { baseDirs: [base] },
        ),
      ).toThrow(CliError);
    }
    expect(readdirSync(base)).toEqual([]);
  });

  it('removes the directory, also what the child added, and can be called again', () => {
    const written = writeSecretFiles(secrets, { baseDirs: [base] });
    writeFileSync(join(written.dir, 'child-made'), 'x');
    written.remove();
    expect(existsSync(written.dir)).toBe(false);
    expect(() => written.remove()).not.toThrow();
    expect(readdirSync(base)).toEqual([]);
  });

  it("gives a child its values through NAME_FILE, and the parent's cleanup survives SIGKILL of the child", async () => {
    const written = writeSecretFiles(secrets, { baseDirs: [base] });
    const env = { ...process.env, ...written.env };
    const read = spawnSync(
      process.execPath,
      ['-e', 'process.stdout.write(require("fs").readFileSync(process.env.UNICODE_FILE, "utf8"))'],
      { env, encoding: 'utf8' },
    );
    expect(read.stdout).toBe(secrets.get('UNICODE'));
    expect(read.status).toBe(0);

    const child = spawn(
      process.execPath,
      ['-e', 'console.log(require("fs").readFileSync(process.env.DB_URL_FILE, "utf8")); setInterval(() => {}, 1e3)'],
      { env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    child.on('exit', () => written.remove());
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    const firstLine = await new Promise<string>((resolve) =>
      child.stdout.once('data', (d: Buffer) => resolve(d.toString())),
    );
    expect(firstLine.trim()).toBe(secrets.get('DB_URL'));
    expect(existsSync(written.dir)).toBe(true);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(existsSync(written.dir)).toBe(false);
    expect(readdirSync(base)).toEqual([]);
  });
});

describe('pickBaseDir', () => {
  const dirs = () => {
    const xdg = join(base, 'xdg');
    const shm = join(base, 'shm');
    const tmp = join(base, 'tmp');
    for (const dir of [xdg, shm, tmp]) mkdirSync(dir, { mode: 0o700 });
    chmodSync(xdg, 0o700);
    chmodSync(shm, 0o1777);
    return { xdg, shm, tmp, paths: { shm, tmpdir: tmp } };
  };

  it('prefers a private XDG_RUNTIME_DIR, then /dev/shm, then the temp directory', () => {
    const { xdg, shm, tmp, paths } = dirs();
    expect(pickBaseDir({ XDG_RUNTIME_DIR: xdg }, paths)).toMatchObject({ dir: xdg, source: 'XDG_RUNTIME_DIR' });
    expect(pickBaseDir({}, paths)).toMatchObject({ dir: shm, source: '/dev/shm' });
    rmSync(shm, { recursive: true });
    expect(pickBaseDir({}, paths)).toMatchObject({ dir: tmp, source: 'tmpdir' });
  });

  it('skips an XDG_RUNTIME_DIR that is relative, missing, not a directory or open to others', () => {
    const { xdg, shm, paths } = dirs();
    const file = join(base, 'file');
    writeFileSync(file, '');
    for (const value of ['run/user/0', join(base, 'missing'), file, '']) {
      expect(pickBaseDir({ XDG_RUNTIME_DIR: value }, paths).dir, value).toBe(shm);
    }
    chmodSync(xdg, 0o755);
    expect(pickBaseDir({ XDG_RUNTIME_DIR: xdg }, paths).dir).toBe(shm);
  });

  it('skips a world-writable /dev/shm without the sticky bit', () => {
    const { shm, tmp, paths } = dirs();
    chmodSync(shm, 0o777);
    expect(pickBaseDir({}, paths).dir).toBe(tmp);
  });

  it.skipIf(!existsSync('/dev/shm'))('says whether the directory is memory-backed', () => {
    const onShm = mkdtempSync('/dev/shm/keybox-test-');
    try {
      chmodSync(onShm, 0o700);
      expect(pickBaseDir({ XDG_RUNTIME_DIR: onShm })).toEqual({
        dir: onShm,
        source: 'XDG_RUNTIME_DIR',
        memoryBacked: true,
      });
      expect(pickBaseDir({}).memoryBacked).toBe(true);
      expect(pickBaseDir({}, { shm: join(base, 'none'), tmpdir: '/proc' }).memoryBacked).toBe(false);
    } finally {
      rmSync(onShm, { recursive: true, force: true });
    }
  });
});

describe('sweepStale', () => {
  it("removes a dead process's directory and keeps live, foreign and unrelated ones", async () => {
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    const running = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e3)'], { stdio: 'ignore' });
    const stopped = new Promise((resolve) => running.on('exit', resolve));
    const name = (pid: number, ns = namespace) => `${DEFAULT_PREFIX}${pid}-${ns}-Ab3xYz`;
    const dead = join(base, name(deadPid));
    mkdirSync(dead);
    writeFileSync(join(dead, 'DB_URL'), 'secret');
    const live = writeSecretFiles(secrets, { baseDirs: [base] }).dir;
    const kept = [
      name(running.pid!), // alive, and not us
      name(deadPid, '4026530000'), // another pid namespace: its pids mean nothing here
      `${DEFAULT_PREFIX}notapid-${namespace}-Ab3xYz`,
      `other-${deadPid}-${namespace}-Ab3xYz`,
      `${DEFAULT_PREFIX}${deadPid}-${namespace}-toolong1`,
    ];
    for (const other of kept) mkdirSync(join(base, other));
    writeFileSync(join(base, `${DEFAULT_PREFIX}${deadPid}-${namespace}-File01`), 'a file, not a directory');

    try {
      expect(sweepStale(base)).toEqual([dead]);
    } finally {
      running.kill('SIGKILL');
      await stopped;
    }
    expect(existsSync(dead)).toBe(false);
    expect(readdirSync(base).sort()).toEqual(
      [basename(live), ...kept, `${DEFAULT_PREFIX}${deadPid}-${namespace}-File01`].sort(),
    );
    expect(sweepStale(join(base, 'missing'))).toEqual([]);
  });

  it('only looks at its own prefix', () => {
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    mkdirSync(join(base, `${DEFAULT_PREFIX}${deadPid}-${namespace}-Ab3xYz`));
    mkdirSync(join(base, `kb.x-${deadPid}-${namespace}-Ab3xYz`));
    mkdirSync(join(base, `kbZx-${deadPid}-${namespace}-Ab3xYz`)); // '.' in the prefix is not a wildcard
    expect(sweepStale(base, 'kb.x-')).toEqual([join(base, `kb.x-${deadPid}-${namespace}-Ab3xYz`)]);
    expect(readdirSync(base).sort()).toEqual(
      [`${DEFAULT_PREFIX}${deadPid}-${namespace}-Ab3xYz`, `kbZx-${deadPid}-${namespace}-Ab3xYz`].sort(),
    );
  });
});
