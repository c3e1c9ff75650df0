import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { canary, createProject, setSecrets } from './support/fixtures.js';
import { keybox, serverEnv, startServer, tempDir, type TestServer } from './support/keybox.js';

/* keybox manifest init drafts a manifest from a folder's names; keybox manifest validate checks one. */

let server: TestServer;
const values = [canary('SMTP'), canary('AIKEY'), canary('WORKER')];
const dirs: string[] = [];

beforeAll(async () => {
  server = await startServer();
  await createProject(server, 'shop');
  const scope = { project: 'shop', env: 'prod' };
  await setSecrets(server, { ...scope, path: '/app' }, { SMTP_PASSWORD: values[0]!, AI_API_KEY: values[1]! });
  await setSecrets(server, { ...scope, path: '/app/worker' }, { QUEUE_TOKEN: values[2]! });
});

afterAll(async () => {
  await server.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function workdir(): string {
  const dir = tempDir('keybox-manifest-');
  dirs.push(dir);
  return dir;
}

const scopeArgs = ['--project', 'shop', '--env', 'prod', '--path', '/app'];

function run(args: string[], cwd: string) {
  const result = keybox(['manifest', ...args], { env: serverEnv(server), cwd });
  for (const value of values) expect(`${result.stdout}${result.stderr}`).not.toContain(value);
  return result;
}

describe('keybox manifest init', () => {
  it("writes keybox.manifest.json with each of the folder's names as a required secret, never a value", () => {
    const dir = workdir();
    const result = run(['init', ...scopeArgs], dir);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain(`wrote 2 item(s) from shop/prod /app to ${join(dir, 'keybox.manifest.json')}`);
    const text = readFileSync(join(dir, 'keybox.manifest.json'), 'utf8');
    for (const value of values) expect(text).not.toContain(value);
    expect(JSON.parse(text)).toEqual({
      version: 1,
      items: {
        AI_API_KEY: { description: '', secret: true, required: true },
        SMTP_PASSWORD: { description: '', secret: true, required: true },
      },
    });
  });

  it('includes sub-folders with --recursive and prints to stdout with --output -', () => {
    const result = run(['init', ...scopeArgs, '--recursive', '--output', '-'], workdir());
    expect(result.status).toBe(0);
    expect(Object.keys((JSON.parse(result.stdout) as { items: object }).items)).toEqual([
      'AI_API_KEY',
      'QUEUE_TOKEN',
      'SMTP_PASSWORD',
    ]);
  });

  it('writes YAML when the output file ends in .yaml', () => {
    const dir = workdir();
    expect(run(['init', ...scopeArgs, '--output', 'keybox.manifest.yaml'], dir).status).toBe(0);
    const draft = parse(readFileSync(join(dir, 'keybox.manifest.yaml'), 'utf8')) as { items: object };
    expect(Object.keys(draft.items)).toEqual(['AI_API_KEY', 'SMTP_PASSWORD']);
  });

  it('refuses to overwrite an existing manifest without --force (exit 2)', () => {
    const dir = workdir();
    writeFileSync(join(dir, 'keybox.manifest.json'), '{"items":{"KEEP":{}}}');
    const refused = run(['init', ...scopeArgs], dir);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('already exists');
    expect(readFileSync(join(dir, 'keybox.manifest.json'), 'utf8')).toBe('{"items":{"KEEP":{}}}');
    expect(run(['init', ...scopeArgs, '--force'], dir).status).toBe(0);
  });

  it('drafts a manifest that validates and that keybox check can evaluate', () => {
    const dir = workdir();
    run(['init', ...scopeArgs], dir);
    const validated = run(['validate'], dir);
    expect(validated.status).toBe(0);
    expect(validated.stdout).toContain('valid, 2 item(s): 2 secret, 2 required');
    const checked = keybox(['check', '--offline'], { cwd: dir, env: { SMTP_PASSWORD: 'x', AI_API_KEY: 'y' } });
    expect(checked.status).toBe(0);
  });

  it('fails on a folder that does not exist', () => {
    const result = run(['init', '--project', 'shop', '--env', 'prod', '--path', '/nope'], workdir());
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('NOT_FOUND');
  });
});

describe('keybox manifest validate', () => {
  it('lists every issue of an invalid manifest and exits 1', () => {
    const dir = workdir();
    const file = join(dir, 'm.json');
    writeFileSync(file, JSON.stringify({ version: 2, items: { 'not-a-name': {}, A: { pattern: '[' } } }));
    const result = run(['validate', file], dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('version: must be 1');
    expect(result.stderr).toContain('items."not-a-name": is not a valid name');
    expect(result.stderr).toContain('items.A.pattern: is not a valid regular expression');
  });

  it('prints the manifest with its defaults filled in with --json', () => {
    const dir = workdir();
    writeFileSync(join(dir, 'keybox.manifest.json'), JSON.stringify({ items: { HOST: { secret: false } } }));
    const result = run(['validate', '--json'], dir);
    expect(JSON.parse(result.stdout)).toMatchObject({
      valid: true,
      items: [{ name: 'HOST', secret: false, required: true, envVars: ['HOST'], fileVars: ['HOST_FILE'] }],
    });
  });
});
