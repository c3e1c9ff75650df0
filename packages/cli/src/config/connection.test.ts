import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { connect, resolveConnection } from './connection.js';

const dir = mkdtempSync(join(tmpdir(), 'keybox-connection-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const A = 'http://keybox-a:8210';
const B = 'http://keybox-b:8210';
const F = 'http://keybox-file:8210';
const file = { file: '/repo/.keybox.json', addr: F };

function tokenFile(content: string): string {
  const path = join(dir, `token-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

function cliError(run: () => unknown): CliError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    return error as CliError;
  }
  return expect.unreachable('expected a CliError');
}

describe('resolveConnection address', () => {
  it('takes --addr over KEYBOX_ADDR over SECRETS_API_URL over .keybox.json', () => {
    const env = { KEYBOX_ADDR: A, SECRETS_API_URL: B, KEYBOX_TOKEN: 't' };
    expect(resolveConnection({ addr: 'http://flag:1' }, env, file).addr).toBe('http://flag:1');
    expect(resolveConnection({}, env, file).addr).toBe(A);
    expect(resolveConnection({}, { SECRETS_API_URL: B, KEYBOX_TOKEN: 't' }, file).addr).toBe(B);
    expect(resolveConnection({}, { KEYBOX_TOKEN: 't' }, file).addr).toBe(F);
  });

  it('treats an empty KEYBOX_ADDR as unset', () => {
    expect(resolveConnection({}, { KEYBOX_ADDR: '', SECRETS_API_URL: B, KEYBOX_TOKEN: 't' }, undefined).addr).toBe(B);
  });

  it('reports a missing address as CREDENTIALS_MISSING with a hint', () => {
    const error = cliError(() => resolveConnection({}, { KEYBOX_TOKEN: 't' }, undefined));
    expect(error.code).toBe('CREDENTIALS_MISSING');
    expect(error.exitCode).toBe(1);
    expect(error.hint).toContain('KEYBOX_ADDR');
  });
});

describe('resolveConnection token', () => {
  it('takes KEYBOX_TOKEN over SECRETS_API_TOKEN over KEYBOX_TOKEN_FILE', () => {
    const path = tokenFile('from-file\n');
    const env = { KEYBOX_ADDR: A, KEYBOX_TOKEN: 'kb', SECRETS_API_TOKEN: 'sa', KEYBOX_TOKEN_FILE: path };
    expect(resolveConnection({}, env, undefined).token).toBe('kb');
    expect(resolveConnection({}, { ...env, KEYBOX_TOKEN: '' }, undefined).token).toBe('sa');
    expect(resolveConnection({}, { KEYBOX_ADDR: A, KEYBOX_TOKEN_FILE: path }, undefined).token).toBe('from-file');
  });

  it('accepts SECRETS_API_URL and SECRETS_API_TOKEN alone, as the same thing', () => {
    expect(resolveConnection({}, { SECRETS_API_URL: B, SECRETS_API_TOKEN: 'sa' }, undefined)).toMatchObject({
      addr: B,
      token: 'sa',
    });
  });

  it('trims the whitespace around a token read from a file', () => {
    const path = tokenFile('  kbx_abc.def \r\n');
    expect(resolveConnection({}, { KEYBOX_ADDR: A, KEYBOX_TOKEN_FILE: path }, undefined).token).toBe('kbx_abc.def');
  });

  it('reports an unreadable token file as CONFIG_INVALID', () => {
    const error = cliError(() =>
      resolveConnection({}, { KEYBOX_ADDR: A, KEYBOX_TOKEN_FILE: join(dir, 'missing') }, undefined),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('KEYBOX_TOKEN_FILE');
    expect(error.message).toContain('ENOENT');
  });

  it('reports no token, or an empty token file, as CREDENTIALS_MISSING with a hint', () => {
    for (const env of [{ KEYBOX_ADDR: A }, { KEYBOX_ADDR: A, KEYBOX_TOKEN_FILE: tokenFile('\n') }]) {
      const error = cliError(() => resolveConnection({}, env, undefined));
      expect(error.code).toBe('CREDENTIALS_MISSING');
      expect(error.hint).toContain('KEYBOX_TOKEN');
    }
  });

  it('never takes a token from .keybox.json', () => {
    const withToken = { ...file, token: 'from-project-file' } as typeof file;
    expect(cliError(() => resolveConnection({}, { KEYBOX_ADDR: A }, withToken)).code).toBe('CREDENTIALS_MISSING');
  });
});

describe('connect', () => {
  it('builds a client for the resolved address', () => {
    const client = connect({ addr: `${A}/prefix`, token: 't', caCert: undefined });
    expect(client.addr).toBe(A);
  });

  it('refuses an address carrying credentials', () => {
    expect(() => connect({ addr: 'http://u:p@keybox:1', token: 't', caCert: undefined })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});
