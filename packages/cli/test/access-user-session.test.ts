import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, setSecrets } from './support/fixtures.js';
import { keybox, serverEnv, startServer, tempDir, type RunResult, type TestServer } from './support/keybox.js';

/*
 * People: `keybox users create` (password on stdin), `keybox login --password-stdin` into a session file under
 * XDG_CONFIG_HOME, commands that then need no KEYBOX_TOKEN, and sessions ended by logout or a password change.
 */

let server: TestServer;
let home: string;
const PASSWORD = canary('PASSWORD');
const NEW_PASSWORD = canary('NEW-PASSWORD');
const THIRD_PASSWORD = canary('THIRD-PASSWORD');
const value = canary('ACCESS-USER');
const stderrs: string[] = [];

function kb(args: string[], env: NodeJS.ProcessEnv, input?: string): RunResult {
  const result = keybox(args, { env, input });
  stderrs.push(result.stderr);
  return result;
}

const asAdmin = (args: string[], input?: string) => kb(args, serverEnv(server), input);
/** No token, no identity: only the session `keybox login` left in XDG_CONFIG_HOME. */
const asAlice = (args: string[], input?: string) =>
  kb(args, { XDG_CONFIG_HOME: home, XDG_CACHE_HOME: home, HOME: home }, input);
const sessionFile = () => join(home, 'keybox', 'session.json');
const login = (password: string) =>
  kb(['login', '--user', 'alice', '--password-stdin'], { KEYBOX_ADDR: server.url, XDG_CONFIG_HOME: home }, password);

async function tokenWorks(token: string): Promise<boolean> {
  const res = await fetch(`${server.url}/api/v1/auth/token`, { headers: { authorization: `Bearer ${token}` } });
  return res.status === 200;
}

beforeAll(async () => {
  server = await startServer();
  home = tempDir('keybox-access-user-');
  expect(asAdmin(['projects', 'create', 'shop']).status).toBe(0);
  await setSecrets(server, { project: 'shop', env: 'dev', path: '/' }, { API_KEY: value });
  const created = asAdmin(['users', 'create', 'alice', '--policy', 'developer'], `${PASSWORD}\n`);
  expect(created.status, created.stderr).toBe(0);
  expect(created.stderr).toContain('created user alice');
});

afterAll(async () => {
  for (const stderr of stderrs) {
    for (const secret of [PASSWORD, NEW_PASSWORD, THIRD_PASSWORD, value]) expect(stderr).not.toContain(secret);
  }
  await server.stop();
});

describe('keybox login', () => {
  it('refuses a wrong password with one message, writing no session', () => {
    const result = login('not the password at all');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('invalid user name or password [UNAUTHENTICATED]');
    expect(existsSync(sessionFile())).toBe(false);
  });

  it('keeps the session in a 0600 file in a 0700 directory', () => {
    const result = login(PASSWORD);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain(`signed in to ${server.url} as alice`);
    expect(statSync(sessionFile()).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'keybox')).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(sessionFile(), 'utf8'))).toMatchObject({ addr: server.url, user: 'alice' });
  });

  it('lets commands run with no KEYBOX_TOKEN and no KEYBOX_ADDR', () => {
    const whoami = asAlice(['whoami', '--json']);
    expect(whoami.status, whoami.stderr).toBe(0);
    expect(JSON.parse(whoami.stdout)).toMatchObject({
      token: { kind: 'session' },
      principal: { actor: 'user:alice', policies: ['developer'] },
    });
    const run = asAlice(['run', '--project', 'shop', '--env', 'dev', '--', 'sh', '-c', 'printf %s "$API_KEY"']);
    expect(run.stdout).toBe(value);
    expect(asAlice(['users', 'list']).status).toBe(1);
  });

  it('ends the session on the server and deletes the file on logout', async () => {
    const { token } = JSON.parse(readFileSync(sessionFile(), 'utf8')) as { token: string };
    expect(await tokenWorks(token)).toBe(true);
    const result = asAlice(['logout']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`signed out of ${server.url}`);
    expect(existsSync(sessionFile())).toBe(false);
    expect(await tokenWorks(token)).toBe(false);
    expect(asAlice(['whoami']).status).toBe(1);
  });

  it('loses the session when an admin changes the password', async () => {
    expect(login(PASSWORD).status).toBe(0);
    const { token } = JSON.parse(readFileSync(sessionFile(), 'utf8')) as { token: string };
    const passwd = asAdmin(['users', 'passwd', 'alice'], `${NEW_PASSWORD}\n`);
    expect(passwd.status, passwd.stderr).toBe(0);
    expect(await tokenWorks(token)).toBe(false);
    const whoami = asAlice(['whoami']);
    expect(whoami.status).toBe(1);
    expect(whoami.stderr).toContain('[UNAUTHENTICATED]');
    expect(login(PASSWORD).status).toBe(1);
    expect(login(NEW_PASSWORD).status).toBe(0);
  });

  it('records logins, good and bad, in the audit log without the password', () => {
    // Failed logins are anonymous (the claimed name is the resource), so select by resource.
    const result = asAdmin(['audit', 'list', '--action', 'auth.user-login', '--json']);
    const entries = (JSON.parse(result.stdout) as { entries: { resource: string; outcome: string }[] }).entries;
    expect(entries.filter((e) => e.resource === 'user:alice').map((e) => e.outcome)).toEqual([
      'success',
      'failure',
      'success',
      'success',
      'failure',
    ]);
    const all = asAdmin(['audit', 'list', '--limit', '1000', '--json']).stdout;
    for (const secret of [PASSWORD, NEW_PASSWORD, value]) expect(all).not.toContain(secret);
  });
});

describe('keybox users passwd for yourself', () => {
  it('takes the current and the new password from two lines of stdin, and refuses a wrong current one', () => {
    // Signed in with NEW_PASSWORD by the tests above.
    const wrong = asAlice(['users', 'passwd', 'alice'], `${PASSWORD}\n${THIRD_PASSWORD}\n`);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('current password');
    const oneLine = asAlice(['users', 'passwd', 'alice'], `${THIRD_PASSWORD}\n`);
    expect(oneLine.status).toBe(2);
    const changed = asAlice(['users', 'passwd', 'alice'], `${NEW_PASSWORD}\n${THIRD_PASSWORD}\n`);
    expect(changed.status, changed.stderr).toBe(0);
    expect(login(NEW_PASSWORD).status).toBe(1);
    expect(login(THIRD_PASSWORD).status).toBe(0);
  });
});
