import { existsSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, canary, createProject, setSecrets } from './support/fixtures.js';
import { keybox, NODE_BIN, serverEnv, spawnKeybox, startServer, type TestServer } from './support/keybox.js';

/* The modes where keybox stays as the child's supervisor: --watch, --as-files, --mask. */

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
  await createProject(server, 'shop');
});
afterAll(async () => {
  await server.stop();
});

/** Collects a stream's output so several waits can look at it. */
function watchOutput(stream: NodeJS.ReadableStream) {
  let seen = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (seen += chunk));
  return {
    text: () => seen,
    async waitFor(pattern: RegExp): Promise<RegExpExecArray> {
      for (let i = 0; i < 3000; i++) {
        const match = pattern.exec(seen);
        if (match !== null) return match;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`never saw ${String(pattern)}; saw: ${seen}`);
    },
  };
}

const node = (code: string) => [NODE_BIN, '-e', code];

describe('--watch', () => {
  it('restarts the command when a secret in scope changes, and the new child sees the new value', async () => {
    await setSecrets(server, { project: 'shop', env: 'dev', path: '/watch' }, { GREETING: 'first' });
    const child = spawnKeybox(
      [
        'run',
        '-p',
        'shop',
        '-e',
        'dev',
        '--path',
        '/watch',
        '--watch',
        '--debounce',
        '0s',
        '--grace',
        '5s',
        '--',
        ...node(
          "console.log('value=' + process.env.GREETING + ' pid=' + process.pid); process.on('SIGTERM', () => { console.log('stopping'); process.exit(0); }); setInterval(() => {}, 1000);",
        ),
      ],
      { env: serverEnv(server), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = once(child, 'exit');
    const out = watchOutput(child.stdout!);
    const first = await out.waitFor(/value=first pid=(\d+)/);
    await setSecrets(server, { project: 'shop', env: 'dev', path: '/watch' }, { GREETING: 'second' });
    const second = await out.waitFor(/value=second pid=(\d+)/);
    expect(second[1]).not.toBe(first[1]);
    expect(out.text()).toContain('stopping');
    // A write that changes nothing the child sees does not restart it.
    await setSecrets(server, { project: 'shop', env: 'dev', path: '/watch' }, { GREETING: 'second' });
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(out.text().match(/value=/g)).toHaveLength(2);
  });

  it("exits with the child's own status when it ends by itself", async () => {
    await setSecrets(server, { project: 'shop', env: 'dev', path: '/watch-exit' }, { A: '1' });
    const result = keybox(
      ['run', '-p', 'shop', '-e', 'dev', '--path', '/watch-exit', '--watch', '--', 'sh', '-c', 'exit 3'],
      {
        env: serverEnv(server),
      },
    );
    expect(result.status).toBe(3);
  });
});

describe('--as-files', () => {
  it('gives NAME_FILE (0600 in a 0700 dir) instead of NAME, and removes the dir when the child is killed', async () => {
    const value = canary();
    await setSecrets(server, { project: 'shop', env: 'dev', path: '/files' }, { TOKEN: value });
    const child = spawnKeybox(
      [
        'run',
        '-p',
        'shop',
        '-e',
        'dev',
        '--path',
        '/files',
        '--as-files',
        '--',
        ...node(
          "const fs = require('fs'); const f = process.env.TOKEN_FILE; console.log(JSON.stringify({ f, inEnv: 'TOKEN' in process.env, body: fs.readFileSync(f, 'utf8'), pid: process.pid })); setInterval(() => {}, 1000);",
        ),
      ],
      { env: serverEnv(server, { TOKEN: 'stale-host-value' }), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = once(child, 'exit');
    const out = watchOutput(child.stdout!);
    const line = await out.waitFor(/\{.*\}\n/);
    const seen = JSON.parse(line[0]) as { f: string; inEnv: boolean; body: string; pid: number };
    expect(seen.inEnv).toBe(false);
    expect(seen.body).toBe(value);
    expect((statSync(seen.f).mode & 0o777).toString(8)).toBe('600');
    expect((statSync(dirname(seen.f)).mode & 0o777).toString(8)).toBe('700');
    process.kill(seen.pid, 'SIGKILL');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(137);
    expect(existsSync(seen.f)).toBe(false);
    expect(existsSync(dirname(seen.f))).toBe(false);
  });
});

describe('--mask', () => {
  it('masks a value written in two pieces, and leaves other output alone', async () => {
    const value = canary('MASKME');
    await setSecrets(server, { project: 'shop', env: 'dev', path: '/mask' }, { KEY: value });
    const result = keybox(
      [
        'run',
        '-p',
        'shop',
        '-e',
        'dev',
        '--path',
        '/mask',
        '--mask',
        '--',
        ...node(
          "const v = process.env.KEY; process.stdout.write('a:' + v.slice(0, 7)); setTimeout(() => { process.stdout.write(v.slice(7) + ':b\\n'); process.stderr.write('err ' + v + '\\n'); }, 50);",
        ),
      ],
      { env: serverEnv(server) },
    );
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('a:*****:b\n');
    expect(result.stderr).toBe('err *****\n');
  });

  it('lets `keybox run --mask -- yes | head -1` end', async () => {
    await api(server, 'GET', '/api/v1/projects');
    const { spawnSync } = await import('node:child_process');
    const { KEYBOX_BIN, cleanEnv } = await import('./support/keybox.js');
    const result = spawnSync('bash', ['-c', `"$KB" run -p shop -e dev --path /mask --mask -- yes | head -n1`], {
      env: cleanEnv({ ...serverEnv(server), KB: KEYBOX_BIN }),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.stdout).toBe('y\n');
  });
});
