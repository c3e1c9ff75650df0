import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTestApp, expectError, listIn, type ApiTestApp } from '../../test-support/api-test-app.js';

let t: ApiTestApp;
beforeEach(async () => {
  t = await createApiTestApp();
});
afterEach(async () => {
  await t.close();
});

const T0 = '2026-01-01T00:00:00.000Z';

describe('projects', () => {
  it('creates a project with dev, staging and prod by default', async () => {
    const res = await t.call('POST', '/api/v1/projects', { slug: 'shop', name: ' Shop ' });
    expect(res.status).toBe(201);
    expect(res.json).toEqual({
      project: {
        slug: 'shop',
        name: 'Shop',
        createdAt: T0,
        environments: ['dev', 'staging', 'prod'].map((slug) => ({ slug, name: slug, createdAt: T0 })),
      },
    });
    expect((await t.call('GET', '/api/v1/projects/shop')).json).toEqual(res.json);
  });

  it('creates the environments given, in order, each with a root folder', async () => {
    await t.call('POST', '/api/v1/projects', { slug: 'shop', environments: ['qa', 'live'] });
    const envs = await t.call('GET', '/api/v1/projects/shop/environments');
    expect(slugs(envs, 'environments')).toEqual(['qa', 'live']);
    const folders = await t.call('GET', '/api/v1/projects/shop/environments/live/folders');
    expect(folders.json['folders']).toEqual([{ path: '/', revision: 0, secretCount: 0, updatedAt: T0 }]);
  });

  it('lists projects by slug', async () => {
    await t.call('POST', '/api/v1/projects', { slug: 'zoo' });
    await t.call('POST', '/api/v1/projects', { slug: 'app' });
    const res = await t.call('GET', '/api/v1/projects');
    expect(slugs(res, 'projects')).toEqual(['app', 'zoo']);
  });

  it('refuses a duplicate slug with CONFLICT', async () => {
    await t.call('POST', '/api/v1/projects', { slug: 'shop' });
    expectError(
      await t.call('POST', '/api/v1/projects', { slug: 'shop' }),
      'CONFLICT',
      'project "shop" already exists',
    );
  });

  it.each(['Shop', '-shop', 'shop-', 'sh op', 'shop/x', ''])('refuses the invalid slug %j', async (slug) => {
    expectError(await t.call('POST', '/api/v1/projects', { slug }), 'INVALID_INPUT', /not a valid project slug/);
    expect((await t.call('GET', '/api/v1/projects')).json['projects']).toEqual([]);
  });

  it('refuses no environments, duplicate environments and an invalid environment slug', async () => {
    for (const environments of [[], ['dev', 'dev'], ['Dev']]) {
      expectError(await t.call('POST', '/api/v1/projects', { slug: 'shop', environments }), 'INVALID_INPUT');
    }
    expect((await t.call('GET', '/api/v1/projects')).json['projects']).toEqual([]);
  });

  it('renames a project', async () => {
    await t.call('POST', '/api/v1/projects', { slug: 'shop' });
    const res = await t.call('PATCH', '/api/v1/projects/shop', { name: 'The Shop' });
    expect(res.json['project']).toMatchObject({ slug: 'shop', name: 'The Shop' });
    expectError(await t.call('PATCH', '/api/v1/projects/shop', { name: '  ' }), 'INVALID_INPUT');
    expectError(await t.call('PATCH', '/api/v1/projects/none', { name: 'x' }), 'NOT_FOUND');
  });

  it('answers NOT_FOUND for an unknown project', async () => {
    expectError(await t.call('GET', '/api/v1/projects/none'), 'NOT_FOUND', 'project "none" does not exist');
    expectError(await t.call('DELETE', '/api/v1/projects/none'), 'NOT_FOUND');
  });

  it('deletes an empty project, and a project whose secrets were all deleted', async () => {
    await t.call('POST', '/api/v1/projects', { slug: 'empty' });
    expect((await t.call('DELETE', '/api/v1/projects/empty')).status).toBe(204);
    await t.call('POST', '/api/v1/projects', { slug: 'cleared' });
    await t.call('PUT', '/api/v1/projects/cleared/environments/dev/secrets/A', { value: 'a' });
    await t.call('DELETE', '/api/v1/projects/cleared/environments/dev/secrets/A');
    expect((await t.call('DELETE', '/api/v1/projects/cleared')).status).toBe(204);
    expect((await t.call('GET', '/api/v1/projects')).json['projects']).toEqual([]);
  });

  it('deletes a project that holds secrets only with force', async () => {
    await t.call('POST', '/api/v1/projects', { slug: 'shop' });
    await t.call('PUT', '/api/v1/projects/shop/environments/prod/secrets/A?path=/deep', { value: t.canary() });
    const refused = await t.call('DELETE', '/api/v1/projects/shop');
    expectError(
      refused,
      'CONFLICT',
      'project "shop" still holds 1 secret(s); delete them first or force the deletion (keybox: --force; API: ?force=true)',
    );
    expect((await t.call('GET', '/api/v1/projects/shop')).status).toBe(200);

    expect((await t.call('DELETE', '/api/v1/projects/shop?force=true')).status).toBe(204);
    expectError(await t.call('GET', '/api/v1/projects/shop'), 'NOT_FOUND');
    const orphans = await t.store.db.selectFrom('secret_versions').select('secret_id').execute();
    expect(orphans).toEqual([]);
  });
});

describe('environments', () => {
  beforeEach(async () => {
    await t.call('POST', '/api/v1/projects', { slug: 'shop' });
  });

  it('creates an environment after the existing ones', async () => {
    const res = await t.call('POST', '/api/v1/projects/shop/environments', { slug: 'qa', name: 'QA' });
    expect(res.status).toBe(201);
    expect(res.json).toEqual({ environment: { slug: 'qa', name: 'QA', createdAt: T0 } });
    const envs = await t.call('GET', '/api/v1/projects/shop/environments');
    expect(slugs(envs, 'environments')).toEqual(['dev', 'staging', 'prod', 'qa']);
    expect((await t.call('GET', '/api/v1/projects/shop/environments/qa/secrets')).json).toEqual({ secrets: [] });
  });

  it('refuses a duplicate or invalid environment, and one in an unknown project', async () => {
    expectError(await t.call('POST', '/api/v1/projects/shop/environments', { slug: 'dev' }), 'CONFLICT');
    expectError(await t.call('POST', '/api/v1/projects/shop/environments', { slug: 'Q A' }), 'INVALID_INPUT');
    expectError(await t.call('POST', '/api/v1/projects/none/environments', { slug: 'qa' }), 'NOT_FOUND');
  });

  it('deletes an environment, its folders and its secrets, needing force when it holds secrets', async () => {
    await t.call('PUT', '/api/v1/projects/shop/environments/staging/secrets/A', { value: t.canary() });
    expectError(await t.call('DELETE', '/api/v1/projects/shop/environments/staging'), 'CONFLICT', /holds 1 secret/);
    expect((await t.call('DELETE', '/api/v1/projects/shop/environments/staging?force')).status).toBe(204);
    const envs = await t.call('GET', '/api/v1/projects/shop/environments');
    expect(slugs(envs, 'environments')).toEqual(['dev', 'prod']);
    expectError(
      await t.call('GET', '/api/v1/projects/shop/environments/staging/secrets/A'),
      'NOT_FOUND',
      'environment "staging" does not exist in project "shop"',
    );
    expect(await t.store.db.selectFrom('secrets').select('id').execute()).toEqual([]);
  });

  it('renames an environment, keeping its slug', async () => {
    const res = await t.call('PATCH', '/api/v1/projects/shop/environments/prod', { name: ' Production ' });
    expect(res.json).toEqual({ environment: { slug: 'prod', name: 'Production', createdAt: T0 } });
    expect((await t.call('GET', '/api/v1/projects/shop')).json['project']['environments'][2]).toEqual(
      res.json['environment'],
    );
    expectError(await t.call('PATCH', '/api/v1/projects/shop/environments/prod', { name: '' }), 'INVALID_INPUT');
    expectError(await t.call('PATCH', '/api/v1/projects/shop/environments/qa', { name: 'QA' }), 'NOT_FOUND');
  });

  it('keeps the last environment of a project', async () => {
    expect((await t.call('DELETE', '/api/v1/projects/shop/environments/dev')).status).toBe(204);
    expect((await t.call('DELETE', '/api/v1/projects/shop/environments/staging')).status).toBe(204);
    expectError(await t.call('DELETE', '/api/v1/projects/shop/environments/prod'), 'CONFLICT', /at least one/);
    expectError(await t.call('DELETE', '/api/v1/projects/shop/environments/dev'), 'NOT_FOUND');
  });
});

function slugs(res: Parameters<typeof listIn>[0], key: string): string[] {
  return listIn<{ slug: string }>(res, key).map((x) => x.slug);
}
