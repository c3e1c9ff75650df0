// A throwaway PostgreSQL cluster from the server binaries on this machine (initdb, postgres), for the tests
// (vitest's postgres project) and the benchmarks. Listens on 127.0.0.1 only, trust auth for user `keybox`, in a
// temp dir removed on stop. As root, runs as the `postgres` user (initdb refuses root).
//
//   node scripts/pg-cluster.js            starts one in the foreground and prints its URL; Ctrl-C stops it
import { execFileSync, spawn } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';

/** The directory holding initdb and postgres: on PATH, else Debian's /usr/lib/postgresql/<newest>/bin. */
export function findPostgresBin() {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    // Through symlinks (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb): pg_isready sits beside the target.
    if (dir !== '' && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) {
      return dirname(realpathSync(join(dir, 'initdb')));
    }
  }
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(base, versions[0], 'bin');
  }
  throw new Error('PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a cluster. `durable: false` (tests) turns fsync off: every test creates databases, and nothing here needs to
 * survive a power cut. Benchmarks keep the defaults (fsync on, synchronous_commit on), as in production.
 */
export async function startCluster({ durable = false, log = () => undefined } = {}) {
  const bin = findPostgresBin();
  const dir = mkdtempSync(join(tmpdir(), 'keybox-pg-'));
  const data = join(dir, 'data');
  const asRoot = userInfo().uid === 0;
  const run = (file, args, options = {}) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, file), ...args], options)
      : execFileSync(join(bin, file), args, options);
  if (asRoot) chownSync(dir, postgresUid(), postgresGid());
  const started = Date.now();
  run('initdb', ['-D', data, '-U', 'keybox', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = await freePort();
  const settings = [
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `port=${port}`,
    '-c',
    `unix_socket_directories=${dir}`,
    '-c',
    'max_connections=400',
    '-c',
    'shared_buffers=64MB',
    ...(durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
  ];
  const argv = [join(bin, 'postgres'), '-D', data, ...settings];
  let postmaster = await launch(bin, argv, asRoot, port, dir);
  log(`postgres ${port} ready in ${Date.now() - started} ms (${dir})`);
  const url = `postgres://keybox@127.0.0.1:${port}/postgres`;
  /** Stops the postmaster: `SIGINT` is PostgreSQL's fast shutdown, `SIGQUIT` its immediate one. */
  const halt = async (signal) => {
    // The postmaster itself (runuser does not pass signals on).
    const pid = postmasterPid(data);
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    if (pid !== undefined && alive()) {
      process.kill(pid, signal);
      const deadline = Date.now() + 10_000;
      while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (alive()) process.kill(pid, 'SIGKILL');
    }
    await Promise.race([postmaster.exited, new Promise((r) => setTimeout(r, 1000))]);
    if (postmaster.child.exitCode === null) postmaster.child.kill('SIGKILL');
  };
  return {
    url,
    port,
    dir,
    /** A postgres:// URL of database `name` on this cluster. */
    urlOf: (name) => `postgres://keybox@127.0.0.1:${port}/${name}`,
    /** A fast shutdown (every connection is closed), `whileDown()` with nothing listening, then the same cluster. */
    async restart({ whileDown = async () => undefined } = {}) {
      await halt('SIGINT');
      try {
        await whileDown();
      } finally {
        postmaster = await launch(bin, argv, asRoot, port, dir);
      }
    },
    async stop() {
      await halt('SIGQUIT'); // immediate: the cluster is thrown away
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function launch(bin, argv, asRoot, port, dir) {
  const child = asRoot
    ? spawn('runuser', ['-u', 'postgres', '--', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitReady(
    bin,
    port,
    dir,
    () => child.exitCode !== null,
    () => stderr,
  );
  return { child, exited };
}

async function waitReady(bin, port, dir, dead, stderr) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (dead()) throw new Error(`postgres exited during start-up:\n${stderr()}`);
    try {
      execFileSync(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`postgres did not accept connections within 30 s:\n${stderr()}`);
}

function postmasterPid(data) {
  try {
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function postgresUid() {
  return Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
}

function postgresGid() {
  return Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cluster = await startCluster({ durable: true, log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${cluster.url}\n`);
  if (process.env.PG_CLUSTER_URL_FILE) writeFileSync(process.env.PG_CLUSTER_URL_FILE, `${cluster.url}\n`);
  const stop = () => cluster.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
