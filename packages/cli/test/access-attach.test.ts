import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keybox, serverEnv, startServer, type TestServer } from './support/keybox.js';

/* `keybox identities|users attach|detach`: policies on and off a principal, as the server then reports them. */

let server: TestServer;
const kb = (args: string[], input?: string) => keybox(args, { env: serverEnv(server), input });

beforeAll(async () => {
  server = await startServer();
  expect(kb(['projects', 'create', 'shop']).status).toBe(0);
  const policy = ['--role', 'ci-reader', '--project', 'shop', '--env', 'dev', '--path', '/app'];
  expect(kb(['policies', 'put', 'app-reader', ...policy]).status).toBe(0);
  expect(kb(['identities', 'create', 'ci']).status).toBe(0);
  expect(kb(['users', 'create', 'bob'], 'a long enough password\n').status).toBe(0);
});

afterAll(async () => {
  await server.stop();
});

describe.each([
  ['identities', 'ci'],
  ['users', 'bob'],
])('keybox %s attach / detach', (group, name) => {
  it('attaches, shows the policies, and detaches', () => {
    const attached = kb([group, 'attach', name, '--policy', 'app-reader', '--policy', 'developer']);
    expect(attached.status, attached.stderr).toBe(0);
    expect(attached.stdout).toBe('policies: app-reader, developer\n');
    const json = kb([group, 'detach', name, '--policy', 'developer', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ policies: ['app-reader'] });
    const detached = kb([group, 'detach', name, '--policy', 'app-reader']);
    expect(detached.stdout).toBe('policies: (none)\n');
  });

  it('refuses a missing --policy or name before asking the server', () => {
    const noPolicy = kb([group, 'attach', name]);
    expect(noPolicy.status).toBe(2);
    expect(noPolicy.stderr).toContain('--policy is required');
    const noName = kb([group, 'detach', '--policy', 'developer']);
    expect(noName.status).toBe(2);
    expect(noName.stderr).toContain(`give exactly one ${group === 'users' ? 'user' : 'identity'} name`);
  });
});
