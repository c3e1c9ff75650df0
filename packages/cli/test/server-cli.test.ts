import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canary, createProject, setSecrets } from './support/fixtures.js';
import { keybox, startServer, tempDir, type TestServer } from './support/keybox.js';

/* `keybox server` as an operator meets it: first start, restarts, the root key, listening rules, TLS. */

const servers: TestServer[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe('keybox server', () => {
  it('initialises an empty data dir privately and prints the admin token on the first start only', async () => {
    const dataDir = join(dir(), 'data');
    const first = await startServer({ dataDir });
    servers.push(first);
    expect(first.token).toMatch(/^kbx_[0-9a-f]{16}\./);
    expect(first.stderr()).toContain(`KEYBOX_TOKEN=${first.token}`);
    expect(mode(dataDir)).toBe('700');
    expect(mode(join(dataDir, 'keybox.key'))).toBe('600');
    expect(mode(join(dataDir, 'keybox.db'))).toBe('600');
    await first.stop();

    const second = await startServer({ dataDir });
    servers.push(second);
    expect(second.stderr()).not.toContain('admin token');
    expect(second.stderr()).not.toContain(first.token);
    // The token from the first start still works after the restart.
    const list = keybox(['projects', 'list', '--json'], {
      env: { KEYBOX_ADDR: second.url, KEYBOX_TOKEN: first.token },
    });
    expect(list.status).toBe(0);
  });

  it('loads no fetch implementation (undici, +5 MiB) for health checks and reads, only for the app', async () => {
    // Node's own record of what a process loaded, written when it exits (a preload of the test's, not the server's).
    const out = join(dir(), 'modules');
    const preload = join(dir(), 'record-modules.cjs');
    writeFileSync(
      preload,
      `process.on('exit', () => require('node:fs').appendFileSync(${JSON.stringify(out)}, ` +
        `process.moduleLoadList.filter((m) => m.includes('undici')).join() + '\\n'));`,
    );
    const loaded = async (requests: string[]) => {
      const server = await startServer({ env: { NODE_OPTIONS: `--require ${preload}` } });
      servers.push(server);
      await createProject(server, 'shop'); // through the app
      await setSecrets(server, { project: 'shop', env: 'dev', path: '/app' }, { API_KEY: canary() });
      await server.stop();
      rmSync(out, { force: true });
      const again = await startServer({ dataDir: server.dataDir, env: { NODE_OPTIONS: `--require ${preload}` } });
      servers.push(again);
      for (const path of requests) {
        const res = await fetch(`${again.url}${path}`, {
          headers: { authorization: `Bearer ${server.token}`, 'x-vault-token': server.token },
        });
        expect(res.status, path).toBe(200);
      }
      await again.stop();
      return readFileSync(out, 'utf8').trim();
    };
    expect(await loaded(['/healthz', '/api/v1/secrets?project=shop&env=dev&path=/app', '/v1/shop/data/dev/app'])).toBe(
      '',
    );
    // The check sees it when it is loaded: the first request the app answers.
    expect(await loaded(['/healthz', '/api/v1/projects'])).toContain('undici');
  });

  it('keeps secrets across a restart and refuses to start with a different root key', async () => {
    const dataDir = join(dir(), 'data');
    const value = canary();
    const server = await startServer({ dataDir });
    servers.push(server);
    await createProject(server, 'shop');
    await setSecrets(server, { project: 'shop', env: 'dev', path: '/' }, { K: value });
    await server.stop();

    const keyFile = join(dir(), 'other.key');
    writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
    const refused = keybox(['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--master-key-file', keyFile]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('is not the one this store was created with');

    const again = await startServer({ dataDir });
    servers.push(again);
    const get = keybox(['secrets', 'get', 'K', '-p', 'shop', '-e', 'dev'], {
      env: { KEYBOX_ADDR: again.url, KEYBOX_TOKEN: server.token },
    });
    expect(get.stdout).toBe(value);
    expect(again.stderr()).not.toContain(value);
  });

  it('takes the root key from KEYBOX_MASTER_KEY without writing a key file', async () => {
    const dataDir = join(dir(), 'data');
    const server = await startServer({ dataDir, env: { KEYBOX_MASTER_KEY: randomBytes(32).toString('base64') } });
    servers.push(server);
    expect(existsSync(join(dataDir, 'keybox.key'))).toBe(false);
  });

  it('refuses a non-loopback address without TLS unless --insecure-listen', async () => {
    const refused = keybox(['server', '--data-dir', join(dir(), 'data'), '--listen', '0.0.0.0:0']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('refusing to listen on 0.0.0.0 without TLS');
    const dataDir = join(dir(), 'data2');
    const insecure = await startServer({ dataDir, extraArgs: ['--listen', '0.0.0.0:0', '--insecure-listen'] });
    servers.push(insecure);
    expect(insecure.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
  });

  it('reports every invalid setting at once and does not start', () => {
    const result = keybox(['server', '--data-dir', join(dir(), 'd'), '--listen', 'nope', '--tls-cert', 'x.pem']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('must be HOST:PORT');
    expect(result.stderr).toContain('--tls-cert and --tls-key go together');
  });

  it.skipIf(!existsSync('/usr/bin/openssl'))('serves TLS that clients trust through KEYBOX_CACERT', async () => {
    const d = dir();
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(d, 'key.pem'),
        '-out',
        join(d, 'cert.pem'),
      ],
      { encoding: 'utf8' },
    );
    expect(made.status).toBe(0);
    const server = await startServer({
      dataDir: join(d, 'data'),
      extraArgs: ['--tls-cert', join(d, 'cert.pem'), '--tls-key', join(d, 'key.pem')],
    });
    servers.push(server);
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const env = { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: server.token };
    const untrusted = keybox(['projects', 'list'], { env });
    expect(untrusted.status).toBe(1);
    expect(untrusted.stderr).toContain('KEYBOX_CACERT');
    const trusted = keybox(['projects', 'list', '--json'], { env: { ...env, KEYBOX_CACERT: join(d, 'cert.pem') } });
    expect(trusted.status).toBe(0);
    expect(JSON.parse(trusted.stdout)).toEqual({ projects: [] });
    expect(readFileSync(join(d, 'cert.pem'), 'utf8')).toContain('BEGIN CERTIFICATE');
    // `run` over TLS, twice: the second start decides its request once the (TLS) connection is up (docs/run.md).
    const tlsEnv = { ...env, KEYBOX_CACERT: join(d, 'cert.pem') };
    expect(keybox(['projects', 'create', 'shop'], { env: tlsEnv }).status).toBe(0);
    const value = canary();
    const set = keybox(['secrets', 'set', 'API_KEY=-', '--project', 'shop', '--env', 'dev', '--path', '/app'], {
      env: tlsEnv,
      input: value,
    });
    expect(set.status).toBe(0);
    for (let i = 0; i < 2; i++) {
      const ran = keybox(
        ['run', '--project', 'shop', '--env', 'dev', '--path', '/app', '--', 'sh', '-c', 'printf %s "$API_KEY"'],
        { env: tlsEnv },
      );
      expect(ran.stderr).toBe('');
      expect(ran.stdout).toBe(value);
    }

    // A person's session over TLS: login and logout trust the same CA.
    const trust = { KEYBOX_CACERT: join(d, 'cert.pem'), XDG_CONFIG_HOME: d };
    expect(
      keybox(['users', 'create', 'ann'], { env: { ...env, ...trust }, input: 'a long enough password\n' }).status,
    ).toBe(0);
    const asAnn = { KEYBOX_ADDR: server.url, ...trust };
    const login = keybox(['login', '--user', 'ann', '--password-stdin'], {
      env: asAnn,
      input: 'a long enough password\n',
    });
    expect(login.status, login.stderr).toBe(0);
    const session = JSON.parse(readFileSync(join(d, 'keybox', 'session.json'), 'utf8')) as { token: string };
    const logout = keybox(['logout'], { env: asAnn });
    expect(logout.stderr).toBe('');
    expect(logout.stdout).toContain('signed out');
    const lookup = keybox(['whoami'], { env: { ...trust, KEYBOX_ADDR: server.url, KEYBOX_TOKEN: session.token } });
    expect(lookup.stderr).toContain('UNAUTHENTICATED');
  });
});
