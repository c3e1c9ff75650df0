import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keybox, serverEnv, startServer, tempDir, type RunResult, type TestServer } from './support/keybox.js';

/*
 * `keybox secrets set|get|list|delete|history|destroy` and check-and-set against a real server. A canary value is
 * set only through stdin and files; no command may ever print it on stderr, and argv never carries it.
 */

const CANARY = `canary-${randomUUID()}`;
const scope = ['--project', 'crud', '--env', 'dev'];
let server: TestServer;
let dir: string;

function kb(args: string[], input?: string): RunResult {
  expect(args.join(' ')).not.toContain(CANARY);
  const result = keybox(args, { env: serverEnv(server), input });
  expect(result.stderr).not.toContain(CANARY);
  return result;
}

function ok(args: string[], input?: string): RunResult {
  const result = kb(args, input);
  expect(result.stderr, result.stderr).not.toContain('error');
  expect(result.status).toBe(0);
  return result;
}

function get(name: string, extra: string[] = []): RunResult {
  return kb(['secrets', 'get', name, ...scope, ...extra]);
}

function json<T>(result: RunResult): T {
  return JSON.parse(result.stdout) as T;
}

beforeAll(async () => {
  server = await startServer();
  dir = tempDir('keybox-crud-');
  ok(['projects', 'create', 'crud', '--envs', 'dev,prod']);
});

afterAll(async () => {
  await server.stop();
  // The store is encrypted at rest: no file of the data dir may hold the canary in plain text.
  for (const name of readdirSync(server.dataDir)) {
    const path = join(server.dataDir, name);
    if (statSync(path).isFile()) expect(readFileSync(path).includes(CANARY), name).toBe(false);
  }
  expect(server.stderr()).not.toContain(CANARY);
  rmSync(server.dataDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

describe('set and get', () => {
  it('sets a value from stdin and prints it bare, without a newline, when stdout is not a terminal', () => {
    const set = ok(['secrets', 'set', 'API_KEY=-', ...scope], `${CANARY}\n`);
    expect(set.stdout).toContain('created   API_KEY v1');
    expect(set.stdout).not.toContain(CANARY);
    expect(get('API_KEY')).toMatchObject({ status: 0, stdout: CANARY });
  });

  it('sets a value from a file, dropping one trailing newline only', () => {
    const file = join(dir, 'value.txt');
    writeFileSync(file, `${CANARY}-file\n\n`, { mode: 0o600 });
    ok(['secrets', 'set', `FROM_FILE=@${file}`, ...scope]);
    expect(get('FROM_FILE').stdout).toBe(`${CANARY}-file\n`);
  });

  it('sets several secrets as one folder revision and reports versions with --json', () => {
    const before = json<{ revision: number }>(ok(['secrets', 'set', 'ONE=1', ...scope, '--json']));
    const after = json<{ revision: number; results: { name: string; outcome: string; version: number }[] }>(
      ok(['secrets', 'set', 'ONE=2', 'TWO=2', 'THREE=3', ...scope, '--json']),
    );
    expect(after.revision).toBe(before.revision + 1);
    expect(after.results).toEqual([
      { name: 'ONE', outcome: 'updated', version: 2 },
      { name: 'TWO', outcome: 'created', version: 1 },
      { name: 'THREE', outcome: 'created', version: 1 },
    ]);
  });

  it('reads an older version with --version and the full record with --json', () => {
    expect(get('ONE', ['--version', '1']).stdout).toBe('1');
    const record = json<{ secret: { name: string; value: string; version: number; path: string } }>(
      get('ONE', ['--json']),
    );
    expect(record.secret).toMatchObject({ name: 'ONE', value: '2', version: 2, path: '/' });
  });

  it('keeps environments apart', () => {
    expect(kb(['secrets', 'get', 'ONE', '--project', 'crud', '--env', 'prod']).status).toBe(1);
  });

  it('fails with NOT_FOUND and exit 1 for a secret that does not exist', () => {
    const result = get('MISSING');
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('[NOT_FOUND]');
  });

  it('refuses a second KEY=- and an argument without = as usage errors, setting nothing', () => {
    const twice = kb(['secrets', 'set', 'X1=-', 'X2=-', ...scope], 'v');
    expect(twice.status).toBe(2);
    const bare = kb(['secrets', 'set', 'X3=ok', 'no-equals-sign-value', ...scope]);
    expect(bare.status).toBe(2);
    expect(bare.stderr).not.toContain('no-equals-sign-value');
    expect(get('X3').status).toBe(1);
  });
});

describe('list', () => {
  it('never shows values without --reveal, in the table or in JSON', () => {
    const table = ok(['secrets', 'list', ...scope]);
    expect(table.stdout).toMatch(/^NAME +VERSION +UPDATED +BY$/m);
    expect(table.stdout).toMatch(/^API_KEY +1 /m);
    expect(table.stdout).not.toContain(CANARY);
    const listed = json<{ secrets: Record<string, unknown>[] }>(ok(['secrets', 'list', ...scope, '--json']));
    expect(listed.secrets.map((s) => s['name'])).toContain('API_KEY');
    expect(listed.secrets.every((s) => !('value' in s))).toBe(true);
    expect(JSON.stringify(listed)).not.toContain(CANARY);
  });

  it('shows values with --reveal', () => {
    expect(ok(['secrets', 'list', ...scope, '--reveal']).stdout).toContain(CANARY);
    const listed = json<{ secrets: { name: string; value: string }[] }>(
      ok(['secrets', 'list', ...scope, '--reveal', '--json']),
    );
    expect(listed.secrets.find((s) => s.name === 'API_KEY')?.value).toBe(CANARY);
  });
});

describe('check-and-set', () => {
  it('refuses a set with a stale --if-version: exit 1, CONFLICT, value unchanged', () => {
    ok(['secrets', 'set', 'CAS=a', ...scope]);
    ok(['secrets', 'set', 'CAS=b', ...scope, '--if-version', '1']);
    const stale = kb(['secrets', 'set', 'CAS=-', ...scope, '--if-version', '1'], CANARY);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('CONFLICT');
    expect(get('CAS').stdout).toBe('b');
  });

  it('refuses --if-version 0 for a secret that already exists', () => {
    expect(kb(['secrets', 'set', 'CAS=c', ...scope, '--if-version', '0']).stderr).toContain('CONFLICT');
    expect(get('CAS').stdout).toBe('b');
  });

  it('refuses a set with a stale --if-revision and writes none of its secrets', () => {
    const { revision } = json<{ revision: number }>(ok(['secrets', 'set', 'REV=1', ...scope, '--json']));
    ok(['secrets', 'set', 'REV=2', ...scope]);
    const stale = kb(['secrets', 'set', 'REV=3', 'NEW_IN_STALE=x', ...scope, '--if-revision', String(revision)]);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('CONFLICT');
    expect(get('REV').stdout).toBe('2');
    expect(get('NEW_IN_STALE').status).toBe(1);
  });

  it('refuses a delete with a stale --if-version and keeps the secret', () => {
    const stale = kb(['secrets', 'delete', 'CAS', ...scope, '--if-version', '1']);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('CONFLICT');
    expect(get('CAS').stdout).toBe('b');
  });

  it('refuses --if-version with several secrets as a usage error', () => {
    expect(kb(['secrets', 'set', 'A1=1', 'A2=2', ...scope, '--if-version', '0']).status).toBe(2);
    expect(kb(['secrets', 'set', 'A1=1', ...scope, '--if-version', 'one']).status).toBe(2);
  });
});

describe('delete, history and destroy', () => {
  it('soft-deletes: get fails, list --deleted still shows the name', () => {
    ok(['secrets', 'set', 'GONE=-', ...scope], CANARY);
    expect(ok(['secrets', 'delete', 'GONE', ...scope]).stdout).toContain('deleted   GONE v2');
    expect(get('GONE').status).toBe(1);
    expect(ok(['secrets', 'list', ...scope]).stdout).not.toContain('GONE');
    expect(ok(['secrets', 'list', ...scope, '--deleted']).stdout).toContain('GONE (deleted)');
  });

  it('shows every version with its kind of change, and never a value', () => {
    const table = ok(['secrets', 'history', 'GONE', ...scope]);
    expect(table.stdout).toMatch(/^2 +delete /m);
    expect(table.stdout).toMatch(/^1 +set /m);
    expect(table.stdout).not.toContain(CANARY);
    const history = json<{ versions: { version: number; op: string }[] }>(
      ok(['secrets', 'history', 'GONE', ...scope, '--json']),
    );
    expect(history.versions.map((v) => [v.version, v.op])).toEqual([
      [2, 'delete'],
      [1, 'set'],
    ]);
    expect(JSON.stringify(history)).not.toContain(CANARY);
  });

  it("destroys one version's value for good while the current version stays readable", () => {
    ok(['secrets', 'set', 'ROTATED=-', ...scope], CANARY);
    ok(['secrets', 'set', 'ROTATED=new', ...scope]);
    ok(['secrets', 'destroy', 'ROTATED', '--version', '1', ...scope]);
    const old = get('ROTATED', ['--version', '1']);
    expect(old.status).toBe(1);
    expect(old.stderr).toContain('VALUE_DESTROYED');
    expect(get('ROTATED').stdout).toBe('new');
    expect(ok(['secrets', 'history', 'ROTATED', ...scope]).stdout).toMatch(/^1 +set .*value destroyed/m);
  });

  it('needs --version to destroy', () => {
    expect(kb(['secrets', 'destroy', 'ROTATED', ...scope]).status).toBe(2);
  });
});
