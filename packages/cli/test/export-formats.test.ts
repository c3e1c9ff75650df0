import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { keybox, serverEnv, startServer, tempDir, type RunResult, type TestServer } from './support/keybox.js';

/* `keybox export` in every format: tricky values must come back exactly through each format's own reader. */

const CANARY = `canary-${randomUUID()}`;
const scope = ['--project', 'exp', '--env', 'dev'];
let server: TestServer;
let dir: string;
let marker: string;
let values: Record<string, string>;

function kb(args: string[]): RunResult {
  expect(args.join(' ')).not.toContain(CANARY);
  const result = keybox(args, { env: serverEnv(server) });
  expect(result.stderr).not.toContain(CANARY);
  return result;
}

function ok(args: string[]): RunResult {
  const result = kb(args);
  expect(result.status, result.stderr).toBe(0);
  return result;
}

/** Sets secrets through KEY=@file, so no value reaches argv; the file's extra newline is dropped by the CLI. */
function setFromFiles(path: string, secrets: Record<string, string>) {
  const args = Object.entries(secrets).map(([name, value]) => {
    const file = join(dir, `${name}-${randomUUID()}`);
    writeFileSync(file, `${value}\n`, { mode: 0o600 });
    return `${name}=@${file}`;
  });
  ok(['secrets', 'set', ...args, ...scope, '--path', path]);
}

beforeAll(async () => {
  server = await startServer();
  dir = tempDir('keybox-export-');
  marker = join(dir, `pwned-${randomUUID()}`);
  values = {
    CANARY_VALUE: CANARY,
    SINGLE: "it's",
    DOUBLE: 'say "hi"',
    BACKTICK: 'back`tick',
    HASH: 'a #not-a-comment',
    EQUALS: 'a=b==',
    DOLLAR: '$HOME ${X} $1',
    BACKSLASH: 'C:\\dir\\new \\n',
    PADDED: '  padded  ',
    NEWLINES: 'l1\nl2\n',
    CRLF: 'l1\r\nl2',
    UNICODE: 'héllo 中文 🔑',
    EMPTY: '',
    YAML_BOOL: 'no',
    YAML_OCTAL: '0777',
    YAML_LIST: '- item',
    YAML_MAP: 'key: value',
    JSON_LIKE: '{"a":[1]}',
    ATTACK_SUBST: `$(touch ${marker})`,
    ATTACK_TICKS: `\`touch ${marker}\``,
    ATTACK_QUOTE: `'; touch ${marker}; '`,
  };
  ok(['projects', 'create', 'exp', '--envs', 'dev']);
  setFromFiles('/tricky', values);
});

afterAll(async () => {
  await server.stop();
  expect(server.stderr()).not.toContain(CANARY);
  rmSync(server.dataDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

function exported(format: string, extra: string[] = []): string {
  // --no-expand: the corpus holds literal ${X} text, which is about format fidelity, not references.
  return ok(['export', ...scope, '--path', '/tricky', '--no-expand', '--format', format, ...extra]).stdout;
}

describe('keybox export formats', () => {
  it('writes dotenv that the dotenv parser reads back exactly', () => {
    expect(parseDotenv(exported('dotenv'))).toEqual(values);
  });

  it('uses dotenv when no format is given', () => {
    expect(ok(['export', ...scope, '--path', '/tricky', '--no-expand']).stdout).toBe(exported('dotenv'));
  });

  it('writes JSON that reads back exactly', () => {
    expect(JSON.parse(exported('json'))).toEqual(values);
  });

  it('writes YAML that the yaml package reads back exactly', () => {
    expect(parseYaml(exported('yaml'))).toEqual(values);
  });

  it('writes shell that sh eval reads back exactly, without running anything inside a value', () => {
    const file = join(dir, 'exported.sh');
    writeFileSync(file, exported('shell'), { mode: 0o600 });
    const names = Object.keys(values);
    const printer = `printf '%s\\0' ${names.map((n) => `"$${n}"`).join(' ')}`;
    const result = spawnSync('sh', ['-c', `eval "$(cat "$1")"; ${printer}`, 'sh', file], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout.split('\0').slice(0, names.length)).toEqual(Object.values(values));
    expect(existsSync(marker)).toBe(false);
  });

  it('prints {} as YAML and nothing as dotenv for an empty scope', () => {
    ok(['projects', 'create', 'empty', '--envs', 'dev']);
    expect(ok(['export', '--project', 'empty', '--env', 'dev', '--format', 'yaml']).stdout).toBe('{}\n');
    expect(ok(['export', '--project', 'empty', '--env', 'dev']).stdout).toBe('');
  });

  it('refuses a value dotenv cannot carry, naming the secret, printing nothing on stdout', () => {
    setFromFiles('/mixed', { MIXED: `'"\` ${CANARY}`, PLAIN: 'plain' });
    const result = kb(['export', ...scope, '--path', '/mixed', '--format', 'dotenv']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('MIXED');
    expect(result.stdout).toBe('');
    expect(JSON.parse(ok(['export', ...scope, '--path', '/mixed', '--format', 'json']).stdout)).toMatchObject({
      PLAIN: 'plain',
    });
  });

  it('refuses an unknown format as a usage error', () => {
    const result = kb(['export', ...scope, '--format', 'toml']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--format');
  });
});

describe('keybox export scope', () => {
  beforeAll(() => {
    setFromFiles('/base', { SHARED: 'base', ONLY_BASE: 'b' });
    setFromFiles('/base/deeper', { SHARED: 'deeper', ONLY_DEEP: 'd' });
    setFromFiles('/over', { SHARED: CANARY });
  });

  it('lets a later --path win and warns on stderr, naming folders and never values', () => {
    const result = ok(['export', ...scope, '--path', '/over', '--path', '/base', '--format', 'json']);
    expect(JSON.parse(result.stdout)).toEqual({ SHARED: 'base', ONLY_BASE: 'b' });
    expect(result.stderr).toContain('warning: SHARED is set in /over and /base; using /base');
  });

  it('includes sub-folders with --recursive, the deeper folder winning', () => {
    const result = ok(['export', ...scope, '--path', '/base', '--recursive', '--format', 'json']);
    expect(JSON.parse(result.stdout)).toEqual({ SHARED: 'deeper', ONLY_BASE: 'b', ONLY_DEEP: 'd' });
  });
});

describe('keybox export --output', () => {
  it('writes a new file with mode 0600 and nothing on stdout', () => {
    const file = join(dir, 'new.env');
    const result = ok(['export', ...scope, '--path', '/tricky', '--no-expand', '--output', file]);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`to ${file} (0600)`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(parseDotenv(readFileSync(file, 'utf8'))).toEqual(values);
  });

  it('leaves an existing output file at mode 0600, not the mode it had before', () => {
    const file = join(dir, 'existing.env');
    writeFileSync(file, 'OLD=1\n');
    chmodSync(file, 0o644);
    const result = ok(['export', ...scope, '--path', '/tricky', '--no-expand', '--format', 'json', '-o', file]);
    expect(result.stderr).toContain('(0600)');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(values);
    expect((statSync(file).mode & 0o777).toString(8)).toBe('600');
  });
});
