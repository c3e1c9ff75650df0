import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appError, createServiceFixture, type ServiceFixture } from '../../test-support/service-fixture.js';
import { MAX_VALUE_BYTES, checkValue } from './folder-writer.js';
import { bundleContext } from './locations.js';

let f: ServiceFixture;
beforeEach(async () => {
  f = await createServiceFixture();
});
afterEach(async () => {
  await f.close();
});

async function folderRow(path: string) {
  return f.t.store.db
    .selectFrom('folders as f')
    .innerJoin('environments as e', 'e.id', 'f.environment_id')
    .select(['f.bundle', 'f.revision', 'f.secret_count', 'e.id as envId', 'e.project_id as projectId'])
    .where('e.slug', '=', 'dev')
    .where('f.path', '=', path)
    .executeTakeFirstOrThrow();
}

describe('the folder bundle', () => {
  it('holds the live secrets sorted by name, sealed to the folder and its revision', async () => {
    await f.batch([
      { name: 'ZED', value: 'z' },
      { name: 'ALPHA', value: 'a1' },
      { name: 'MID', value: 'm' },
    ]);
    await f.batch([
      { name: 'ALPHA', value: 'a2' },
      { name: 'MID', delete: true },
    ]);
    const row = await folderRow('/');
    expect(row).toMatchObject({ revision: 2, secret_count: 2 });
    const ref = { projectId: row.projectId, envId: row.envId, project: 'app', env: 'dev' };
    const plain = f.t.keyring.decrypt(row.bundle!, bundleContext(ref, '/', 2)).toString('utf8');
    expect(JSON.parse(plain)).toEqual([
      { name: 'ALPHA', value: 'a2', version: 2 },
      { name: 'ZED', value: 'z', version: 1 },
    ]);
  });

  it('is cleared when the last secret is deleted', async () => {
    await f.set('A', 'a');
    await f.remove('A');
    expect(await folderRow('/')).toMatchObject({ bundle: null, revision: 2, secret_count: 0 });
    const read = await f.secrets.bulkRead('app', 'dev', ['/'], false);
    expect(read.status === 200 && JSON.parse(read.body.toString()).folders).toEqual([
      { path: '/', revision: 2, secrets: [] },
    ]);
  });
});

describe('value limits', () => {
  it('accepts a value of exactly the limit and refuses one byte more, counting UTF-8 bytes', async () => {
    expect(() => checkValue('A', 'x'.repeat(MAX_VALUE_BYTES))).not.toThrow();
    expect(() => checkValue('A', 'x'.repeat(MAX_VALUE_BYTES + 1))).toThrow(/over 256 KiB/);
    // 100,000 characters, 300,000 bytes.
    const error = await appError(f.set('WIDE', '€'.repeat(100_000)));
    expect(error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses a NUL byte, naming the secret but not the value', async () => {
    const error = await appError(f.set('TOKEN', 'CANARY-nul\0tail'));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain('TOKEN');
    expect(error.message).not.toContain('CANARY');
  });

  it('keeps other values in the batch unwritten when one is refused', async () => {
    await appError(
      f.batch([
        { name: 'OK', value: 'fine' },
        { name: 'BAD', value: 'a\0b' },
      ]),
    );
    expect(await f.secrets.list(f.root)).toEqual([]);
    expect(await f.secrets.listFolders(f.root)).toMatchObject([{ revision: 0 }]);
  });
});
