import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { api, canary, createProject, setSecrets } from './support/fixtures.js';
import { keybox, serverEnv, startServer, tempDir, type TestServer } from './support/keybox.js';

/* `keybox backup create` against a real server, and `keybox server restore` into its data dir. */

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const scope = { project: 'shop', env: 'dev', path: '/app' };
const get = (server: Pick<TestServer, 'url' | 'token'>, name: string) =>
  keybox(['secrets', 'get', name, '-p', 'shop', '-e', 'dev', '--path', '/app'], { env: serverEnv(server) });

async function serverWith(secrets: Record<string, string>, dataDir = join(tempDir(), 'data')) {
  const server = await startServer({ dataDir });
  servers.push(server);
  await createProject(server, 'shop');
  await setSecrets(server, scope, secrets);
  return server;
}

function backupInto(server: Pick<TestServer, 'url' | 'token'>, dir: string) {
  const result = keybox(['backup', 'create', '--output', dir, '--json'], { env: serverEnv(server) });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as {
    file: string;
    bytes: number;
    sha256: string;
    auditSeq: number;
    rootKeyId: string;
  };
}

describe('keybox backup create', () => {
  it('writes a 0600 copy named by its time, checked against the digest, never over another file', async () => {
    const value = canary();
    const server = await serverWith({ API_KEY: value });
    const dir = tempDir();
    const first = backupInto(server, dir);
    expect(first.file).toMatch(/\/keybox-backup-\d{8}T\d{6}Z(-\d+)?\.db$/);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(first.file);
    expect(bytes.length).toBe(first.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(first.sha256);
    expect(bytes.includes(Buffer.from(value))).toBe(false);
    // Within the same second: a second name, not an error and not an overwrite.
    const second = backupInto(server, dir);
    expect(second.file).not.toBe(first.file);
    expect(readdirSync(dir).sort()).toEqual([first.file, second.file].map((f) => f.split('/').pop()).sort());
    // An explicit file that exists is refused, and left alone.
    const taken = join(dir, 'taken.db');
    writeFileSync(taken, 'mine');
    const refused = keybox(['backup', 'create', '--output', taken], { env: serverEnv(server) });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('(it exists)');
    expect(readFileSync(taken, 'utf8')).toBe('mine');
    // The human form names the root key the copy needs.
    const human = keybox(['backup', 'create', '--output', dir], { env: serverEnv(server) });
    expect(human.stderr).toContain(`it needs root key ${first.rootKeyId}, which is not in it`);
    const status = (await fetch(`${server.url}/api/secrets/status`).then((r) => r.json())) as {
      backup: { last: { bytes: number } | null };
    };
    expect(status.backup.last?.bytes).toBeGreaterThan(0);
  });

  it('is refused to a token without admin, and leaves no file', async () => {
    const server = await serverWith({ A: '1' });
    const created = (await api(server, 'POST', '/api/v1/tokens', { name: 'dev', policies: ['developer'] })) as {
      token: string;
    };
    const dir = tempDir();
    const result = keybox(['backup', 'create', '--output', dir], {
      env: { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: created.token },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[FORBIDDEN]');
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('keybox server restore', () => {
  it('brings back the backed-up state, keeps the replaced store aside, and records the restore', async () => {
    const before = canary();
    const dataDir = join(tempDir(), 'data');
    const server = await serverWith({ API_KEY: before }, dataDir);
    const backup = backupInto(server, tempDir());
    const after = canary();
    await setSecrets(server, scope, { API_KEY: after, ADDED_LATER: 'x' });
    const verifyBefore = JSON.parse(keybox(['audit', 'verify', '--json'], { env: serverEnv(server) }).stdout) as {
      head: { seq: number; mac: string };
    };

    // Not under a running server.
    const running = keybox(['server', 'restore', '--data-dir', dataDir, '--from', backup.file]);
    expect(running.status).toBe(1);
    expect(running.stderr).toMatch(/a server \(pid \d+\) is running/);
    // A dry run changes nothing, so it may check a backup beside the running server.
    const besideServer = keybox(['server', 'restore', '--data-dir', dataDir, '--from', backup.file, '--dry-run']);
    expect(besideServer.stderr).not.toMatch(/is running/);
    expect(besideServer.status).toBe(0);
    await server.stop();
    servers.splice(0);

    const listing = () => readdirSync(dataDir).sort();
    const untouched = listing();
    const dry = keybox(['server', 'restore', '--data-dir', dataDir, '--from', backup.file, '--dry-run', '--json']);
    expect(dry.status).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      dryRun: true,
      rootKeyId: backup.rootKeyId,
      counts: { secrets: 1 },
      decrypted: { values: 1 },
      // The store being replaced recorded making this very file.
      madeBy: { seq: backup.auditSeq + 1, actor: 'token:admin' },
    });
    expect(listing()).toEqual(untouched);

    const done = keybox(['server', 'restore', '--data-dir', dataDir, '--from', backup.file]);
    expect(done.status).toBe(0);
    expect(done.stderr).toMatch(/restored .*: 1 project\(s\), \d+ folder\(s\), 1 secret\(s\)/);
    const aside = listing().filter((f) => f.startsWith('keybox.db.before-restore-'));
    expect(aside).toHaveLength(1);

    const again = await startServer({ dataDir });
    servers.push(again);
    const env = { url: again.url, token: server.token };
    expect(get(env, 'API_KEY').stdout).toBe(before);
    expect(get(env, 'ADDED_LATER').status).toBe(1);
    const verify = JSON.parse(keybox(['audit', 'verify', '--json'], { env: serverEnv(env) }).stdout) as {
      ok: boolean;
    };
    expect(verify.ok).toBe(true);
    const restores = JSON.parse(
      keybox(['audit', 'list', '--action', 'backup.restore', '--json'], { env: serverEnv(env) }).stdout,
    ) as { entries: { seq: number; actor: string; details: Record<string, unknown> }[] };
    expect(restores.entries).toHaveLength(1);
    expect(restores.entries[0]).toMatchObject({
      seq: backup.auditSeq + 1, // the backup's own entry came after the copy was made: it is not in it
      actor: 'system:restore',
      details: { sha256: backup.sha256 },
    });
    // The head it replaced: the last entry before the stop, which was the `audit verify` request itself.
    expect(restores.entries[0]?.details['replacedHead']).toEqual({
      seq: verifyBefore.head.seq + 1,
      mac: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('refuses a backup it cannot use, and changes nothing', async () => {
    const dataDir = join(tempDir(), 'data');
    const server = await serverWith({ A: canary() }, dataDir);
    const backup = backupInto(server, tempDir());
    await server.stop();
    servers.splice(0);
    const listing = readdirSync(dataDir).sort();
    const restore = (from: string, env: NodeJS.ProcessEnv = {}) =>
      keybox(['server', 'restore', '--data-dir', dataDir, '--from', from], { env });

    const otherKey = restore(backup.file, { KEYBOX_MASTER_KEY: randomBytes(32).toString('base64') });
    expect(otherKey.status).toBe(1);
    expect(otherKey.stderr).toContain(`is sealed with root key ${backup.rootKeyId}`);

    const text = join(tempDir(), 'notes.txt');
    writeFileSync(text, 'not a database at all');
    expect(restore(text).stderr).toContain('is not a SQLite file');

    // One flipped bit inside a stored ciphertext: SQLite's checks cannot see it, the decryption does.
    const bytes = readFileSync(backup.file);
    const copy = new DatabaseSync(backup.file, { readOnly: true });
    const blob = (
      copy.prepare('select value from secret_versions where value is not null').get() as { value: Uint8Array }
    ).value;
    copy.close();
    const at = bytes.indexOf(Buffer.from(blob));
    expect(at).toBeGreaterThan(0);
    const flipped = Buffer.from(bytes);
    flipped[at + 20] = (flipped[at + 20] ?? 0) ^ 0x01;
    const damaged = join(tempDir(), 'damaged.db');
    writeFileSync(damaged, flipped);
    const broken = restore(damaged);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/the backup is damaged: \/app A version 1 does not decrypt/);

    // Cut short (a copy that stopped half way): SQLite's integrity check.
    const cut = join(tempDir(), 'cut.db');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const truncated = restore(cut);
    expect(truncated.status).toBe(1);
    expect(truncated.stderr).toMatch(/integrity check|malformed|not a Keybox store/);

    expect(restore(join(tempDir(), 'missing.db')).stderr).toContain('cannot read');
    expect(readdirSync(dataDir).sort()).toEqual(listing);
  });

  it('restores onto a new machine: an empty data dir and the root key given', async () => {
    const value = canary();
    const dataDir = join(tempDir(), 'data');
    const server = await serverWith({ API_KEY: value }, dataDir);
    const backup = backupInto(server, tempDir());
    await server.stop();
    servers.splice(0);
    const keyFile = join(tempDir(), 'root.key');
    cpSync(join(dataDir, 'keybox.key'), keyFile);

    const fresh = join(tempDir(), 'fresh');
    const noKey = keybox(['server', 'restore', '--data-dir', tempDir(), '--from', backup.file]);
    expect(noKey.status).toBe(1);
    expect(noKey.stderr).toContain('a backup holds no key');
    mkdirSync(fresh, { mode: 0o700 });
    const done = keybox([
      'server',
      'restore',
      '--data-dir',
      fresh,
      '--from',
      backup.file,
      '--master-key-file',
      keyFile,
    ]);
    expect(done.status).toBe(0);
    expect(existsSync(join(fresh, 'keybox.key'))).toBe(false);
    const again = await startServer({ dataDir: fresh, extraArgs: ['--master-key-file', keyFile] });
    servers.push(again);
    expect(get({ url: again.url, token: server.token }, 'API_KEY').stdout).toBe(value);
  });
});
