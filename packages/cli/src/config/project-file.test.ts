import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { findProjectFile, parseProjectFile, PROJECT_FILE } from './project-file.js';

let root: string;

beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'keybox-project-file-')));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function configError(run: () => unknown): CliError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).code).toBe('CONFIG_INVALID');
    return error as CliError;
  }
  return expect.unreachable('expected a CONFIG_INVALID error');
}

describe('findProjectFile', () => {
  it('finds .keybox.json in the directory itself', () => {
    writeFileSync(join(root, PROJECT_FILE), JSON.stringify({ project: 'shop', env: 'dev' }));
    expect(findProjectFile(root)).toEqual({ file: join(root, PROJECT_FILE), project: 'shop', env: 'dev' });
  });

  it('finds the nearest .keybox.json in a parent directory', () => {
    const deep = join(root, 'repo', 'services', 'api');
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(root, PROJECT_FILE), JSON.stringify({ project: 'outer', env: 'prod' }));
    writeFileSync(join(root, 'repo', PROJECT_FILE), JSON.stringify({ project: 'shop', env: 'dev', path: '/api' }));
    expect(findProjectFile(deep)).toEqual({
      file: join(root, 'repo', PROJECT_FILE),
      project: 'shop',
      env: 'dev',
      path: '/api',
    });
  });

  it('reports an unreadable .keybox.json instead of skipping it', () => {
    mkdirSync(join(root, PROJECT_FILE));
    configError(() => findProjectFile(root));
  });
});

describe('parseProjectFile', () => {
  it('keeps project, env, path and addr', () => {
    const text = JSON.stringify({ project: 'p', env: 'e', path: '/x', addr: 'http://127.0.0.1:8210', note: 'hi' });
    expect(parseProjectFile(text, 'f')).toEqual({
      file: 'f',
      project: 'p',
      env: 'e',
      path: '/x',
      addr: 'http://127.0.0.1:8210',
    });
  });

  it.each(['{"project":', '', 'project=shop'])('refuses invalid JSON %j, naming the file', (text) => {
    expect(configError(() => parseProjectFile(text, '/repo/.keybox.json')).message).toContain('/repo/.keybox.json');
  });

  it.each(['[]', '"shop"', 'null', '42'])('refuses JSON %s that is not an object', (text) => {
    configError(() => parseProjectFile(text, 'f'));
  });

  it('refuses a known key that is not a string', () => {
    expect(configError(() => parseProjectFile('{"project":7}', 'f')).message).toContain('project');
  });

  it.each(['token', 'KEYBOX_TOKEN', 'apiToken', 'secret', 'clientSecret', 'password', 'dbPassword'])(
    'refuses a key %s that looks like a credential, without echoing its value',
    (key) => {
      const error = configError(() => parseProjectFile(JSON.stringify({ project: 'p', [key]: 'kbx_canary42' }), 'f'));
      expect(error.message).toContain(key);
      expect(error.message).not.toContain('kbx_canary42');
    },
  );
});
