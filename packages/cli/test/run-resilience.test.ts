import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { api, canary, createProject, setSecrets } from './support/fixtures.js';
import { cacheHome, keybox, spawnKeybox, startServer, tempDir, type TestServer } from './support/keybox.js';

/* `keybox run` when the server is slow, down, or says no: retries, the encrypted cache, the fallback file. */

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function serverWithSecret(value: string, dataDir?: string) {
  const server = await startServer(dataDir === undefined ? {} : { dataDir });
  servers.push(server);
  await createProject(server, 'shop');
  await setSecrets(server, { project: 'shop', env: 'dev', path: '/app' }, { API_KEY: value });
  return server;
}

const scope = ['--project', 'shop', '--env', 'dev', '--path', '/app'];
const printKey = ['sh', '-c', 'printf %s "$API_KEY"'];
const env = (server: Pick<TestServer, 'url' | 'token'>, extra: NodeJS.ProcessEnv = {}) => ({
  KEYBOX_ADDR: server.url,
  KEYBOX_TOKEN: server.token,
  ...extra,
});

function cacheFiles(): string[] {
  const dir = join(cacheHome(), 'keybox', 'bundles');
  try {
    return readdirSync(dir).map((f) => join(dir, f));
  } catch {
    return [];
  }
}

describe('the last-known-good cache', () => {
  it('starts the next run from the cache when the server is gone, and says how old it is', async () => {
    const value = canary();
    const server = await serverWithSecret(value);
    expect(keybox(['run', ...scope, '--', ...printKey], { env: env(server) }).stdout).toBe(value);
    await server.stop();

    const result = keybox(['run', ...scope, '--retry-for', '0s', '--', ...printKey], { env: env(server) });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(value);
    expect(result.stderr).toMatch(/cannot reach Keybox .*; using the cached copy last confirmed \d+ s ago/);
    expect(result.stderr).not.toContain(value);
  });

  it('keeps the cache encrypted, 0600 in a 0700 directory', async () => {
    const value = canary();
    const server = await serverWithSecret(value);
    keybox(['run', ...scope, '--', 'true'], { env: env(server) });
    const files = cacheFiles();
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      expect((statSync(file).mode & 0o777).toString(8)).toBe('600');
      expect(readdirSync(join(file, '..')).join()).not.toContain(value);
    }
    expect((statSync(join(files[0] as string, '..')).mode & 0o777).toString(8)).toBe('700');
  });

  it('purges the cache when the server revokes the token, and the run fails', async () => {
    const server = await serverWithSecret(canary());
    const created = (await api(server, 'POST', '/api/v1/tokens', { name: 'ci', policies: ['admin'] })) as {
      token: string;
      id: string;
    };
    const ciEnv = { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: created.token };
    expect(keybox(['run', ...scope, '--', 'true'], { env: ciEnv }).status).toBe(0);
    await api(server, 'DELETE', `/api/v1/tokens/${created.id}`);

    const refused = keybox(['run', ...scope, '--', 'true'], { env: ciEnv });
    expect(refused.status).toBe(125);
    expect(refused.stderr).toContain('UNAUTHENTICATED');
    const offline = keybox(['run', ...scope, '--offline', '--', 'true'], { env: ciEnv });
    expect(offline.status).toBe(125);
    expect(offline.stderr).toContain('there is no cached copy');
  });

  it('refuses a cached copy older than --cache-max-age', async () => {
    const server = await serverWithSecret(canary());
    keybox(['run', ...scope, '--', 'true'], { env: env(server) });
    await server.stop();
    const result = keybox(['run', ...scope, '--retry-for', '0s', '--cache-max-age', '0s', '--', 'true'], {
      env: env(server),
    });
    expect(result.status).toBe(125);
    expect(result.stderr).toContain('more than --cache-max-age');
  });

  it('cannot read a cached copy with a different credential', async () => {
    const value = canary();
    const server = await serverWithSecret(value);
    const other = (await api(server, 'POST', '/api/v1/tokens', { name: 'other', policies: ['admin'] })) as {
      token: string;
    };
    keybox(['run', ...scope, '--', 'true'], { env: env(server) });
    await server.stop();
    const result = keybox(['run', ...scope, '--retry-for', '0s', '--', ...printKey], {
      env: { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: other.token },
    });
    expect(result.status).toBe(125);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('another token or client secret');
  });

  it('asks again for the content when the server confirms a cached copy this credential cannot read', async () => {
    const value = canary();
    const server = await serverWithSecret(value);
    const other = (await api(server, 'POST', '/api/v1/tokens', { name: 'other', policies: ['admin'] })) as {
      token: string;
    };
    keybox(['run', ...scope, '--', 'true'], { env: env(server) });
    // The clear ETag of the first token's copy goes out, the server answers 304, and that copy is not readable.
    const result = keybox(['run', ...scope, '--', ...printKey], {
      env: { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: other.token },
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(value);
    // ...and the copy is now the second token's: it serves that token when the server is gone.
    await server.stop();
    const offline = keybox(['run', ...scope, '--retry-for', '0s', '--', ...printKey], {
      env: { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: other.token },
    });
    expect(offline.stdout).toBe(value);
  });
  it('within a minute of its last write, asks a near server for the content and writes the copy only if it changed', async () => {
    const first = canary();
    const server = await serverWithSecret(first);
    const before = cacheFiles();
    expect(keybox(['run', ...scope, '--', ...printKey], { env: env(server) }).stdout).toBe(first);
    const [file, ...others] = cacheFiles().filter((f) => !before.includes(f));
    expect(others).toEqual([]);
    const written = readFileSync(file as string);
    expect(written.toString('latin1').split('\n')[1]).toMatch(/"credential":"kbx_[0-9a-f]{16}"/);

    // Unchanged: the server's answer is used, the copy left as it is (nothing to decrypt or write).
    const reads = async () =>
      (
        (await api(server, 'GET', '/api/v1/audit?action=secrets.read&limit=20')) as {
          entries: { details: { notModified?: boolean } }[];
        }
      ).entries;
    // The server counts as near when the connection is up within 5 ms, measured from the event loop: on a loaded
    // machine one run may find it farther (and ask with If-None-Match, as it should then), so up to three tries.
    let whole = 0;
    for (let tries = 0; tries < 3 && whole === 0; tries++) {
      expect(keybox(['run', ...scope, '--', ...printKey], { env: env(server) }).stdout).toBe(first);
      expect(readFileSync(file as string).equals(written)).toBe(true);
      whole = (await reads()).slice(0, -1).filter((e) => e.details.notModified !== true).length;
    }
    // (Before this, a run within a minute always asked with If-None-Match and the server confirmed with a 304.)
    expect(whole).toBeGreaterThan(0);

    // Changed: the new content is run with and written.
    const second = canary();
    await setSecrets(server, { project: 'shop', env: 'dev', path: '/app' }, { API_KEY: second });
    expect(keybox(['run', ...scope, '--', ...printKey], { env: env(server) }).stdout).toBe(second);
    expect(readFileSync(file as string).equals(written)).toBe(false);

    await server.stop();
    const offline = keybox(['run', ...scope, '--retry-for', '0s', '--', ...printKey], { env: env(server) });
    expect(offline.stdout).toBe(second);
  });

  it('runs with a warning when the cache cannot be written (a read-only or odd cache dir)', async () => {
    const value = canary();
    const server = await serverWithSecret(value);
    const notADir = join(tempDir(), 'file');
    writeFileSync(notADir, '');
    const result = keybox(['run', ...scope, '--', ...printKey], { env: env(server, { XDG_CACHE_HOME: notADir }) });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe(value);
    expect(result.stderr).toMatch(
      /^keybox: warning: cannot write the fallback cache in .* \(ENOTDIR\); going on without it\n$/,
    );
  });

  it('--offline uses only the cache, and --no-cache never writes one', async () => {
    const value = canary();
    const server = await serverWithSecret(value);
    const before = cacheFiles();
    expect(keybox(['run', ...scope, '--no-cache', '--', 'true'], { env: env(server) }).status).toBe(0);
    expect(cacheFiles()).toEqual(before);
    keybox(['run', ...scope, '--', 'true'], { env: env(server) });
    const offline = keybox(['run', ...scope, '--offline', '--', ...printKey], {
      env: { KEYBOX_ADDR: 'http://127.0.0.1:9', KEYBOX_TOKEN: server.token },
    });
    expect(offline.stdout).toBe('');
    expect(offline.status).toBe(125);
    // The cache belongs to the server address too: the right address works offline without contacting it.
    await server.stop();
    expect(keybox(['run', ...scope, '--offline', '--', ...printKey], { env: env(server) }).stdout).toBe(value);
  });
});

describe('retries and the fallback file', () => {
  it('uses --fallback-env-file only when neither the server nor a cache can answer, with a warning', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'dispatcher.env'), 'API_KEY="from-file"\n');
    const result = keybox(
      [
        'run',
        ...scope,
        '--no-cache',
        '--retry-for',
        '0s',
        '--fallback-env-file',
        join(dir, 'dispatcher.env'),
        '--',
        ...printKey,
      ],
      {
        env: {
          KEYBOX_ADDR: 'http://127.0.0.1:9',
          KEYBOX_TOKEN: 'kbx_0000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        },
      },
    );
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('from-file');
    expect(result.stderr).toContain('using the local fallback file');
  });

  it('waits for a server that comes up within --retry-for', async () => {
    const value = canary();
    const dataDir = join(tempDir(), 'data');
    const first = await serverWithSecret(value, dataDir);
    await first.stop();
    servers.splice(0);
    const port = await freePort();
    const run = spawnKeybox(['run', ...scope, '--no-cache', '--retry-for', '20s', '--', ...printKey], {
      env: { KEYBOX_ADDR: `http://127.0.0.1:${port}`, KEYBOX_TOKEN: first.token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    run.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => run.once('exit', (code) => r(code)));
    const again = await startServer({ dataDir, extraArgs: ['--listen', `127.0.0.1:${port}`] });
    servers.push(again);
    expect(await exited).toBe(0);
    expect(out).toBe(value);
  });

  it('does not retry a refusal: one attempt, then exit 125', async () => {
    const server = await serverWithSecret(canary());
    const bad = 'kbx_0000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const result = keybox(['run', ...scope, '--retry-for', '60s', '--', 'true'], {
      env: { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: bad },
    });
    expect(result.status).toBe(125);
    const audit = keybox(['audit', 'list', '--outcome', 'failure', '--json'], { env: env(server) });
    const entries = (JSON.parse(audit.stdout) as { entries: { action: string }[] }).entries;
    expect(entries.filter((e) => e.action === 'GET /api/v1/secrets')).toHaveLength(1);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}
