import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test-support/test-app.js';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => {
  await t.close();
});

describe('token purge', () => {
  it('deletes logins that expired or were revoked before the cutoff and keeps static tokens', async () => {
    const { tokens } = t.services;
    const oldSession = await tokens.issue({
      kind: 'session',
      name: 's1',
      principalType: 'user',
      principalId: 'u',
      createdBy: 't',
      ttlSeconds: 60,
    });
    const revokedAccess = await tokens.issue({
      kind: 'access',
      name: 'a1',
      principalType: 'identity',
      principalId: 'i',
      createdBy: 't',
      ttlSeconds: 86400,
    });
    await tokens.revoke(revokedAccess.id);
    const revokedStatic = await tokens.create({ name: 'old-static', createdBy: 't' });
    await tokens.revoke(revokedStatic.id);
    t.clock.tick(3600_000);
    const fresh = await tokens.issue({
      kind: 'session',
      name: 's2',
      principalType: 'user',
      principalId: 'u',
      createdBy: 't',
      ttlSeconds: 60,
    });

    const deleted = await tokens.purge(new Date(t.clock.now().getTime() - 60_000).toISOString());

    expect(deleted).toBe(2);
    const left = (await tokens.list({ includeRevoked: true })).map((x) => x.id);
    expect(left).not.toContain(oldSession.id);
    expect(left).not.toContain(revokedAccess.id);
    expect(left).toContain(revokedStatic.id);
    expect(left).toContain(fresh.id);
  });
});
