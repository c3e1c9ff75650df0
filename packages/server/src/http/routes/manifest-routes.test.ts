import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test-support/test-app.js';
import { TEST_STORE } from '../../test-support/test-store.js';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
  await t.services.projects.create({ slug: 'shop' });
  await t.call('PUT', '/api/v1/projects/shop/environments/prod/secrets/DB_URL?path=/backend', { value: 'CANARY-db' });
  await t.call('PUT', '/api/v1/projects/shop/environments/prod/secrets/STRAY?path=/ops', { value: 'CANARY-stray' });
});
afterEach(async () => {
  await t.close();
});

const manifest = {
  version: 1,
  items: {
    DB_URL: { description: 'database', envVars: ['DB_URL', 'DATABASE_URL'] },
    SMTP_PASSWORD: { description: 'mail', required: false },
    LOG_LEVEL: { description: 'verbosity', secret: false, required: false },
  },
};

describe('stored manifests', () => {
  it('stores a manifest and reports, per item, where a secret of that name is set (names only)', async () => {
    expect((await t.call('PUT', '/api/v1/projects/shop/environments/prod/manifest', manifest)).status).toBe(204);
    const res = await t.call('GET', '/api/v1/projects/shop/environments/prod/manifest');
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('CANARY');
    expect(res.json['items']).toEqual([
      expect.objectContaining({ name: 'DB_URL', required: true, secret: true, folders: ['/backend'], present: true }),
      expect.objectContaining({ name: 'SMTP_PASSWORD', required: false, folders: [], present: false }),
      expect.objectContaining({ name: 'LOG_LEVEL', secret: false, present: false }),
    ]);
    expect(res.json['undeclared']).toEqual([{ name: 'STRAY', folders: ['/ops'] }]);
    expect(res.json['updatedBy']).toBe('token:admin');
  });

  it("counts a secret as present only under a name the app reads (one of the item's variables)", async () => {
    await t.call('PUT', '/api/v1/projects/shop/environments/prod/secrets/AI_API_KEY?path=/', { value: 'CANARY-ai' });
    const renamed = { version: 1, items: { AI_API_KEY: { envVars: ['OPENAI_API_KEY'] } } };
    expect((await t.call('PUT', '/api/v1/projects/shop/environments/prod/manifest', renamed)).status).toBe(204);
    const res = await t.call('GET', '/api/v1/projects/shop/environments/prod/manifest');
    // The app reads OPENAI_API_KEY only: a secret named AI_API_KEY would never reach it.
    expect(res.json['items']).toEqual([expect.objectContaining({ name: 'AI_API_KEY', folders: [], present: false })]);
    expect(res.json['undeclared']).toContainEqual({ name: 'AI_API_KEY', folders: ['/'] });
  });

  it('refuses an invalid manifest with every issue named, and keeps the stored one', async () => {
    await t.call('PUT', '/api/v1/projects/shop/environments/prod/manifest', manifest);
    const bad = await t.call('PUT', '/api/v1/projects/shop/environments/prod/manifest', {
      version: 1,
      items: { DB_URL: { requird: true } },
    });
    expect(bad.status).toBe(400);
    expect(bad.json['error']['code']).toBe('INVALID_INPUT');
    expect(bad.json['error']['message']).toContain('items.DB_URL');
    const res = await t.call('GET', '/api/v1/projects/shop/environments/prod/manifest');
    expect((res.json['items'] as unknown[]).length).toBe(3);
  });

  it('is 404 before a manifest is stored', async () => {
    const none = await t.call('GET', '/api/v1/projects/shop/environments/dev/manifest');
    expect(none.status).toBe(404);
    expect(none.json['error']['details']).toEqual({ project: 'shop', env: 'dev', manifest: null });
    const noEnv = await t.call('GET', '/api/v1/projects/shop/environments/nope/manifest');
    expect(noEnv.status).toBe(404);
    expect(noEnv.json['error']['details']).not.toHaveProperty('manifest');
  });

  it('needs list on the whole environment to read and admin on it to store', async () => {
    await t.services.policies.put(
      'backend-reader',
      {
        rules: [{ projects: ['shop'], environments: ['prod'], paths: ['/backend/**'], capabilities: ['read', 'list'] }],
      },
      'test',
    );
    const token = await t.tokenWith(['backend-reader']);
    expect((await t.call('GET', '/api/v1/projects/shop/environments/prod/manifest', undefined, { token })).status).toBe(
      403,
    );
    expect((await t.call('PUT', '/api/v1/projects/shop/environments/prod/manifest', manifest, { token })).status).toBe(
      403,
    );
  });
});

describe('/api/secrets/status', () => {
  it('answers without a token, with states, counts and ages only', async () => {
    const res = await t.call('GET', '/api/secrets/status', undefined, { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json).toMatchObject({
      status: 'ok',
      store: { ok: true, dialect: TEST_STORE },
      keys: { rootKeyId: t.root.id, dataKeys: 3, activeDataKeyAgeDays: 0 },
      counts: { projects: 1, environments: 3, secrets: 2 },
      audit: { headConsistent: true },
    });
    expect(res.text).not.toContain('CANARY');
    expect(res.text).not.toContain('DB_URL');
    expect(res.text).not.toContain('shop');
  });

  it('serves one answer a second to every caller, however many ask', async () => {
    const count = async () =>
      (
        (await t.call('GET', '/api/secrets/status', undefined, { token: null })).json as {
          counts: { projects: number };
        }
      ).counts.projects;
    expect(await count()).toBe(1);
    await t.services.projects.create({ slug: 'blog' });
    expect(await count()).toBe(1);
    t.clock.tick(1000);
    expect(await count()).toBe(2);
  });

  it('answers while another process holds the write lock, counting the audit entries', async () => {
    const entries = (await t.services.audit.listAudit({ limit: 1000 })).length;
    const release = await t.holdWriteLock();
    try {
      const res = await t.call('GET', '/api/secrets/status', undefined, { token: null });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ status: 'ok', audit: { entries, headConsistent: true } });
    } finally {
      await release();
    }
  });

  it('says degraded (503) when the audit chain head does not match its last entry', async () => {
    await t.store.db.updateTable('audit_head').set({ seq: 1 }).where('id', '=', 1).execute();
    const res = await t.call('GET', '/api/secrets/status', undefined, { token: null });
    expect(res.status).toBe(503);
    expect(res.json).toMatchObject({ status: 'degraded', audit: { headConsistent: false } });
  });
});
