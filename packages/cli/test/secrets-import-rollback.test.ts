import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keybox, serverEnv, startServer, tempDir, type RunResult, type TestServer } from './support/keybox.js';

/* `keybox secrets import` (dotenv files, dry runs) and rollback of one secret or a whole folder. */

const CANARY = `canary-${randomUUID()}`;
const scope = ['--project', 'imp', '--env', 'dev'];
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
  expect(result.status, result.stderr).toBe(0);
  return result;
}

/** Every live secret of a folder, as the JSON export sees it. */
function folder(path: string): Record<string, string> {
  return JSON.parse(ok(['export', ...scope, '--path', path, '--format', 'json']).stdout) as Record<string, string>;
}

function revisionOf(path: string): number {
  const { folders } = JSON.parse(ok(['folders', 'list', ...scope, '--path', path, '--json']).stdout) as {
    folders: { path: string; revision: number }[];
  };
  return folders.find((f) => f.path === path)?.revision ?? -1;
}

function dotenvFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

beforeAll(async () => {
  server = await startServer();
  dir = tempDir('keybox-import-');
  ok(['projects', 'create', 'imp', '--envs', 'dev']);
  ok(['secrets', 'set', 'SAME=same', 'CHANGED=old', ...scope, '--path', '/app']);
});

afterAll(async () => {
  await server.stop();
  expect(server.stderr()).not.toContain(CANARY);
  rmSync(server.dataDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

describe('secrets import', () => {
  const text = () => `# exported from the old server\nSAME=same\nCHANGED="new"\nADDED='${CANARY}'\n`;

  it('reports with --dry-run what it would do and writes nothing', () => {
    const file = dotenvFile('dry.env', text());
    const before = revisionOf('/app');
    const result = ok(['secrets', 'import', file, ...scope, '--path', '/app', '--dry-run']);
    expect(result.stdout).toMatch(/^would keep +SAME$/m);
    expect(result.stdout).toMatch(/^would update +CHANGED$/m);
    expect(result.stdout).toMatch(/^would create +ADDED$/m);
    expect(result.stdout).not.toContain(CANARY);
    expect(revisionOf('/app')).toBe(before);
    expect(folder('/app')).toEqual({ SAME: 'same', CHANGED: 'old' });
  });

  it('reports a dry run into a folder that does not exist yet as all created', () => {
    const file = dotenvFile('fresh.env', 'A=1\nB=2\n');
    const dry = JSON.parse(ok(['secrets', 'import', file, ...scope, '--path', '/fresh', '--dry-run', '--json']).stdout);
    expect(dry).toMatchObject({ path: '/fresh', dryRun: true });
    expect((dry as { results: { outcome: string }[] }).results.map((r) => r.outcome)).toEqual(['created', 'created']);
    expect(kb(['export', ...scope, '--path', '/fresh', '--format', 'json']).status).toBe(1);
  });

  it('imports as one revision and reports created, updated and unchanged', () => {
    const file = dotenvFile('real.env', text());
    const before = revisionOf('/app');
    const result = ok(['secrets', 'import', file, ...scope, '--path', '/app']);
    expect(result.stdout).toMatch(/^unchanged SAME v1$/m);
    expect(result.stdout).toMatch(/^updated +CHANGED v2$/m);
    expect(result.stdout).toMatch(/^created +ADDED v1$/m);
    expect(result.stderr).toContain('1 created, 1 updated, 1 unchanged');
    expect(revisionOf('/app')).toBe(before + 1);
    expect(folder('/app')).toEqual({ SAME: 'same', CHANGED: 'new', ADDED: CANARY });
  });

  it('imports a dotenv file from stdin with -', () => {
    ok(['secrets', 'import', '-', ...scope, '--path', '/stdin'], `PIPED="line1\\nline2"\n`);
    expect(folder('/stdin')).toEqual({ PIPED: 'line1\nline2' });
  });

  it('refuses an import with a stale --if-revision and changes nothing', () => {
    const file = dotenvFile('stale.env', 'SAME=other\nNEW_ONE=1\n');
    const before = folder('/app');
    const result = kb(['secrets', 'import', file, ...scope, '--path', '/app', '--if-revision', '1']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('CONFLICT');
    expect(folder('/app')).toEqual(before);
  });

  it('refuses a file with invalid names, an empty file and a missing file with exit 1', () => {
    const bad = kb(['secrets', 'import', dotenvFile('bad.env', 'GOOD=1\nnot-valid=2\n'), ...scope]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('1 line(s) do not start with a valid secret name');
    expect(bad.stderr).not.toContain('not-valid');
    const empty = kb(['secrets', 'import', dotenvFile('empty.env', '# nothing\n'), ...scope]);
    expect(empty.status).toBe(1);
    expect(empty.stderr).toContain('holds no variables');
    const missing = kb(['secrets', 'import', join(dir, 'missing.env'), ...scope]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('ENOENT');
  });
});

describe('secrets rollback', () => {
  const at = ['--path', '/rb'];

  it('restores one secret to an older version as a new version', () => {
    ok(['secrets', 'set', 'ONE=v1', ...scope, ...at]);
    ok(['secrets', 'set', 'ONE=v2', ...scope, ...at]);
    const result = ok(['secrets', 'rollback', 'ONE', '--to-version', '1', ...scope, ...at]);
    expect(result.stdout).toMatch(/^updated +ONE v3$/m);
    expect(folder('/rb')).toEqual({ ONE: 'v1' });
    expect(ok(['secrets', 'history', 'ONE', ...scope, ...at]).stdout).toMatch(/^3 +rollback .*restored v1/m);
  });

  it('refuses a secret rollback with a stale --if-version', () => {
    const result = kb(['secrets', 'rollback', 'ONE', '--to-version', '2', '--if-version', '2', ...scope, ...at]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('CONFLICT');
    expect(folder('/rb')).toEqual({ ONE: 'v1' });
  });

  it('restores a whole folder to an earlier revision with --to-revision', () => {
    ok(['secrets', 'set', 'A=1', 'B=1', ...scope, '--path', '/fold']);
    const target = revisionOf('/fold');
    ok(['secrets', 'set', 'A=2', ...scope, '--path', '/fold']);
    ok(['secrets', 'set', 'C=-', ...scope, '--path', '/fold'], CANARY);
    ok(['secrets', 'delete', 'B', ...scope, '--path', '/fold']);
    expect(folder('/fold')).toEqual({ A: '2', C: CANARY });

    const result = ok(['secrets', 'rollback', '--to-revision', String(target), ...scope, '--path', '/fold']);
    expect(result.stderr).toContain(`restored /fold to its state at revision ${target}`);
    expect(folder('/fold')).toEqual({ A: '1', B: '1' });
    expect(revisionOf('/fold')).toBe(target + 4);
  });

  it('refuses a folder rollback with a stale --if-revision and changes nothing', () => {
    const before = folder('/fold');
    const result = kb(['secrets', 'rollback', '--to-revision', '2', '--if-revision', '1', ...scope, '--path', '/fold']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('CONFLICT');
    expect(folder('/fold')).toEqual(before);
  });

  it('needs exactly one of a secret with --to-version, --to-revision or --to-time', () => {
    expect(kb(['secrets', 'rollback', ...scope, '--path', '/fold']).status).toBe(2);
    expect(kb(['secrets', 'rollback', '--to-revision', '1', '--to-time', 'x', ...scope]).status).toBe(2);
    expect(kb(['secrets', 'rollback', 'A', ...scope, '--path', '/fold']).status).toBe(2);
  });
});
