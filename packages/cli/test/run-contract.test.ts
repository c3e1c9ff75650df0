import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, createProject, setSecrets } from './support/fixtures.js';
import {
  cleanEnv,
  KEYBOX_BIN,
  keybox,
  serverEnv,
  spawnKeybox,
  startServer,
  tempDir,
  type TestServer,
} from './support/keybox.js';

/*
 * The process contract of `keybox run`, checked in both modes: exec (the default: keybox becomes the child) and
 * --no-exec (keybox supervises the child).
 */

let server: TestServer;
const secret = canary('RUNSECRET');
const scope = ['--project', 'shop', '--env', 'dev', '--path', '/backend'];

beforeAll(async () => {
  server = await startServer();
  await createProject(server, 'shop');
  await setSecrets(
    server,
    { project: 'shop', env: 'dev', path: '/backend' },
    { API_KEY: secret, DB_URL: 'postgres://db' },
  );
  await setSecrets(server, { project: 'shop', env: 'dev', path: '/warn' }, { HOME: '/nowhere' });
});

afterAll(async () => {
  await server.stop();
});

/** Runs a shell line with keybox on PATH-free absolute path and the server credentials in the environment. */
function shell(line: string) {
  const result = spawnSync('bash', ['-c', line], {
    env: cleanEnv({ ...serverEnv(server), KB: KEYBOX_BIN }),
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Collects a stream's output so several waits can look at it. */
function watch(stream: NodeJS.ReadableStream) {
  let seen = '';
  let ended = false;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    seen += chunk;
  });
  stream.on('end', () => {
    ended = true;
  });
  return {
    async waitFor(pattern: RegExp): Promise<RegExpExecArray> {
      for (;;) {
        const match = pattern.exec(seen);
        if (match !== null) return match;
        if (ended) throw new Error(`stream ended before ${String(pattern)}; saw: ${seen}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

function waitFor(stream: NodeJS.ReadableStream, pattern: RegExp): Promise<RegExpExecArray> {
  return watch(stream).waitFor(pattern);
}

describe.each([
  ['exec', [] as string[]],
  ['no-exec', ['--no-exec']],
])('keybox run (%s mode)', (_mode, modeFlags) => {
  const run = [...scope, ...modeFlags];

  it.each([0, 3, 42])('exits with the child status %i', (code) => {
    const result = keybox(['run', ...run, '--', 'sh', '-c', `exit ${code}`], { env: serverEnv(server) });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(code);
  });

  it('injects the secrets into the child environment', () => {
    const result = keybox(['run', ...run, '--', 'sh', '-c', 'printf "%s|%s" "$API_KEY" "$DB_URL"'], {
      env: serverEnv(server),
    });
    expect(result.stdout).toBe(`${secret}|postgres://db`);
    expect(result.status).toBe(0);
  });

  it('reports 137 to the shell when the child is killed by SIGKILL', () => {
    const result = shell(`"$KB" run ${run.join(' ')} -- sh -c 'kill -KILL $$'; echo "status=$?"`);
    expect(result.stdout.trim()).toBe('status=137');
  });

  it('delivers SIGTERM sent to keybox to a child that traps it (exit 7)', async () => {
    const child = spawnKeybox(
      ['run', ...run, '--', 'sh', '-c', 'trap "exit 7" TERM; echo ready; while :; do sleep 0.05; done'],
      { env: serverEnv(server), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    await waitFor(child.stdout!, /ready/);
    child.kill('SIGTERM');
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    expect(signal).toBeNull();
    expect(code).toBe(7);
  });

  it('lets `yes | head -1` end as it does without keybox', () => {
    const plain = shell(`set -o pipefail; yes | head -n1; echo "status=$?"`);
    const wrapped = shell(`set -o pipefail; "$KB" run ${run.join(' ')} -- yes | head -n1; echo "status=$?"`);
    expect(plain.stdout).toBe('y\nstatus=141\n');
    expect(wrapped.stdout).toBe(plain.stdout);
    expect(wrapped.stderr).toBe(plain.stderr);
  });

  it('exits 127 for a missing command and 126 for one that cannot run', () => {
    const missing = keybox(['run', ...run, '--', 'no-such-command-kbx'], { env: serverEnv(server) });
    expect(missing.status).toBe(127);
    expect(missing.stderr).toContain('no-such-command-kbx: command not found');
    const dir = tempDir();
    writeFileSync(join(dir, 'plain.txt'), 'not a program\n', { mode: 0o644 });
    const notExecutable = keybox(['run', ...run, '--', join(dir, 'plain.txt')], { env: serverEnv(server) });
    expect(notExecutable.status).toBe(126);
    const directory = keybox(['run', ...run, '--', dir], { env: serverEnv(server) });
    expect(directory.status).toBe(126);
    rmSync(dir, { recursive: true });
  });

  it("passes the child's stdout through byte for byte", () => {
    const program = 'process.stdout.write(Buffer.from(Array.from({ length: 256 * 64 }, (_, i) => i % 256)))';
    const node = process.execPath;
    const plain = spawnSync(node, ['-e', program], { env: cleanEnv() });
    const wrapped = spawnSync(KEYBOX_BIN, ['run', ...run, '--', node, '-e', program], {
      env: cleanEnv(serverEnv(server)),
    });
    expect(wrapped.status).toBe(0);
    expect(wrapped.stderr.length).toBe(0);
    expect(Buffer.compare(wrapped.stdout, plain.stdout)).toBe(0);
  });

  it('keeps every secret out of the command line of each process involved', async () => {
    const child = spawnKeybox(['run', ...run, '--', 'sh', '-c', 'echo "pid=$$ ppid=$PPID"; sleep 5'], {
      env: serverEnv(server),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const match = await waitFor(child.stdout!, /pid=(\d+) ppid=(\d+)/);
    const pids = new Set([child.pid, Number(match[1]), Number(match[2])]);
    for (const pid of pids) {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      expect(cmdline).not.toContain(secret);
    }
    // The value is where it belongs: in the child's environment (readable by the same user only).
    expect(readFileSync(`/proc/${match[1]}/environ`, 'utf8')).toContain(`API_KEY=${secret}`);
    child.kill('SIGKILL');
    await once(child, 'exit');
  });

  it("leaves the child's stdio blocking and its signal dispositions as a shell would", () => {
    const probe =
      'for fd in 0 1 2; do grep ^flags /proc/self/fdinfo/$fd; done; grep -E "^Sig(Blk|Ign)" /proc/self/status';
    const keep = (text: string) => text.split('\n').filter((l) => /^(flags|Sig)/.test(l));
    const plain = shell(`sh -c '${probe}' < /dev/null 2>&1 | cat`);
    // /warn holds a reserved name, so keybox writes a warning to the same stderr before the child starts.
    const wrapped = shell(`"$KB" run ${run.join(' ')} --path /warn -- sh -c '${probe}' < /dev/null 2>&1 | cat`);
    expect(wrapped.stdout).toContain('not overwriting HOME');
    expect(keep(wrapped.stdout)).toEqual(keep(plain.stdout));
    expect(keep(wrapped.stdout)).toContain('SigIgn:\t0000000000000000');
  });
});

describe('keybox run process model', () => {
  it('replaces itself with the child in exec mode (same pid, no wrapper left)', async () => {
    const child = spawnKeybox(['run', ...scope, '--', 'sh', '-c', 'echo "pid=$$"; sleep 5'], {
      env: serverEnv(server),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const match = await waitFor(child.stdout!, /pid=(\d+)/);
    expect(Number(match[1])).toBe(child.pid);
    child.kill('SIGKILL');
    await once(child, 'exit');
  });

  it('gives the child its own process group when stdin is not a terminal (--no-exec)', async () => {
    const child = spawnKeybox(
      ['run', ...scope, '--no-exec', '--', 'sh', '-c', 'echo "pid=$$ pgid=$(ps -o pgid= -p $$ | tr -d " ")"; sleep 5'],
      { env: serverEnv(server), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const match = await waitFor(child.stdout!, /pid=(\d+) pgid=(\d+)/);
    expect(match[2]).toBe(match[1]);
    expect(Number(match[1])).not.toBe(child.pid);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(143);
  });

  it('forwards SIGTERM to grandchildren through the process group (--no-exec)', async () => {
    const child = spawnKeybox(
      [
        'run',
        ...scope,
        '--no-exec',
        '--',
        'sh',
        '-c',
        // The grandchild says ready only once its trap is set: a signal before that would end it silently.
        'sh -c "trap \\"echo grandchild-got-term; exit 0\\" TERM; echo ready; while :; do sleep 0.05; done" & wait',
      ],
      { env: serverEnv(server), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = once(child, 'exit');
    const out = watch(child.stdout!);
    await out.waitFor(/ready/);
    child.kill('SIGTERM');
    await out.waitFor(/grandchild-got-term/);
    expect((await exited)[0]).toBe(143);
  });

  it('does not deliver a terminal Ctrl-C twice (--no-exec with a terminal on stdin)', () => {
    // `script` gives keybox a pseudo-terminal. The child counts the SIGINTs it gets after the whole foreground
    // process group is sent one (which is what Ctrl-C does), then exits with 10 + the count: 11, not 12.
    const dir = tempDir();
    // A Node child handles each signal as it comes; a shell trap could merge two that arrive close together.
    writeFileSync(
      join(dir, 'child.js'),
      `let n = 0; process.on('SIGINT', () => { n++; });
       require('fs').writeFileSync(${JSON.stringify(join(dir, 'pid'))}, String(process.pid));
       setTimeout(() => process.exit(10 + n), 1500);`,
    );
    writeFileSync(
      join(dir, 'driver.sh'),
      [
        `script -qec '"$KB" run ${scope.join(' ')} --no-exec -- "${process.execPath}" "${dir}/child.js"' /dev/null > "${dir}/script.out" &`,
        `for i in $(seq 200); do [ -s "${dir}/pid" ] && break; sleep 0.05; done`,
        `kill -INT -- -$(ps -o pgid= -p "$(cat "${dir}/pid")" | tr -d ' ')`,
        'wait $!; echo "status=$?"',
      ].join('\n'),
    );
    const result = shell(`bash "${dir}/driver.sh"`);
    rmSync(dir, { recursive: true });
    expect(result.stdout.trim()).toBe('status=11');
  });
});
