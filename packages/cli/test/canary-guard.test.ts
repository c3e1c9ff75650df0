import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canary, createProject, setSecrets } from './support/fixtures.js';
import { keybox, serverEnv, startServer } from './support/keybox.js';

/* The guard every end-to-end server runs when it stops: no canary value in its output or, in plain text, on disk. */

describe('the canary guard', () => {
  it('passes for values stored through the API: they are encrypted at rest, audited by name only', async () => {
    const server = await startServer();
    const value = canary();
    await createProject(server, 'shop');
    await setSecrets(server, { project: 'shop', env: 'dev', path: '/' }, { K: value });
    const read = keybox(['secrets', 'get', 'K', '-p', 'shop', '-e', 'dev'], { env: serverEnv(server) });
    expect(read.stdout).toBe(value);
    const audit = keybox(['audit', 'list', '--json'], { env: serverEnv(server) });
    expect(audit.stdout).toContain('secret.read');
    expect(audit.stdout).not.toContain(value);
    await expect(server.stop()).resolves.toBeUndefined();
  });

  it('fails when a canary value is written to the data dir in plain text', async () => {
    const server = await startServer();
    const value = canary();
    writeFileSync(join(server.dataDir, 'leak.txt'), `oops ${value}\n`);
    await expect(server.stop()).rejects.toThrow('appeared in plain text');
  });
});
