import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, canary, createProject, setSecrets } from './support/fixtures.js';
import { keybox, serverEnv, startServer, type TestServer } from './support/keybox.js';

/* References between secrets, expanded by `keybox run` with the caller's own permissions, and --dry-run. */

let server: TestServer;
const password = canary('PASSWORD');

beforeAll(async () => {
  server = await startServer();
  await createProject(server, 'shop');
  const dev = { project: 'shop', env: 'dev' };
  await setSecrets(
    server,
    { ...dev, path: '/app' },
    {
      DB_HOST: 'db.internal',
      DB_URL: 'postgres://app:${prod./db.PASSWORD}@${DB_HOST}/shop',
      GREETING: 'costs $${PRICE}',
      API_BASE: '${staging.BASE_URL}/v2',
    },
  );
  await setSecrets(server, { project: 'shop', env: 'prod', path: '/db' }, { PASSWORD: password });
  await setSecrets(server, { project: 'shop', env: 'staging', path: '/' }, { BASE_URL: 'https://staging.example' });
  await setSecrets(server, { ...dev, path: '/cycle' }, { A: '${B}', B: '${A}' });
  await setSecrets(server, { ...dev, path: '/missing' }, { A: '${NOPE}' });
});

afterAll(async () => {
  await server.stop();
});

const dev = ['--project', 'shop', '--env', 'dev'];
const print = (...names: string[]) => ['sh', '-c', names.map((n) => `printf '%s\\n' "$${n}"`).join(';')];

describe('references', () => {
  it('expands ${KEY}, ${env.KEY}, ${env./path.KEY} and keeps $${ literal', () => {
    const result = keybox(['run', ...dev, '--path', '/app', '--', ...print('DB_URL', 'API_BASE', 'GREETING')], {
      env: serverEnv(server),
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(
      `postgres://app:${password}@db.internal/shop\nhttps://staging.example/v2\ncosts \${PRICE}\n`,
    );
  });

  it('passes values through untouched with --no-expand', () => {
    const result = keybox(['run', ...dev, '--path', '/app', '--no-expand', '--', ...print('API_BASE')], {
      env: serverEnv(server),
    });
    expect(result.stdout).toBe('${staging.BASE_URL}/v2\n');
  });

  it('fails on a cycle, naming the secrets (exit 125)', () => {
    const result = keybox(['run', ...dev, '--path', '/cycle', '--', 'true'], { env: serverEnv(server) });
    expect(result.status).toBe(125);
    expect(result.stderr).toMatch(/reference cycle: (A -> B -> A|B -> A -> B)/);
  });

  it('fails on a missing reference instead of injecting a literal', () => {
    const result = keybox(['run', ...dev, '--path', '/missing', '--', 'true'], { env: serverEnv(server) });
    expect(result.status).toBe(125);
    expect(result.stderr).toContain('A refers to NOPE, which does not exist there');
  });

  it('expands with the caller’s permissions: a reference into a scope it may not read fails', async () => {
    await api(server, 'PUT', '/api/v1/policies/dev-app', {
      rules: [{ effect: 'allow', projects: ['shop'], environments: ['dev'], paths: ['/app'], capabilities: ['read'] }],
    });
    const limited = (await api(server, 'POST', '/api/v1/tokens', { name: 'app-only', policies: ['dev-app'] })) as {
      token: string;
    };
    const result = keybox(['run', ...dev, '--path', '/app', '--', 'true'], {
      env: { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: limited.token },
    });
    expect(result.status).toBe(125);
    expect(result.stderr).toMatch(/(DB_URL refers to prod \/db|API_BASE refers to staging \/), which cannot be read/);
    expect(result.stderr).not.toContain(password);
  });
});

describe('--dry-run', () => {
  it('lists each variable with its source and outcome, never a value, and runs nothing', () => {
    const result = keybox(['run', ...dev, '--path', '/app', '--dry-run', '--preserve-env=GREETING', '--', 'false'], {
      env: serverEnv(server, { GREETING: 'from-host' }),
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/DB_URL\s+server\s+\/app\s+1\s+injected/);
    expect(result.stdout).toMatch(/GREETING\s+server\s+\/app\s+1\s+inherited value kept/);
    expect(result.stdout).not.toContain(password);
    expect(result.stdout).not.toContain('db.internal');
  });

  it('has a JSON form', () => {
    const result = keybox(['run', ...dev, '--path', '/app', '--dry-run', '--json'], { env: serverEnv(server) });
    const plan = JSON.parse(result.stdout) as { variables: { name: string; source: string; outcome: string }[] };
    expect(plan.variables.map((v) => v.name).sort()).toEqual(['API_BASE', 'DB_HOST', 'DB_URL', 'GREETING']);
    expect(result.stdout).not.toContain(password);
  });
});
