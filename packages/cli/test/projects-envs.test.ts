import { rmSync } from 'node:fs';
import type { EnvironmentInfo, ProjectInfo } from '@keybox/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keybox, serverEnv, startServer, tempDir, type RunResult, type TestServer } from './support/keybox.js';

/* `keybox projects create|list|get|rename|delete` and `keybox envs list|create|delete` against a real server. */

let server: TestServer;
/** An empty working directory, so no .keybox.json above the repository can name a project. */
let cwd: string;

function kb(args: string[], env: NodeJS.ProcessEnv = {}): RunResult {
  return keybox(args, { env: serverEnv(server, env), cwd });
}

function ok(args: string[], env: NodeJS.ProcessEnv = {}): RunResult {
  const result = kb(args, env);
  expect(result.status, result.stderr).toBe(0);
  return result;
}

function project(slug: string): ProjectInfo {
  return (JSON.parse(ok(['projects', 'get', slug, '--json']).stdout) as { project: ProjectInfo }).project;
}

beforeAll(async () => {
  server = await startServer();
  cwd = tempDir('keybox-projects-');
});

afterAll(async () => {
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
  rmSync(cwd, { recursive: true, force: true });
});

describe('keybox projects', () => {
  it('creates a project with dev, staging and prod by default', () => {
    const result = ok(['projects', 'create', 'shop']);
    expect(result.stderr).toContain('created project shop');
    expect(result.stdout).toMatch(/^PROJECT +NAME +ENVIRONMENTS +CREATED$/m);
    expect(result.stdout).toMatch(/^shop +shop +dev,staging,prod /m);
  });

  it('creates a project with a display name and chosen environments, as JSON', () => {
    const result = ok(['projects', 'create', 'api', '--name', 'Public API', '--envs', 'dev, prod', '--json']);
    expect(result.stderr).toBe('');
    const created = (JSON.parse(result.stdout) as { project: ProjectInfo }).project;
    expect(created).toMatchObject({ slug: 'api', name: 'Public API' });
    expect(created.environments.map((e) => e.slug)).toEqual(['dev', 'prod']);
  });

  it('refuses a duplicate slug with CONFLICT and an invalid slug, both exit 1', () => {
    const duplicate = kb(['projects', 'create', 'shop']);
    expect(duplicate.status).toBe(1);
    expect(duplicate.stderr).toContain('[CONFLICT]');
    const invalid = kb(['projects', 'create', 'Not_A_Slug']);
    expect(invalid.status).toBe(1);
    expect(invalid.stderr).toContain('[INVALID_INPUT]');
  });

  it('lists every project, as a table and as JSON', () => {
    expect(ok(['projects', 'list']).stdout).toMatch(/^api +Public API +dev,prod /m);
    const { projects } = JSON.parse(ok(['projects', 'list', '--json']).stdout) as { projects: ProjectInfo[] };
    expect(projects.map((p) => p.slug).sort()).toEqual(['api', 'shop']);
  });

  it('gets one project, and NOT_FOUND with exit 1 for an unknown one', () => {
    expect(project('shop')).toMatchObject({ slug: 'shop', name: 'shop' });
    const missing = kb(['projects', 'get', 'nope']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('[NOT_FOUND]');
  });

  it('renames the display name and keeps the slug', () => {
    expect(ok(['projects', 'rename', 'shop', 'The Shop']).stdout).toMatch(/^shop +The Shop /m);
    expect(project('shop')).toMatchObject({ slug: 'shop', name: 'The Shop' });
  });

  it('refuses a project that still holds secrets unless --force', () => {
    ok(['secrets', 'set', 'KEY=value', '--project', 'api', '--env', 'dev']);
    const refused = kb(['projects', 'delete', 'api']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('[CONFLICT]');
    expect(project('api').slug).toBe('api');
    expect(ok(['projects', 'delete', 'api', '--force']).stderr).toContain('deleted project api');
    expect(kb(['projects', 'get', 'api']).status).toBe(1);
  });

  it('deletes an empty project without --force', () => {
    ok(['projects', 'create', 'tmp']);
    ok(['projects', 'delete', 'tmp']);
    expect(kb(['projects', 'get', 'tmp']).status).toBe(1);
  });

  it('treats missing or extra arguments as usage errors (exit 2)', () => {
    expect(kb(['projects', 'create']).status).toBe(2);
    expect(kb(['projects', 'create', 'a', 'b']).status).toBe(2);
    expect(kb(['projects', 'get']).status).toBe(2);
    expect(kb(['projects', 'rename', 'shop']).status).toBe(2);
    expect(kb(['projects', 'delete']).status).toBe(2);
    expect(kb(['projects', 'frobnicate']).status).toBe(2);
  });
});

describe('keybox envs', () => {
  function slugs(env: NodeJS.ProcessEnv = {}, args: string[] = []): string[] {
    const result = ok(['envs', 'list', '--json', ...args], env);
    return (JSON.parse(result.stdout) as { environments: EnvironmentInfo[] }).environments.map((e) => e.slug);
  }

  it("lists a project's environments as a table and as JSON", () => {
    expect(ok(['envs', 'list', '--project', 'shop']).stdout).toMatch(/^ENV +NAME +CREATED\ndev +dev /m);
    expect(slugs({}, ['--project', 'shop'])).toEqual(['dev', 'staging', 'prod']);
  });

  it('creates an environment, with KEYBOX_PROJECT naming the project', () => {
    const result = ok(['envs', 'create', 'qa', '--name', 'Quality'], { KEYBOX_PROJECT: 'shop' });
    expect(result.stderr).toContain('created environment qa in shop');
    expect(slugs({ KEYBOX_PROJECT: 'shop' })).toContain('qa');
    const json = JSON.parse(ok(['envs', 'create', 'perf', '-p', 'shop', '--json']).stdout) as {
      environment: EnvironmentInfo;
    };
    expect(json.environment.slug).toBe('perf');
  });

  it('prefers --project over KEYBOX_PROJECT', () => {
    ok(['projects', 'create', 'other', '--envs', 'only']);
    expect(slugs({ KEYBOX_PROJECT: 'shop' }, ['--project', 'other'])).toEqual(['only']);
  });

  it('deletes an empty environment, and one holding secrets only with --force', () => {
    ok(['envs', 'delete', 'perf', '-p', 'shop']);
    ok(['secrets', 'set', 'Q=1', '--project', 'shop', '--env', 'qa']);
    const refused = kb(['envs', 'delete', 'qa', '-p', 'shop']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('[CONFLICT]');
    expect(slugs({}, ['-p', 'shop'])).toContain('qa');
    ok(['envs', 'delete', 'qa', '-p', 'shop', '--force']);
    expect(slugs({}, ['-p', 'shop'])).toEqual(['dev', 'staging', 'prod']);
  });

  it('is a usage error with a hint when no project is named', () => {
    const result = kb(['envs', 'list']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('no project given');
    expect(result.stderr).toContain('hint:');
  });

  it('fails with exit 1 for an unknown project', () => {
    const result = kb(['envs', 'list', '--project', 'ghost']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[NOT_FOUND]');
  });
});
