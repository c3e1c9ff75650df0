import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canaries } from './fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The built launcher, exactly as users run it. */
export const KEYBOX_BIN = resolve(here, '../../bin/keybox');
export const REPO_ROOT = resolve(here, '../../../..');
/** The pinned runtime (node_modules/.bin/node). */
export const NODE_BIN = join(REPO_ROOT, 'node_modules/.bin/node');

export interface TestServer {
  url: string;
  token: string;
  dataDir: string;
  pid: number;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts the built `keybox server` on a free loopback port with a fresh data dir. */
export async function startServer(
  options: { dataDir?: string; env?: NodeJS.ProcessEnv; extraArgs?: string[] } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'keybox-e2e-'));
  const tokenFile = join(dataDir, '..', `${dataDir.split('/').pop() ?? 'kb'}.token`);
  const child = spawn(
    KEYBOX_BIN,
    [
      'server',
      '--data-dir',
      dataDir,
      '--listen',
      '127.0.0.1:0',
      '--init-token-file',
      tokenFile,
      '--log-level',
      'warn',
      ...(options.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv(options.env) },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 20_000);
    const check = () => {
      const m = /listening on (\S+)/.exec(stderr);
      if (m !== null) {
        clearTimeout(timer);
        resolveUrl(m[1] as string);
      }
    };
    child.stderr?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stderr}`));
    });
  });
  let token = '';
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch {
    // Not a fresh data dir: the caller knows its token.
  }
  rmSync(tokenFile, { force: true });
  return {
    url,
    token,
    dataDir,
    pid: child.pid ?? 0,
    stderr: () => stderr,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      await new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill(signal);
      });
      assertNoCanary(stderr, dataDir);
      // A data dir the helper made is removed with the process, unless a later start may reuse it.
      if (options.dataDir === undefined) cleanups.add(dataDir);
    },
  };
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `keybox` synchronously with the given env (no inherited KEYBOX_* from the test runner). */
export function keybox(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): RunResult {
  const result = spawnSync(KEYBOX_BIN, args, {
    env: cleanEnv(options.env),
    input: options.input,
    cwd: options.cwd,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

let stateDir: string | undefined;
const cleanups = new Set<string>();
process.once('exit', () => {
  for (const dir of cleanups) rmSync(dir, { recursive: true, force: true });
});

/**
 * The test runner's environment without Keybox variables, plus `extra`. The CLI's cache and login session go to a
 * temp dir of this test file (XDG_CACHE_HOME, XDG_CONFIG_HOME), never to the real home directory.
 */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('KEYBOX_') && !k.startsWith('SECRETS_API_') && !k.startsWith('XDG_')) env[k] = v;
  }
  if (stateDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'keybox-state-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    stateDir = dir;
  }
  return { ...env, XDG_CACHE_HOME: join(stateDir, 'cache'), XDG_CONFIG_HOME: join(stateDir, 'config'), ...extra };
}

/** Where cleanEnv() points XDG_CACHE_HOME (the run cache lives in `keybox/bundles` below it). */
export function cacheHome(): string {
  return cleanEnv()['XDG_CACHE_HOME'] as string;
}

export function serverEnv(server: Pick<TestServer, 'url' | 'token'>, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: server.token, ...extra };
}

export function spawnKeybox(args: string[], options: SpawnOptions & { env?: NodeJS.ProcessEnv } = {}) {
  return spawn(KEYBOX_BIN, args, { ...options, env: cleanEnv(options.env) });
}

export function tempDir(prefix = 'keybox-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Fails if a registered canary value is in the server's output or in any file of its data dir. */
function assertNoCanary(stderr: string, dataDir: string): void {
  const files: Buffer[] = [];
  for (const name of readdirSync(dataDir)) {
    const path = join(dataDir, name);
    try {
      if (statSync(path).isFile()) files.push(readFileSync(path));
    } catch (error) {
      // Another server on the same data dir may be closing: SQLite removes its -wal and -shm files then.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  for (const value of canaries) {
    if (stderr.includes(value)) throw new Error(`a canary value appeared in the server's stderr`);
    const bytes = Buffer.from(value);
    if (files.some((f) => f.includes(bytes))) throw new Error(`a canary value appeared in plain text in ${dataDir}`);
  }
}
