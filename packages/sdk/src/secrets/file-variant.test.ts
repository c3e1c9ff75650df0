import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSecrets } from './create-secrets.js';
import { fakeFetcher, fakeKeybox } from './test-support/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'keybox-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const manifest = { items: { DB_URL: {} } };

function withFile(content: string) {
  const path = join(dir, `db-url-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, content);
  return createSecrets(manifest, { env: { DB_URL_FILE: path }, keybox: false });
}

describe('NAME_FILE contents', () => {
  it.each([
    ['without a trailing newline', 'postgres://db', 'postgres://db'],
    ['with one trailing newline, which is dropped', 'postgres://db\n', 'postgres://db'],
    ['with CRLF, dropped as one newline', 'postgres://db\r\n', 'postgres://db'],
    ['with two trailing newlines, of which one is dropped', 'postgres://db\n\n', 'postgres://db\n'],
    ['with inner newlines and spaces, kept', ' line one\nline two ', ' line one\nline two '],
  ])('reads a file %s', (_label, content, expected) => {
    expect(withFile(content).get('DB_URL')).toBe(expected);
  });

  it('ignores an empty file (or one holding only a newline) and says so', () => {
    const secrets = withFile('\n');
    expect(secrets.get('DB_URL')).toBeUndefined();
    expect(secrets.status().items[0]?.problems.map((p) => [p.code, p.level])).toEqual([
      ['EMPTY', 'warning'],
      ['MISSING', 'error'],
    ]);
  });

  it('reports which variable and file fed the item', () => {
    const path = join(dir, 'named');
    writeFileSync(path, 'v');
    const item = createSecrets(manifest, { env: { DB_URL_FILE: path }, keybox: false }).status().items[0];
    expect(item).toMatchObject({ source: 'file', variable: 'DB_URL_FILE', file: path });
  });
});

describe('an unreadable NAME_FILE', () => {
  it.each([
    ['a missing file', () => join(dir, 'does-not-exist'), 'ENOENT'],
    [
      'a directory',
      () => {
        const path = join(dir, 'a-directory');
        mkdirSync(path, { recursive: true });
        return path;
      },
      'EISDIR',
    ],
  ])('is a clear problem for %s, not a crash', (_label, makePath, code) => {
    const path = makePath();
    const secrets = createSecrets(manifest, { env: { DB_URL_FILE: path }, keybox: false });
    expect(secrets.get('DB_URL')).toBeUndefined();
    const status = secrets.status();
    expect(status.ok).toBe(false);
    expect(status.items[0]?.problems[0]).toEqual({
      code: 'FILE_UNREADABLE',
      level: 'error',
      message: `DB_URL_FILE names ${path}, which cannot be read (${code})`,
    });
  });

  it('is a problem when permission is denied (as a file mode would cause for a non-root user)', () => {
    const readFile = () => {
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    };
    const secrets = createSecrets(manifest, { env: { DB_URL_FILE: '/run/secrets/db_url' }, keybox: false, readFile });
    expect(secrets.status().items[0]?.problems[0]?.message).toBe(
      'DB_URL_FILE names /run/secrets/db_url, which cannot be read (EACCES)',
    );
  });

  it('falls through to the next source and still reports the broken file', async () => {
    const fetcher = fakeFetcher({ DB_URL: 'from-keybox' });
    const secrets = createSecrets(manifest, {
      env: { DB_URL_FILE: join(dir, 'gone') },
      keybox: fakeKeybox(fetcher),
    });
    await secrets.load();
    expect(secrets.get('DB_URL')).toBe('from-keybox');
    expect(secrets.status()).toMatchObject({
      ok: false,
      items: [{ source: 'keybox', problems: [{ code: 'FILE_UNREADABLE' }] }],
    });
  });

  it('is not read at all when NAME is set, so a stale mount cannot fail an app that has its value', () => {
    const secrets = createSecrets(manifest, {
      env: { DB_URL: 'direct', DB_URL_FILE: join(dir, 'gone') },
      keybox: false,
      readFile: () => expect.unreachable('the file must not be read'),
    });
    expect(secrets.get('DB_URL')).toBe('direct');
    expect(secrets.status().ok).toBe(true);
  });
});
