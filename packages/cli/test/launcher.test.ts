import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanEnv, KEYBOX_BIN, NODE_BIN, REPO_ROOT, tempDir } from './support/keybox.js';

/* The `keybox` launcher picks the repository's pinned Node, however it is called. */

const SYSTEM_NODE = '/usr/bin/node';
const systemVersion = existsSync(SYSTEM_NODE)
  ? spawnSync(SYSTEM_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim()
  : '';
const [major = 0, minor = 0] = systemVersion.replace(/^v/, '').split('.').map(Number);
const systemTooOld = systemVersion !== '' && (major < 22 || (major === 22 && minor < 15));
const pinned = spawnSync(NODE_BIN, ['--version'], { encoding: 'utf8' }).stdout.trim();

/** An environment whose PATH has the system directories only, so `node` there is the system one. */
const systemPath = () => cleanEnv({ PATH: '/usr/local/bin:/usr/bin:/bin' });

describe('the keybox launcher', () => {
  it('runs on the pinned Node when called through node_modules/.bin', () => {
    const result = spawnSync(join(REPO_ROOT, 'node_modules/.bin/keybox'), ['--version'], {
      env: systemPath(),
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`(node ${pinned})`);
  });

  it('runs on the pinned Node when called by its own path or through a symlink elsewhere', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'bin'));
    symlinkSync(KEYBOX_BIN, join(dir, 'bin', 'keybox'));
    for (const bin of [KEYBOX_BIN, join(dir, 'bin', 'keybox')]) {
      const result = spawnSync(bin, ['--version'], { env: systemPath(), encoding: 'utf8' });
      expect(result.stdout).toContain(`(node ${pinned})`);
    }
    // Found on PATH as a bare `keybox`.
    const bare = spawnSync('keybox', ['--version'], {
      env: cleanEnv({ PATH: `${join(dir, 'bin')}:/usr/local/bin:/usr/bin:/bin` }),
      encoding: 'utf8',
    });
    rmSync(dir, { recursive: true });
    expect(bare.stdout).toContain(`(node ${pinned})`);
  });

  it.skipIf(!systemTooOld)('says what to install when the Node that runs it is too old', () => {
    const main = join(REPO_ROOT, 'packages/cli/dist/main.js');
    const result = spawnSync(SYSTEM_NODE, [main, 'secrets', 'list'], { env: systemPath(), encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('Node.js 22.15 or newer is required');
    expect(result.stderr).toContain(systemVersion);
    expect(result.stderr).toContain('install Node.js 24 LTS');
    const run = spawnSync(SYSTEM_NODE, [main, 'run', '--', 'true'], { env: systemPath(), encoding: 'utf8' });
    expect(run.status).toBe(125);
  });
});
