import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCluster, type Cluster } from '../../../scripts/pg-cluster.js';
import { api, canaries, canary, createProject, setSecrets } from './support/fixtures.js';
import { keybox, serverEnv, startServer, tempDir, type TestServer } from './support/keybox.js';

/*
 * Several `keybox server` processes on one PostgreSQL database, as an operator runs them behind a load balancer:
 * what one server commits, every other serves at once (caches, revocations, watchers), writes from all of them
 * extend one audit chain, and they share the root key or refuse to start. PostgreSQL is a real cluster from this
 * machine's binaries (scripts/pg-cluster.js).
 */

let cluster: Cluster;
const servers: TestServer[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  cluster = await startCluster();
});

afterAll(async () => {
  // No value in plain text anywhere in PostgreSQL's files either (tables, WAL): names and ciphertext only.
  if (cluster !== undefined) {
    const found = filesContaining(join(cluster.dir, 'data'), [...canaries]);
    await cluster.stop();
    expect(found).toEqual([]);
  }
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

/** A new database and a root key for it (every replica gets the same one, as the docs tell operators). */
async function database() {
  const name = `keybox_${randomBytes(4).toString('hex')}`;
  // A connection per call: one test restarts the cluster.
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  return { url: cluster.urlOf(name), masterKey: randomBytes(32).toString('base64') };
}

async function replica(db: { url: string; masterKey: string }, token = ''): Promise<TestServer> {
  const server = await startServer({
    dataDir: join(dir(), 'data'),
    extraArgs: ['--db', db.url],
    env: { KEYBOX_MASTER_KEY: db.masterKey },
  });
  servers.push(server);
  return token === '' ? server : { ...server, token };
}

/** Retries `check` until it passes: another server hears of a commit within milliseconds, give it 5 s. */
const eventually = (check: () => void | Promise<void>) => vi.waitFor(check, { timeout: 5000, interval: 20 });

function filesContaining(root: string, needles: string[]): string[] {
  const hits: string[] = [];
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      const stat = statSync(full, { throwIfNoEntry: false });
      if (stat === undefined) continue;
      if (stat.isDirectory()) walk(full);
      else if (stat.isFile()) {
        const bytes = readFileSync(full);
        if (needles.some((n) => bytes.includes(Buffer.from(n)))) hits.push(full);
      }
    }
  };
  walk(root);
  return hits;
}

describe('keybox server --db postgres://', () => {
  it('initialises the database once: one admin token, which every replica accepts', async () => {
    const db = await database();
    const [a, b] = await Promise.all([replica(db), replica(db)]);
    // Started together on an empty database: exactly one of them made (and printed) the first admin token.
    const tokens = [a.token, b.token].filter((t) => t !== '');
    expect(tokens).toHaveLength(1);
    expect(a.stderr()).toMatch(/store: postgres 127\.0\.0\.1:\d+\/keybox_/);
    const token = tokens[0] as string;
    for (const server of [a, b]) {
      const list = keybox(['projects', 'list', '--json'], { env: serverEnv({ url: server.url, token }) });
      expect(list.status).toBe(0);
    }
  });

  it('serves on one replica what was written through another, with no stale cache', async () => {
    const db = await database();
    const a = await replica(db);
    const b = await replica(db, a.token);
    await createProject(a, 'shop');
    const first = canary();
    await setSecrets(a, { project: 'shop', env: 'dev', path: '/api' }, { DB_PASSWORD: first });
    const get = () =>
      keybox(['secrets', 'get', 'DB_PASSWORD', '--project', 'shop', '--env', 'dev', '--path', '/api'], {
        env: serverEnv(b),
      });
    const run = () =>
      keybox(
        [
          'run',
          '--project',
          'shop',
          '--env',
          'dev',
          '--path',
          '/api',
          '--',
          'node',
          '-e',
          'process.stdout.write(process.env.DB_PASSWORD)',
        ],
        { env: serverEnv(b) },
      );
    expect(get().stdout).toBe(first);
    // B now holds the folder in its read cache; a write through A must reach B's next reads.
    expect(run().stdout).toBe(first);
    const second = canary();
    await setSecrets(a, { project: 'shop', env: 'dev', path: '/api' }, { DB_PASSWORD: second });
    await eventually(() => expect(run().stdout).toBe(second));
    expect(get().stdout).toBe(second);
  });

  it('refuses on every replica a token revoked through one of them', async () => {
    const db = await database();
    const a = await replica(db);
    const b = await replica(db, a.token);
    await createProject(a, 'shop');
    await setSecrets(a, { project: 'shop', env: 'dev', path: '/' }, { K: canary() });
    const created = (await api(a, 'POST', '/api/v1/tokens', { name: 'ci', policies: ['admin'] })) as {
      token: string;
      id: string;
    };
    const list = () => keybox(['projects', 'list', '--json'], { env: serverEnv({ url: b.url, token: created.token }) });
    // Used on B twice: the second check is answered from B's token cache.
    expect(list().status).toBe(0);
    expect(list().status).toBe(0);
    await api(a, 'DELETE', `/api/v1/tokens/${created.id}`);
    await eventually(() => expect(list().status).not.toBe(0));
    expect(list().stderr).toMatch(/revoked/);
  });

  it('wakes a watcher on one replica when a write lands through another', async () => {
    const db = await database();
    const a = await replica(db);
    const b = await replica(db, a.token);
    await createProject(a, 'shop');
    await setSecrets(a, { project: 'shop', env: 'dev', path: '/' }, { K: canary() });
    const scope = 'project=shop&env=dev&path=%2F';
    const { etag } = (await api(b, 'GET', `/api/v1/secrets/watch?${scope}&wait=0`)) as { etag: string };
    const started = Date.now();
    const watching = api(b, 'GET', `/api/v1/secrets/watch?${scope}&etag=${encodeURIComponent(etag)}&wait=30`);
    await new Promise((r) => setTimeout(r, 200));
    await setSecrets(a, { project: 'shop', env: 'dev', path: '/' }, { K: canary() });
    const answer = (await watching) as { changed: boolean; etag: string };
    expect(answer.changed).toBe(true);
    // Woken by the change, not by the 30 s timeout (which would also say changed).
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('keeps one audit chain and one history when replicas write the same folder at once', async () => {
    const db = await database();
    const a = await replica(db);
    const b = await replica(db, a.token);
    await createProject(a, 'shop');
    const scope = { project: 'shop', env: 'dev', path: '/' };
    const writes = Array.from({ length: 20 }, (_, i) =>
      setSecrets(i % 2 === 0 ? a : b, scope, { [`K${i % 4}`]: canary() }),
    );
    await Promise.all(writes);
    const history = (await api(b, 'GET', '/api/v1/projects/shop/environments/dev/folders/history?path=%2F')) as {
      revisions: { revision: number }[];
    };
    expect(history.revisions.map((r) => r.revision).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    for (const server of [a, b]) {
      const verify = keybox(['audit', 'verify', '--json'], { env: serverEnv(server) });
      expect(verify.status).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
    }
  });

  it('rides out a PostgreSQL restart: refuses while it is down, then serves, and hears other replicas again', async () => {
    const db = await database();
    const a = await replica(db);
    const b = await replica(db, a.token);
    await createProject(a, 'shop');
    const scope = { project: 'shop', env: 'dev', path: '/' };
    await setSecrets(a, scope, { K: canary() });
    const get = (server: TestServer) =>
      keybox(['secrets', 'get', 'K', '--project', 'shop', '--env', 'dev', '--path', '/', '--json'], {
        env: serverEnv(server),
      });
    expect(get(b).status).toBe(0);
    await cluster.restart({
      whileDown: async () => {
        // Nothing can be recorded in the audit log, so nothing is served: not even from B's caches.
        const down = get(b);
        expect(down.status).not.toBe(0);
        expect(down.stderr).toMatch(/could not be recorded in the audit log/);
        await Promise.resolve();
      },
    });
    const after = canary();
    await eventually(() => setSecrets(a, scope, { K: after }));
    await eventually(() => expect(JSON.parse(get(b).stdout)).toMatchObject({ secret: { value: after } }));
    await eventually(() => expect(b.stderr()).toMatch(/PostgreSQL change notifications are back/));
    // B listens again: a write through A reaches B's cached folder.
    const later = canary();
    expect(JSON.parse(get(b).stdout)).toMatchObject({ secret: { value: after } });
    await setSecrets(a, scope, { K: later });
    await eventually(() => expect(JSON.parse(get(b).stdout)).toMatchObject({ secret: { value: later } }));
  });

  it('migrates an embedded store into PostgreSQL, where replicas serve what the one server did', async () => {
    const dataDir = join(dir(), 'data');
    const single = await startServer({ dataDir });
    servers.push(single);
    await createProject(single, 'shop');
    const scope = { project: 'shop', env: 'dev', path: '/api' };
    const first = canary();
    const second = canary();
    await setSecrets(single, scope, { DB_PASSWORD: first });
    await setSecrets(single, scope, { DB_PASSWORD: second, API_KEY: canary() });
    const scopeArgs = ['--project', 'shop', '--env', 'dev', '--path', '/api'];
    expect(keybox(['secrets', 'get', 'DB_PASSWORD', ...scopeArgs], { env: serverEnv(single) }).stdout).toBe(second);
    await single.stop();

    const db = await database();
    const migrated = keybox(['server', 'migrate', '--data-dir', dataDir, '--db', db.url, '--json']);
    expect(migrated.stderr).toBe('');
    expect(migrated.status).toBe(0);
    const result = JSON.parse(migrated.stdout) as { tables: { table: string; rows: number }[]; rows: number };
    const rows = Object.fromEntries(result.tables.map((t) => [t.table, t.rows]));
    expect(rows).toMatchObject({ projects: 1, environments: 3, secrets: 2, secret_versions: 3, api_tokens: 1 });
    expect(rows['audit_log']).toBeGreaterThan(3);

    // The old data dir (its root key) on PostgreSQL, and a second replica given the same key.
    const a = await startServer({ dataDir, extraArgs: ['--db', db.url] });
    servers.push(a);
    expect(a.stderr()).not.toContain('admin token');
    const b = await replica({ url: db.url, masterKey: readFileSync(join(dataDir, 'keybox.key'), 'utf8').trim() });
    for (const server of [a, b]) {
      const env = serverEnv({ url: server.url, token: single.token });
      expect(keybox(['secrets', 'get', 'DB_PASSWORD', ...scopeArgs], { env }).stdout).toBe(second);
      const history = keybox(['secrets', 'history', 'DB_PASSWORD', ...scopeArgs, '--json'], { env });
      expect(history.status).toBe(0);
      expect(history.stdout).toMatch(/"version": 2/);
      const verify = keybox(['audit', 'verify', '--json'], { env });
      expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
    }

    // Once is enough: a second migration into the same database is refused and changes nothing.
    const again = keybox(['server', 'migrate', '--data-dir', dataDir, '--db', db.url]);
    expect(again.status).not.toBe(0);
    expect(again.stderr).toMatch(/the target database is not empty/);
    expect(
      keybox(['secrets', 'get', 'DB_PASSWORD', ...scopeArgs], { env: serverEnv({ url: a.url, token: single.token }) })
        .stdout,
    ).toBe(second);
  });

  it('backs up a PostgreSQL store as a SQLite file, restored into a data dir and migrated back to PostgreSQL', async () => {
    const db = await database();
    const a = await replica(db);
    await createProject(a, 'shop');
    const scope = { project: 'shop', env: 'dev', path: '/api' };
    const value = canary();
    await setSecrets(a, scope, { DB_PASSWORD: value });
    const scopeArgs = ['--project', 'shop', '--env', 'dev', '--path', '/api'];
    const made = keybox(['backup', 'create', '--output', dir(), '--json'], { env: serverEnv(a) });
    expect(made.stderr).toBe('');
    const backup = JSON.parse(made.stdout) as { file: string };
    await setSecrets(a, scope, { DB_PASSWORD: 'after the backup' });

    // Onto a new machine: the replicas' root key, an empty data dir, then the embedded store as it was.
    const keyFile = join(dir(), 'root.key');
    writeFileSync(keyFile, db.masterKey, { mode: 0o600 });
    const dataDir = join(dir(), 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    const restored = keybox([
      'server',
      'restore',
      '--data-dir',
      dataDir,
      '--from',
      backup.file,
      '--master-key-file',
      keyFile,
    ]);
    expect(restored.stderr).toMatch(/restored/);
    expect(restored.status).toBe(0);
    const single = await startServer({ dataDir, extraArgs: ['--master-key-file', keyFile] });
    servers.push(single);
    const env = serverEnv({ url: single.url, token: a.token });
    expect(keybox(['secrets', 'get', 'DB_PASSWORD', ...scopeArgs], { env }).stdout).toBe(value);
    expect(JSON.parse(keybox(['audit', 'verify', '--json'], { env }).stdout)).toMatchObject({ ok: true });
    await single.stop();

    // And back to PostgreSQL, in a new database.
    const target = await database();
    const migrated = keybox(['server', 'migrate', '--data-dir', dataDir, '--db', target.url]);
    expect(migrated.status).toBe(0);
    const b = await startServer({ dataDir, extraArgs: ['--db', target.url, '--master-key-file', keyFile] });
    servers.push(b);
    const onB = serverEnv({ url: b.url, token: a.token });
    expect(keybox(['secrets', 'get', 'DB_PASSWORD', ...scopeArgs], { env: onB }).stdout).toBe(value);
    expect(JSON.parse(keybox(['audit', 'verify', '--json'], { env: onB }).stdout)).toMatchObject({ ok: true });
  });

  it('migrates nothing from a data dir without a store, and says so', async () => {
    const db = await database();
    const result = keybox(['server', 'migrate', '--data-dir', join(dir(), 'none'), '--db', db.url]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/there is no store to migrate/);
    const usage = keybox(['server', 'migrate', '--data-dir', join(dir(), 'none')]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/needs --db postgres/);
  });

  it('refuses to start a replica that has no root key rather than make a key of its own', async () => {
    const db = await database();
    await replica(db);
    const lone = keybox(['server', '--data-dir', join(dir(), 'data'), '--listen', '127.0.0.1:0', '--db', db.url]);
    expect(lone.status).not.toBe(0);
    expect(lone.stderr).toMatch(/already holds data sealed with root key [0-9a-f]{16}/);
    expect(lone.stderr).toMatch(/KEYBOX_MASTER_KEY or --master-key-file/);
  });

  it('warns when --db puts a password on the command line, and never prints it', async () => {
    const db = await database();
    const secret = `pw-${randomBytes(6).toString('hex')}`;
    // The test cluster trusts local connections, so any password logs in.
    const url = db.url.replace('postgres://keybox@', `postgres://keybox:${secret}@`);
    const server = await startServer({
      dataDir: join(dir(), 'data'),
      extraArgs: ['--db', url],
      env: { KEYBOX_MASTER_KEY: db.masterKey },
    });
    servers.push(server);
    expect(server.stderr()).toMatch(/the password in --db is in this process's command line/);
    expect(server.stderr()).not.toContain(secret);
    // Through KEYBOX_DB the same URL gives no warning (the environment is not world-readable).
    const quiet = await startServer({
      dataDir: join(dir(), 'data'),
      env: { KEYBOX_MASTER_KEY: db.masterKey, KEYBOX_DB: url },
    });
    servers.push(quiet);
    expect(quiet.stderr()).not.toMatch(/password/);
    expect(quiet.stderr()).not.toContain(secret);
  });

  it('says why when the database cannot be reached, without the password', () => {
    const secret = `pw-${randomBytes(6).toString('hex')}`;
    const url = `postgres://keybox:${secret}@127.0.0.1:1/nowhere`;
    const result = keybox(['server', '--data-dir', join(dir(), 'data'), '--listen', '127.0.0.1:0'], {
      env: { KEYBOX_DB: url },
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/cannot connect to PostgreSQL at 127\.0\.0\.1:1\/nowhere/);
    expect(result.stderr).not.toContain(secret);
  });
});
