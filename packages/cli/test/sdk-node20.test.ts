import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, createProject, setSecrets } from './support/fixtures.js';
import { cleanEnv, REPO_ROOT, serverEnv, startServer, tempDir, type TestServer } from './support/keybox.js';

/*
 * The SDK promises Node >= 20 to the apps that embed it, while the repository builds and tests on Node 24. This runs
 * the built SDK on a real Node 20 (the system one here, or KEYBOX_TEST_NODE20) against a real server.
 */

function findNode20(): string | undefined {
  for (const candidate of [process.env['KEYBOX_TEST_NODE20'], '/usr/bin/node', '/usr/local/bin/node']) {
    if (candidate === undefined || candidate === '') continue;
    const version = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (version.status === 0 && version.stdout.startsWith('v20.')) return candidate;
  }
  return undefined;
}

const node20 = findNode20();
const SDK = pathToFileURL(join(REPO_ROOT, 'packages/sdk/dist/index.js')).href;

const script = `
import { writeFileSync } from 'node:fs';
import { createFetchStatusHandler, createSecrets } from ${JSON.stringify(SDK)};
const manifest = {
  version: 1,
  items: { FROM_ENV: {}, FROM_FILE: {}, FROM_SERVER: { pattern: '^SERVER-' }, ABSENT: { required: false } },
};
const secrets = createSecrets(manifest);
await secrets.load();
const expected = JSON.parse(process.env.EXPECTED);
const matches = Object.fromEntries(Object.entries(expected).map(([n, v]) => [n, secrets.get(n) === v]));
const handler = createFetchStatusHandler(secrets, { authorize: () => true });
const response = await handler(new Request('http://app/api/secrets/status'));
const body = await response.text();
process.stdout.write(JSON.stringify({ node: process.version, matches, status: JSON.parse(body), code: response.status }));
`;

describe.runIf(node20 !== undefined)(`the built SDK on Node 20 (${node20 ?? 'not found'})`, () => {
  let server: TestServer;
  let dir: string;
  const fromServer = canary('SERVER');
  const fromEnv = canary('ENV');
  const fromFile = canary('FILE');

  beforeAll(async () => {
    dir = tempDir('keybox-node20-');
    server = await startServer();
    await createProject(server, 'shop');
    await setSecrets(server, { project: 'shop', env: 'prod', path: '/app' }, { FROM_SERVER: fromServer });
    writeFileSync(join(dir, 'app.mjs'), script);
    writeFileSync(join(dir, 'from-file'), `${fromFile}\n`);
  });

  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads, resolves env, NAME_FILE and the server in order, and serves a status without values', () => {
    const env = cleanEnv(
      serverEnv(server, {
        KEYBOX_PROJECT: 'shop',
        KEYBOX_ENV: 'prod',
        KEYBOX_PATH: '/app',
        FROM_ENV: fromEnv,
        FROM_FILE_FILE: join(dir, 'from-file'),
        EXPECTED: JSON.stringify({ FROM_ENV: fromEnv, FROM_FILE: fromFile, FROM_SERVER: fromServer }),
      }),
    );
    const result = spawnSync(node20!, [join(dir, 'app.mjs')], { env, encoding: 'utf8', timeout: 20_000 });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).not.toContain(fromServer);
    const out = JSON.parse(result.stdout) as {
      node: string;
      matches: Record<string, boolean>;
      code: number;
      status: { ok: boolean; items: { name: string; source: string }[]; keybox: { state: string } };
    };
    expect(out.node).toMatch(/^v20\./);
    expect(out.matches).toEqual({ FROM_ENV: true, FROM_FILE: true, FROM_SERVER: true });
    expect(out.code).toBe(200);
    expect(out.status.keybox.state).toBe('loaded');
    expect(out.status.items.map((i) => [i.name, i.source])).toEqual([
      ['FROM_ENV', 'env'],
      ['FROM_FILE', 'file'],
      ['FROM_SERVER', 'keybox'],
      ['ABSENT', 'missing'],
    ]);
  });
});
