import { describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import type { ProjectFile } from './project-file.js';
import { normalisePath, resolveScope } from './scope.js';

const file: ProjectFile = { file: '/repo/.keybox.json', project: 'from-file', env: 'file-env', path: '/file' };
const env = { KEYBOX_PROJECT: 'from-env', KEYBOX_ENV: 'env-env', KEYBOX_PATH: '/env' };

function usageFailure(run: () => unknown): CliError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    return error as CliError;
  }
  return expect.unreachable('expected a usage error');
}

describe('resolveScope precedence', () => {
  it('takes flags over KEYBOX_* variables over .keybox.json', () => {
    expect(resolveScope({ project: 'flag', env: 'flag-env', paths: ['/flag'] }, env, file)).toEqual({
      project: 'flag',
      env: 'flag-env',
      paths: ['/flag'],
    });
  });

  it('takes KEYBOX_PROJECT, KEYBOX_ENV and KEYBOX_PATH over .keybox.json when no flag is given', () => {
    expect(resolveScope({}, env, file)).toEqual({ project: 'from-env', env: 'env-env', paths: ['/env'] });
  });

  it('falls back to .keybox.json, field by field', () => {
    expect(resolveScope({}, {}, file)).toEqual({ project: 'from-file', env: 'file-env', paths: ['/file'] });
    expect(resolveScope({ env: 'flag-env' }, { KEYBOX_PATH: '/env' }, file)).toEqual({
      project: 'from-file',
      env: 'flag-env',
      paths: ['/env'],
    });
  });

  it('treats empty flags and empty variables as not given', () => {
    expect(resolveScope({ project: '', env: '', paths: [''] }, { KEYBOX_PROJECT: '', KEYBOX_ENV: '' }, file)).toEqual({
      project: 'from-file',
      env: 'file-env',
      paths: ['/file'],
    });
  });

  it('uses the root folder when nobody names a path', () => {
    expect(resolveScope({ project: 'p', env: 'e' }, {}, undefined).paths).toEqual(['/']);
  });

  it('keeps several --path flags in order and normalises them', () => {
    expect(resolveScope({ project: 'p', env: 'e', paths: ['/a/', '/', '/b//'] }, env, file).paths).toEqual([
      '/a',
      '/',
      '/b',
    ]);
  });
});

describe('resolveScope errors', () => {
  it('is a usage error with a hint when no project is named anywhere', () => {
    const error = usageFailure(() => resolveScope({ env: 'dev' }, {}, undefined));
    expect(error.message).toContain('no project');
    expect(error.hint).toContain('--project');
    expect(error.hint).toContain('KEYBOX_PROJECT');
  });

  it('is a usage error with a hint when no environment is named anywhere', () => {
    const error = usageFailure(() => resolveScope({ project: 'shop' }, {}, { file: '/x/.keybox.json' }));
    expect(error.message).toContain('no environment');
    expect(error.hint).toContain('--env');
    expect(error.hint).toContain('KEYBOX_ENV');
  });

  it('refuses slugs that are not slugs, wherever they come from', () => {
    usageFailure(() => resolveScope({ project: 'Shop', env: 'dev' }, {}, undefined));
    usageFailure(() => resolveScope({}, { KEYBOX_PROJECT: 'shop', KEYBOX_ENV: 'dev env' }, undefined));
    usageFailure(() => resolveScope({}, {}, { file: '/x', project: 'shop', env: '../prod' }));
  });

  it('refuses folder paths with . or .. segments', () => {
    usageFailure(() => resolveScope({ project: 'p', env: 'e', paths: ['/a/../b'] }, {}, undefined));
    usageFailure(() => resolveScope({ project: 'p', env: 'e' }, { KEYBOX_PATH: '/./x' }, undefined));
    usageFailure(() => resolveScope({ project: 'p', env: 'e' }, {}, { file: '/x', path: 'relative' }));
  });
});

describe('normalisePath', () => {
  it('drops a trailing slash and maps the empty path to the root', () => {
    expect(normalisePath('/backend/')).toBe('/backend');
    expect(normalisePath('')).toBe('/');
  });
});
