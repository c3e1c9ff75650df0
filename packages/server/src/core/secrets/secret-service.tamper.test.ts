import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTestApp, expectError, type ApiTestApp } from '../../test-support/api-test-app.js';
import { DecryptError } from '../crypto/envelope.js';
import type { Scope } from './secret-service.js';

/*
 * Someone with write access to the database (not to the root key) moves ciphertext between rows. Every value and
 * bundle is bound to its location, so each move must be detected on read, never served as the other row's value.
 */

let t: ApiTestApp;
let values: Record<string, string>;
const dev: Scope = { project: 'app', env: 'dev', path: '/' };
const prod: Scope = { project: 'app', env: 'prod', path: '/' };
const devApi: Scope = { project: 'app', env: 'dev', path: '/api' };

beforeEach(async () => {
  t = await createApiTestApp();
  await t.services.projects.create({ slug: 'app' });
  values = { devA: t.canary(), devB: t.canary(), devA2: t.canary(), prodA: t.canary(), apiA: t.canary() };
  const write = (scope: Scope, name: string, value: string) =>
    t.services.secrets.applyChanges(scope, [{ name, value }], { actor: 'test' });
  await write(dev, 'A', values['devA']!);
  await write(dev, 'B', values['devB']!);
  await write(dev, 'A', values['devA2']!);
  await write(prod, 'A', values['prodA']!);
  await write(devApi, 'A', values['apiA']!);
});
afterEach(async () => {
  await t.close();
});

async function secretId(scope: Scope, name: string): Promise<string> {
  const row = await t.store.db
    .selectFrom('secrets as s')
    .innerJoin('folders as f', 'f.id', 's.folder_id')
    .innerJoin('environments as e', 'e.id', 'f.environment_id')
    .select('s.id')
    .where('e.slug', '=', scope.env)
    .where('f.path', '=', scope.path)
    .where('s.name', '=', name)
    .executeTakeFirstOrThrow();
  return row.id;
}

async function folderId(scope: Scope): Promise<string> {
  const row = await t.store.db
    .selectFrom('folders as f')
    .innerJoin('environments as e', 'e.id', 'f.environment_id')
    .select('f.id')
    .where('e.slug', '=', scope.env)
    .where('f.path', '=', scope.path)
    .executeTakeFirstOrThrow();
  return row.id;
}

async function copyValue(from: { id: string; version: number }, to: { id: string; version: number }) {
  await sql`update secret_versions
    set value = (select value from secret_versions where secret_id = ${from.id} and version = ${from.version})
    where secret_id = ${to.id} and version = ${to.version}`.execute(t.store.db);
}

async function copyBundle(from: Scope, to: Scope) {
  await sql`update folders set bundle = (select bundle from folders where id = ${await folderId(from)})
    where id = ${await folderId(to)}`.execute(t.store.db);
}

async function expectIntegrityFailure(path: string) {
  const res = await t.call('GET', path);
  expectError(res, 'INTERNAL', 'stored data failed an integrity check; see the server log');
}

const single = (scope: Scope, name: string, version = '') =>
  `/api/v1/projects/app/environments/${scope.env}/secrets/${name}?path=${scope.path}${version}`;
const bulk = (scope: Scope) => `/api/v1/secrets?project=app&env=${scope.env}&path=${scope.path}`;

describe('values moved between rows', () => {
  it('refuses a value copied onto another secret in the same folder', async () => {
    await copyValue({ id: await secretId(dev, 'B'), version: 1 }, { id: await secretId(dev, 'A'), version: 2 });
    await expect(t.services.secrets.get(dev, 'A')).rejects.toThrow(DecryptError);
    await expectIntegrityFailure(single(dev, 'A'));
  });

  it('refuses an older value copied onto a newer version of the same secret', async () => {
    const a = await secretId(dev, 'A');
    await copyValue({ id: a, version: 1 }, { id: a, version: 2 });
    await expect(t.services.secrets.get(dev, 'A')).rejects.toThrow(DecryptError);
    await expectIntegrityFailure(single(dev, 'A', '&version=2'));
  });

  it('refuses a value copied to the same name in another environment', async () => {
    await copyValue({ id: await secretId(dev, 'A'), version: 1 }, { id: await secretId(prod, 'A'), version: 1 });
    await expect(t.services.secrets.get(prod, 'A')).rejects.toThrow(DecryptError);
    await expectIntegrityFailure(single(prod, 'A'));
  });

  it('refuses a value copied to the same name and version in another folder', async () => {
    await copyValue({ id: await secretId(dev, 'A'), version: 1 }, { id: await secretId(devApi, 'A'), version: 1 });
    await expect(t.services.secrets.get(devApi, 'A')).rejects.toThrow(DecryptError);
    await expectIntegrityFailure(single(devApi, 'A'));
  });

  it('refuses to write to a folder whose current values fail to decrypt, and writes nothing', async () => {
    await copyValue({ id: await secretId(dev, 'B'), version: 1 }, { id: await secretId(dev, 'A'), version: 2 });
    const before = await t.services.secrets.listFolders(dev);
    const write = t.services.secrets.applyChanges(dev, [{ name: 'C', value: 'new' }], { actor: 'test' });
    await expect(write).rejects.toThrow(DecryptError);
    const res = await t.call('PUT', single(dev, 'C'), { value: t.canary() });
    expectError(res, 'INTERNAL');
    expect(await t.services.secrets.listFolders(dev)).toEqual(before);
  });
});

describe('bundles moved between folders', () => {
  it('refuses a bundle copied into another folder of the same environment', async () => {
    await copyBundle(dev, devApi);
    await expect(t.services.secrets.bulkRead('app', 'dev', ['/api'], false)).rejects.toThrow(DecryptError);
    await expectIntegrityFailure(bulk(devApi));
  });

  it('refuses a bundle copied to the same path in another environment', async () => {
    // prod / and dev /api are both at revision 1; dev / is at 3.
    await sql`update folders set revision = 3 where id = ${await folderId(prod)}`.execute(t.store.db);
    await copyBundle(dev, prod);
    await expect(t.services.secrets.bulkRead('app', 'prod', ['/'], false)).rejects.toThrow(DecryptError);
    await expectIntegrityFailure(bulk(prod));
  });

  it('refuses an older bundle of the same folder put back', async () => {
    const id = await folderId(dev);
    const old = await t.store.db.selectFrom('folders').select('bundle').where('id', '=', id).executeTakeFirstOrThrow();
    await t.services.secrets.applyChanges(dev, [{ name: 'B', value: t.canary() }], { actor: 'test' });
    await sql`update folders set bundle = ${old.bundle} where id = ${id}`.execute(t.store.db);
    await expect(t.services.secrets.bulkRead('app', 'dev', ['/'], false)).rejects.toThrow(DecryptError);
    await expectIntegrityFailure(bulk(dev));
  });

  it('does not let one bad bundle hide behind the others in a recursive read', async () => {
    await copyBundle(dev, devApi);
    await expectIntegrityFailure('/api/v1/secrets?project=app&env=dev&path=/&recursive=true');
  });
});
