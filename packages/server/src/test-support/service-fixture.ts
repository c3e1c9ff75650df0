import type { SecretChange } from '@keybox/sdk';
import { expect } from 'vitest';
import { AppError } from '../core/app-error.js';
import type { Scope } from '../core/secrets/secret-service.js';
import { createTestApp, createTestClock } from './test-app.js';

/**
 * The real services on a real store with one project `app` (dev, staging, prod), plus short ways to write and to
 * capture everything observable about a folder.
 */
export async function createServiceFixture() {
  const clock = createTestClock();
  const t = await createTestApp({ clock });
  await t.services.projects.create({ slug: 'app' });
  const secrets = t.services.secrets;
  const root: Scope = { project: 'app', env: 'dev', path: '/' };

  function set(name: string, value: string, options: { actor?: string; scope?: Scope; ifVersion?: number } = {}) {
    return secrets.applyChanges(options.scope ?? root, [{ name, value, ifVersion: options.ifVersion }], {
      actor: options.actor ?? 'alice',
    });
  }

  function batch(changes: SecretChange[], options: { scope?: Scope; ifRevision?: number; actor?: string } = {}) {
    return secrets.applyChanges(options.scope ?? root, changes, {
      actor: options.actor ?? 'alice',
      ifRevision: options.ifRevision,
    });
  }

  function remove(name: string, options: { scope?: Scope; ifVersion?: number } = {}) {
    return secrets.applyChanges(options.scope ?? root, [{ name, delete: true, ifVersion: options.ifVersion }], {
      actor: 'alice',
    });
  }

  /** Everything a client can observe about a folder: revision, heads, every version, and the bulk read. */
  async function snapshot(scope: Scope = root) {
    const heads = await secrets.list(scope, { includeDeleted: true });
    const histories = await Promise.all(heads.map(async (h) => [h.name, await secrets.history(scope, h.name)]));
    const bulk = await secrets.bulkRead(scope.project, scope.env, [scope.path], false);
    return {
      folders: await secrets.listFolders(scope),
      revisions: await secrets.folderHistory(scope),
      heads,
      histories,
      bulk: bulk.status === 200 ? JSON.parse(bulk.body.toString('utf8')) : bulk,
    };
  }

  return { t, clock, secrets, root, set, batch, remove, snapshot, close: () => t.close() };
}

export type ServiceFixture = Awaited<ReturnType<typeof createServiceFixture>>;

/** Awaits a promise that must reject with an AppError and returns the error. */
export async function appError(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => new Error('expected the call to fail'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}
