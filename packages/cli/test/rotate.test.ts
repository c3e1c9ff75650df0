import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { canary, createProject, setSecrets } from './support/fixtures.js';
import { keybox, serverEnv, startServer, tempDir, type TestServer } from './support/keybox.js';

/* `keybox rotate root-key|data-key` on a real data dir, with a server running on it and after its restart. */

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const scope = { project: 'shop', env: 'dev', path: '/app' };
const get = (server: Pick<TestServer, 'url' | 'token'>, name: string) =>
  keybox(['secrets', 'get', name, '-p', 'shop', '-e', 'dev', '--path', '/app'], { env: serverEnv(server) });

async function serverWith(secrets: Record<string, string>) {
  const dataDir = join(tempDir(), 'data');
  const server = await startServer({ dataDir });
  servers.push(server);
  await createProject(server, 'shop');
  await setSecrets(server, scope, secrets);
  return { server, dataDir };
}

async function restart(server: TestServer, dataDir: string, extraArgs: string[] = []) {
  await server.stop();
  servers.splice(servers.indexOf(server), 1);
  const again = await startServer({ dataDir, extraArgs });
  servers.push(again);
  return { ...again, token: server.token };
}

function rotate(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = keybox(['rotate', ...args, '--json'], { env });
  return { ...result, json: result.status === 0 ? (JSON.parse(result.stdout) as Record<string, unknown>) : {} };
}

function keyIdsOfValues(dataDir: string): number[] {
  const db = new DatabaseSync(join(dataDir, 'keybox.db'), { readOnly: true });
  try {
    return (
      db.prepare('select distinct key_id from secret_versions where value is not null').all() as {
        key_id: number;
      }[]
    ).map((r) => r.key_id);
  } finally {
    db.close();
  }
}

describe('keybox rotate root-key', () => {
  it("re-wraps the data keys with a new key, replaces the data dir's key file, and keeps what the old one opens", async () => {
    const value = canary();
    const { server, dataDir } = await serverWith({ API_KEY: value });
    const oldKey = readFileSync(join(dataDir, 'keybox.key'), 'utf8');

    const dry = rotate(['root-key', '--data-dir', dataDir, '--dry-run']);
    expect(dry.status).toBe(0);
    expect(readFileSync(join(dataDir, 'keybox.key'), 'utf8')).toBe(oldKey);

    const done = rotate(['root-key', '--data-dir', dataDir]);
    expect(done.stderr).toBe('');
    expect(done.status).toBe(0);
    const { from, to, keyFile, oldKeyFile, backup } = done.json as {
      from: string;
      to: string;
      keyFile: string;
      oldKeyFile: string;
      backup: string;
    };
    expect(to).not.toBe(from);
    expect(keyFile).toBe(join(dataDir, 'keybox.key'));
    expect(readFileSync(keyFile, 'utf8')).not.toBe(oldKey);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(oldKeyFile, 'utf8')).toBe(oldKey);
    expect(existsSync(join(dataDir, 'keybox.key.new'))).toBe(false);

    // The running server goes on (its data keys are in memory); restarted, it opens the store with the new key.
    expect(get(server, 'API_KEY').stdout).toBe(value);
    const again = await restart(server, dataDir);
    expect(get(again, 'API_KEY').stdout).toBe(value);
    const status = (await fetch(`${again.url}/api/secrets/status`).then((r) => r.json())) as {
      keys: { rootKeyId: string };
      rotation: { last: { kind: string } | null };
    };
    expect(status.keys.rootKeyId).toBe(to);
    expect(status.rotation.last?.kind).toBe('root');
    const verify = JSON.parse(keybox(['audit', 'verify', '--json'], { env: serverEnv(again) }).stdout) as {
      ok: boolean;
    };
    expect(verify.ok).toBe(true);
    const entries = JSON.parse(
      keybox(['audit', 'list', '--action', 'key.rotate', '--json'], { env: serverEnv(again) }).stdout,
    ) as { entries: { actor: string; details: Record<string, unknown> }[] };
    expect(entries.entries).toMatchObject([{ actor: 'system:rotate', details: { kind: 'root', from, to } }]);

    // Everything the server and the rotation wrote is private; the old key left in the data dir is pointed out.
    const perms = keybox(['audit', 'perms', '--data-dir', dataDir, '--json']);
    expect(perms.status).toBe(0);
    expect(JSON.parse(perms.stdout)).toMatchObject({
      ok: true,
      findings: [{ path: oldKeyFile, severity: 'warning' }],
    });

    // The backup made first is sealed with the old key: it restores with that one, not with the new one.
    const withOld = keybox(['server', 'restore', '--data-dir', tempDir(), '--from', backup, '--dry-run'], {
      env: { KEYBOX_MASTER_KEY: oldKey.trim() },
    });
    expect(withOld.status).toBe(0);
    const withNew = keybox(['server', 'restore', '--data-dir', tempDir(), '--from', backup, '--dry-run'], {
      env: { KEYBOX_MASTER_KEY: readFileSync(keyFile, 'utf8').trim() },
    });
    expect(withNew.stderr).toContain(`is sealed with root key ${from}`);
  });

  it('takes the new key from --new-key-file, and needs one when the current key is not in the data dir', async () => {
    const { server, dataDir } = await serverWith({ A: 'a' });
    await server.stop();
    servers.splice(0);
    const current = join(tempDir(), 'current.key');
    writeFileSync(current, readFileSync(join(dataDir, 'keybox.key')), { mode: 0o600 });
    const env = { KEYBOX_MASTER_KEY_FILE: current };
    const noTarget = rotate(['root-key', '--data-dir', dataDir], env);
    expect(noTarget.status).toBe(1);
    expect(noTarget.stderr).toContain('--new-key-file');

    const provided = join(tempDir(), 'next.key');
    const material = randomBytes(32).toString('base64');
    writeFileSync(provided, `${material}\n`, { mode: 0o600 });
    const done = rotate(['root-key', '--data-dir', dataDir, '--new-key-file', provided], env);
    expect(done.status).toBe(0);
    expect(readFileSync(provided, 'utf8')).toBe(`${material}\n`);
    // The data dir's own key file is left alone: the operator's key lives elsewhere.
    expect(readdirSync(dataDir).filter((f) => f.startsWith('keybox.key'))).toEqual(['keybox.key']);
    const again = await startServer({ dataDir, extraArgs: ['--master-key-file', provided] });
    servers.push(again);
    expect(get({ url: again.url, token: server.token }, 'A').stdout).toBe('a');
  });
});

describe('keybox rotate data-key', () => {
  it('adds an active key while the server runs; --reencrypt waits for a restart, then moves every value to it', async () => {
    const value = canary();
    const { server, dataDir } = await serverWith({ API_KEY: value, OTHER: 'x' });
    await setSecrets(server, scope, { API_KEY: value, OTHER: 'y' });
    const [oldKey] = keyIdsOfValues(dataDir);

    const added = rotate(['data-key', '--data-dir', dataDir]);
    expect(added.status).toBe(0);
    const active = added.json['activeKeyId'] as number;
    expect(added.json).toMatchObject({ retired: [oldKey], reencrypted: null });
    expect(active).not.toBe(oldKey);
    // Still readable by the running server, which encrypts with the old key until it restarts.
    expect(get(server, 'API_KEY').stdout).toBe(value);

    const early = rotate(['data-key', '--data-dir', dataDir, '--reencrypt', '--no-new-key']);
    expect(early.status).toBe(1);
    expect(early.stderr).toMatch(/started before data key \d+ existed/);
    expect(keyIdsOfValues(dataDir)).toEqual([oldKey]);

    const again = await restart(server, dataDir);
    const moved = rotate(['data-key', '--data-dir', dataDir, '--reencrypt', '--no-new-key']);
    expect(moved.stderr).toBe('');
    expect(moved.json).toMatchObject({ activeKeyId: active, reencrypted: { values: 3, bundles: 1 } });
    expect(keyIdsOfValues(dataDir)).toEqual([active]);
    expect(get(again, 'API_KEY').stdout).toBe(value);
    const history = keybox(['secrets', 'history', 'OTHER', '-p', 'shop', '-e', 'dev', '--path', '/app', '--json'], {
      env: serverEnv(again),
    });
    expect(history.status).toBe(0);
    // Run again: nothing left to move.
    expect(rotate(['data-key', '--data-dir', dataDir, '--reencrypt', '--no-new-key']).json).toMatchObject({
      reencrypted: { values: 0, bundles: 0 },
    });
  });

  it('refuses to add a key and re-encrypt in one go under a running server', async () => {
    const { dataDir } = await serverWith({ A: 'a' });
    const both = rotate(['data-key', '--data-dir', dataDir, '--reencrypt']);
    expect(both.status).toBe(1);
    expect(both.stderr).toContain('would not know the new key');
    expect(keybox(['rotate', 'data-key', '--no-new-key', '--data-dir', dataDir]).status).toBe(2);
  });
});
