import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, createProject, setSecrets } from './support/fixtures.js';
import { keybox, serverEnv, startServer, tempDir, type TestServer } from './support/keybox.js';

/* keybox manifest push / status: the app's manifest stored with an environment, and what is set where. */

let server: TestServer;
let dir: string;
beforeAll(async () => {
  server = await startServer();
  await createProject(server, 'shop');
  await setSecrets(server, { project: 'shop', env: 'prod', path: '/backend' }, { DB_URL: canary() });
  dir = tempDir();
  writeFileSync(
    join(dir, 'keybox.manifest.json'),
    JSON.stringify({ version: 1, items: { DB_URL: { description: 'db' }, API_KEY: { description: 'api' } } }),
  );
});
afterAll(async () => {
  await server.stop();
});

const scope = ['--project', 'shop', '--env', 'prod'];

describe('keybox manifest push / status', () => {
  it('stores the manifest and shows each item with where it is set, exit 1 while a required one is missing', () => {
    expect(keybox(['manifest', 'push', ...scope], { env: serverEnv(server), cwd: dir }).status).toBe(0);
    const status = keybox(['manifest', 'status', ...scope], { env: serverEnv(server), cwd: dir });
    expect(status.status).toBe(1);
    expect(status.stdout).toMatch(/DB_URL\s+yes\s+yes\s+DB_URL,DB_URL_FILE\s+\/backend/);
    expect(status.stdout).toMatch(/API_KEY\s+yes\s+yes\s+API_KEY,API_KEY_FILE\s+MISSING/);
  });

  it('passes once every required item is set, and has a JSON form', async () => {
    await setSecrets(server, { project: 'shop', env: 'prod', path: '/backend' }, { API_KEY: canary() });
    const status = keybox(['manifest', 'status', ...scope, '--json'], { env: serverEnv(server), cwd: dir });
    expect(status.status).toBe(0);
    const parsed = JSON.parse(status.stdout) as { items: { name: string; present: boolean }[] };
    expect(parsed.items.map((i) => [i.name, i.present])).toEqual([
      ['DB_URL', true],
      ['API_KEY', true],
    ]);
  });
});
