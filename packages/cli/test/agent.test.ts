import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, canary, createProject, setSecrets } from './support/fixtures.js';
import { keybox, serverEnv, spawnKeybox, startServer, tempDir, type TestServer } from './support/keybox.js';

/* `keybox agent`: secrets rendered to files and kept current, against a real server. */

const servers: TestServer[] = [];
const agents: ChildProcess[] = [];
afterEach(async () => {
  for (const agent of agents.splice(0)) if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const scope = { project: 'shop', env: 'dev', path: '/app' };
const scopeArgs = ['-p', 'shop', '-e', 'dev', '--path', '/app'];

async function serverWith(secrets: Record<string, string>, options: Parameters<typeof startServer>[0] = {}) {
  const server = await startServer(options);
  servers.push(server);
  await createProject(server, 'shop');
  await setSecrets(server, scope, secrets);
  return server;
}

interface Event {
  event: string;
  [key: string]: unknown;
}

/** Starts `keybox agent --json`, collecting its events (stdout) and messages (stderr). */
function startAgent(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawnKeybox(['agent', '--json', '--debounce', '0s', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  agents.push(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const events = () =>
    out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Event);
  return {
    child,
    exited,
    events,
    stdout: () => out,
    stderr: () => err,
    /** Waits for the n-th event (1-based) that matches. */
    async waitFor(match: (e: Event) => boolean, n = 1): Promise<Event> {
      for (let i = 0; i < 2000; i++) {
        const found = events().filter(match);
        if (found.length >= n) return found[n - 1] as Event;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`no such event; events: ${out}\nstderr: ${err}`);
    },
  };
}

const modeOf = (file: string) => statSync(file).mode & 0o777;

describe('keybox agent', () => {
  it('renders a file per secret and a dotenv file (0600, exact bytes), then follows changes and removals', async () => {
    const password = canary('PW');
    const server = await serverWith({ DB_PASSWORD: password, API_URL: 'https://api.test' });
    const dir = join(tempDir(), 'secrets');
    const envFile = join(tempDir(), 'app.env');
    const agent = startAgent([...scopeArgs, '--dir', dir, '--file', envFile], serverEnv(server));

    const first = await agent.waitFor((e) => e.event === 'render');
    expect(first).toMatchObject({ source: 'server', secrets: 2, written: ['API_URL', 'DB_PASSWORD'], removed: [] });
    expect(readFileSync(join(dir, 'DB_PASSWORD'), 'utf8')).toBe(password);
    expect(readFileSync(envFile, 'utf8')).toBe(`API_URL='https://api.test'\nDB_PASSWORD='${password}'\n`);
    expect(modeOf(dir)).toBe(0o700);
    for (const file of [join(dir, 'DB_PASSWORD'), join(dir, 'API_URL'), envFile]) expect(modeOf(file)).toBe(0o600);
    const untouched = statSync(join(dir, 'API_URL')).ino;

    const rotated = canary('PW2');
    await setSecrets(server, scope, { DB_PASSWORD: rotated });
    const second = await agent.waitFor((e) => e.event === 'render', 2);
    expect(second).toMatchObject({ written: ['DB_PASSWORD'], removed: [], files: [envFile] });
    expect(readFileSync(join(dir, 'DB_PASSWORD'), 'utf8')).toBe(rotated);
    expect(statSync(join(dir, 'API_URL')).ino).toBe(untouched);

    await api(server, 'DELETE', `/api/v1/projects/shop/environments/dev/secrets/API_URL?path=%2Fapp`);
    const third = await agent.waitFor((e) => e.event === 'render', 3);
    expect(third).toMatchObject({ written: [], removed: ['API_URL'] });
    expect(readdirSync(dir).sort()).toEqual(['.keybox-agent.json', 'DB_PASSWORD']);
    expect(readFileSync(envFile, 'utf8')).toBe(`DB_PASSWORD='${rotated}'\n`);

    // The audit log tells the agent's reads from the CLI's.
    const audit = JSON.parse(keybox(['audit', 'list', '--json'], { env: serverEnv(server) }).stdout) as {
      entries: { action: string; userAgent: string }[];
    };
    expect(audit.entries.filter((e) => e.action === 'secrets.read').map((e) => e.userAgent)).toContain(
      'keybox-agent/0.1.0',
    );
    // Names and counts only: no value in what the agent printed.
    for (const value of [password, rotated]) expect(agent.stdout() + agent.stderr()).not.toContain(value);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    // Without --remove-on-exit the files stay for the app.
    expect(readFileSync(join(dir, 'DB_PASSWORD'), 'utf8')).toBe(rotated);
  });

  it('runs --exec after the first render and after each change, with the changed names and without its token', async () => {
    const server = await serverWith({ A: 'a1', B: 'b1' });
    const dir = join(tempDir(), 'secrets');
    const log = join(tempDir(), 'hook.log');
    const hook = `printf '%s token=%s\\n' "$KEYBOX_AGENT_CHANGED" "\${KEYBOX_TOKEN:-none}" >> ${log}`;
    const agent = startAgent([...scopeArgs, '--dir', dir, '--exec', hook], serverEnv(server));
    await agent.waitFor((e) => e.event === 'hook');
    await setSecrets(server, scope, { B: 'b2' });
    await agent.waitFor((e) => e.event === 'hook', 2);
    // A write that changes nothing in the files runs no hook (nor a render that writes anything).
    await setSecrets(server, scope, { B: 'b2' });
    await setSecrets(server, scope, { A: 'a2' });
    const third = await agent.waitFor((e) => e.event === 'hook', 3);
    expect(third).toMatchObject({ status: 0, changed: ['A'] });
    expect(readFileSync(log, 'utf8')).toBe('A,B token=none\nB token=none\nA token=none\n');
  });

  it('reports a failing hook and goes on', async () => {
    const server = await serverWith({ A: 'a1' });
    const agent = startAgent([...scopeArgs, '--dir', join(tempDir(), 's'), '--exec', 'exit 7'], serverEnv(server));
    expect(await agent.waitFor((e) => e.event === 'hook')).toMatchObject({ status: 7 });
    // stderr is a pipe of its own: its line may land a moment after the event on stdout.
    await vi.waitFor(() => expect(agent.stderr()).toContain('the hook exited with status 7'));
    await setSecrets(server, scope, { A: 'a2' });
    await agent.waitFor((e) => e.event === 'render', 2);
    expect(agent.child.exitCode).toBeNull();
  });

  it('a value the format cannot carry fails the whole render, and the render is tried again until it works', async () => {
    const server = await serverWith({ A: 'a1', B: 'b1' });
    const dir = join(tempDir(), 'secrets');
    const envFile = join(tempDir(), 'app.env');
    const agent = startAgent([...scopeArgs, '--dir', dir, '--file', envFile], serverEnv(server));
    await agent.waitFor((e) => e.event === 'render');
    // dotenv has no way to write a value that ends with a backslash.
    await setSecrets(server, scope, { A: 'a2', B: 'ends with \\' });
    expect(await agent.waitFor((e) => e.event === 'error')).toMatchObject({ code: 'INVALID_INPUT' });
    expect(readFileSync(join(dir, 'A'), 'utf8')).toBe('a1');
    expect(readFileSync(envFile, 'utf8')).toBe(`A='a1'\nB='b1'\n`);
    await agent.waitFor((e) => e.event === 'error', 2);
    await setSecrets(server, scope, { B: 'b3' });
    expect(await agent.waitFor((e) => e.event === 'render', 2)).toMatchObject({ written: ['A', 'B'] });
    expect(readFileSync(envFile, 'utf8')).toBe(`A='a2'\nB='b3'\n`);
  });

  it('writes again a file deleted or replaced behind its back, at once on SIGHUP', async () => {
    const value = canary();
    const server = await serverWith({ A: value });
    const dir = join(tempDir(), 'secrets');
    const agent = startAgent([...scopeArgs, '--dir', dir], serverEnv(server));
    await agent.waitFor((e) => e.event === 'render');
    writeFileSync(join(dir, 'A'), 'forged');
    agent.child.kill('SIGHUP');
    expect(await agent.waitFor((e) => e.event === 'repaired')).toMatchObject({ names: ['A'] });
    expect(readFileSync(join(dir, 'A'), 'utf8')).toBe(value);
    expect(modeOf(join(dir, 'A'))).toBe(0o600);
  });

  it('--once renders and exits; --remove-on-exit takes the files away on SIGTERM', async () => {
    const server = await serverWith({ A: 'one' });
    const dir = join(tempDir(), 'secrets');
    const once = keybox(['agent', ...scopeArgs, '--dir', dir, '--once', '--mode', '0400'], { env: serverEnv(server) });
    expect(once.status).toBe(0);
    expect(once.stderr).toContain('rendered 1 secret(s) from the server');
    expect(readFileSync(join(dir, 'A'), 'utf8')).toBe('one');
    expect(modeOf(join(dir, 'A'))).toBe(0o400);

    const agent = startAgent([...scopeArgs, '--dir', dir, '--mode', '0400', '--remove-on-exit'], serverEnv(server));
    // The files of the --once run are kept as they are (same content, same mode): nothing is written.
    expect(await agent.waitFor((e) => e.event === 'render')).toMatchObject({ written: [], removed: [] });
    writeFileSync(join(dir, 'NOT_OURS'), 'kept');
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(readdirSync(dir)).toEqual(['NOT_OURS']);
  });

  it('renders the encrypted last-known-good copy while the server is down, and the new values once it is back', async () => {
    const value = canary();
    const dataDir = join(tempDir(), 'data');
    const port = await freePort();
    const server = await serverWith({ A: value }, { dataDir, extraArgs: ['--listen', `127.0.0.1:${port}`] });
    const dir = join(tempDir(), 'secrets');
    const env = serverEnv(server);
    expect(keybox(['agent', ...scopeArgs, '--dir', join(tempDir(), 'warm'), '--once'], { env }).status).toBe(0);
    await server.stop();
    servers.splice(0);

    const agent = startAgent([...scopeArgs, '--dir', dir, '--retry-for', '1s'], env);
    expect(await agent.waitFor((e) => e.event === 'render')).toMatchObject({ source: 'cache', written: ['A'] });
    expect(readFileSync(join(dir, 'A'), 'utf8')).toBe(value);
    await agent.waitFor((e) => e.event === 'error');

    const again = await startServer({ dataDir, extraArgs: ['--listen', `127.0.0.1:${port}`] });
    servers.push(again);
    const next = canary();
    await setSecrets({ url: again.url, token: server.token }, scope, { A: next });
    expect(await agent.waitFor((e) => e.event === 'render', 2)).toMatchObject({ source: 'server', written: ['A'] });
    expect(readFileSync(join(dir, 'A'), 'utf8')).toBe(next);
  });

  it('without a cached copy it waits for the server (nothing written meanwhile); --once gives up', async () => {
    const dataDir = join(tempDir(), 'data');
    const port = await freePort();
    const first = await serverWith({ A: 'late' }, { dataDir, extraArgs: ['--listen', `127.0.0.1:${port}`] });
    await first.stop();
    servers.splice(0);
    const env = { ...serverEnv(first), KEYBOX_ADDR: `http://127.0.0.1:${port}` };
    const dir = join(tempDir(), 'secrets');

    const once = keybox(['agent', ...scopeArgs, '--dir', dir, '--once', '--no-cache', '--retry-for', '1s'], { env });
    expect(once.status).toBe(1);
    expect(once.stderr).toMatch(/error: .*(unreachable|connect|ECONNREFUSED)/i);

    const agent = startAgent([...scopeArgs, '--dir', dir, '--no-cache', '--retry-for', '1s'], env);
    await agent.waitFor((e) => e.event === 'error');
    expect(readdirSync(dir)).toEqual([]);
    servers.push(await startServer({ dataDir, extraArgs: ['--listen', `127.0.0.1:${port}`] }));
    expect(await agent.waitFor((e) => e.event === 'render')).toMatchObject({ source: 'server', written: ['A'] });
    expect(readFileSync(join(dir, 'A'), 'utf8')).toBe('late');
  });

  it('a revoked token: the files keep their values, the cached copy is deleted, and the agent keeps trying', async () => {
    const server = await serverWith({ A: 'v1' });
    const created = (await api(server, 'POST', '/api/v1/tokens', {
      name: 'agent',
      policies: ['admin'],
    })) as { token: string; id: string };
    const dir = join(tempDir(), 'secrets');
    const cache = join(tempDir(), 'cache');
    const agent = startAgent([...scopeArgs, '--dir', dir], {
      KEYBOX_ADDR: server.url,
      KEYBOX_TOKEN: created.token,
      XDG_CACHE_HOME: cache,
    });
    await agent.waitFor((e) => e.event === 'render');
    expect(readdirSync(join(cache, 'keybox', 'bundles'))).toHaveLength(1);
    await api(server, 'DELETE', `/api/v1/tokens/${created.id}`);
    await setSecrets(server, scope, { A: 'v2' });
    const error = await agent.waitFor((e) => e.event === 'error');
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(String(error['message'])).toContain('the files keep their last values');
    expect(readFileSync(join(dir, 'A'), 'utf8')).toBe('v1');
    expect(readdirSync(join(cache, 'keybox', 'bundles'))).toHaveLength(0);
    expect(agent.child.exitCode).toBeNull();
    // A refusal at start is a configuration error: status 1 at once, no retrying, nothing written.
    const fresh = join(tempDir(), 'fresh');
    const refused = keybox(['agent', ...scopeArgs, '--dir', fresh], {
      env: { KEYBOX_ADDR: server.url, KEYBOX_TOKEN: created.token, XDG_CACHE_HOME: cache },
    });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('[UNAUTHENTICATED]');
    expect(readdirSync(fresh)).toEqual([]);
  });

  it('refuses unsafe or unclear options before contacting the server', () => {
    const env = { KEYBOX_ADDR: 'http://127.0.0.1:9', KEYBOX_TOKEN: 'kbx_x.y' };
    const world = keybox(['agent', ...scopeArgs, '--dir', join(tempDir(), 's'), '--mode', '0644'], { env });
    expect(world.status).toBe(2);
    expect(world.stderr).toContain('would let every user of the machine read the secrets');
    expect(keybox(['agent', ...scopeArgs], { env }).stderr).toContain('--dir DIR, --file FILE, or both');
    const unknown = keybox(['agent', ...scopeArgs, '--file', join(tempDir(), 'secrets.txt')], { env });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('cannot tell the format');
    const open = join(tempDir(), 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const shared = keybox(['agent', ...scopeArgs, '--dir', open], { env });
    expect(shared.status).toBe(1);
    expect(shared.stderr).toContain('writable by other users');
    expect(existsSync(join(open, '.keybox-agent.json'))).toBe(false);
  });

  it('has --help', () => {
    const help = keybox(['agent', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('keybox agent --dir DIR');
    expect(keybox(['--help']).stdout).toMatch(/agent\s+write secrets to files/);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}
