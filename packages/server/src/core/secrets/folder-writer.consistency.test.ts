import type { SecretChange } from '@keybox/sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../app-error.js';
import { createSeededRandom } from '../../test-support/seeded-random.js';
import { createServiceFixture, type ServiceFixture } from '../../test-support/service-fixture.js';
import type { Scope } from './secret-service.js';

/*
 * A seeded random walk of writes, deletes, rollbacks and destroys over a few folders. After every step the bulk read
 * (served from the folder bundle) must equal what get() returns for each live secret, and both must equal a plain
 * in-memory model of what the operations mean.
 */

const NAMES = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J'];
const PATHS = ['/', '/api', '/api/v2'];
const STEPS = 200;

interface Live {
  value: string;
  version: number;
}
interface FolderModel {
  revision: number;
  live: Map<string, Live>;
  /** Per name, the value of each version (index = version - 1); null for a deletion. */
  versions: Map<string, (string | null)[]>;
  destroyed: Set<string>;
  snapshots: Map<number, Map<string, Live>>;
}

let f: ServiceFixture;
beforeEach(async () => {
  f = await createServiceFixture();
});
afterEach(async () => {
  await f.close();
});

function newFolder(): FolderModel {
  return {
    revision: 0,
    live: new Map(),
    versions: new Map(),
    destroyed: new Set(),
    snapshots: new Map([[0, new Map()]]),
  };
}

/** Applies changes to the model the way the server should: unchanged values make no version and no revision. */
function applyToModel(folder: FolderModel, changes: { name: string; value: string | undefined }[]) {
  let changed = false;
  for (const { name, value } of changes) {
    const current = folder.live.get(name);
    if (value !== undefined && current?.value === value) continue;
    const versions = folder.versions.get(name) ?? [];
    versions.push(value ?? null);
    folder.versions.set(name, versions);
    if (value === undefined) folder.live.delete(name);
    else folder.live.set(name, { value, version: versions.length });
    changed = true;
  }
  if (changed) {
    folder.revision++;
    folder.snapshots.set(folder.revision, new Map(folder.live));
  }
}

async function expectCode(promise: Promise<unknown>, code: string) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
}

async function checkFolder(scope: Scope, model: FolderModel, step: number) {
  const read = await f.secrets.bulkRead('app', 'dev', [scope.path], false);
  if (read.status !== 200) throw new Error('expected a body');
  const [folder] = JSON.parse(read.body.toString('utf8')).folders;
  const fromGets = await Promise.all(
    (await f.secrets.list(scope)).map(async (meta) => {
      const secret = await f.secrets.get(scope, meta.name);
      return { name: secret.name, value: secret.value, version: secret.version };
    }),
  );
  const fromModel = [...model.live.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, live]) => ({ name, ...live }));
  expect(folder, `bulk read vs get() at step ${step}`).toEqual({
    path: scope.path,
    revision: model.revision,
    secrets: fromGets,
  });
  expect(fromGets, `get() vs model at step ${step}`).toEqual(fromModel);
}

describe('bundle consistency', () => {
  it.each([1, 20260101, 424242])(
    'matches get() of every live secret after random operations (seed %i)',
    async (seed) => {
      const random = createSeededRandom(seed);
      const models = new Map(PATHS.map((p) => [p, newFolder()]));
      const counts: Record<string, number> = {};

      for (let step = 0; step < STEPS; step++) {
        const path = random.pick(PATHS);
        const model = models.get(path)!;
        const scope = { ...f.root, path };
        const exists = path === '/' || model.revision > 0;
        const roll = random.next();
        f.clock.tick(random.int(3) * 1000);
        const value = (name: string) => `${name}-${random.int(4)}`;
        let op: string;

        if (roll < 0.35) {
          op = 'set';
          const name = random.pick(NAMES);
          const v = value(name);
          const result = await f.set(name, v, { scope });
          applyToModel(model, [{ name, value: v }]);
          expect(result.revision).toBe(model.revision);
        } else if (roll < 0.5) {
          op = 'batch';
          const names = NAMES.filter(() => random.next() < 0.3);
          if (names.length === 0) names.push(random.pick(NAMES));
          const changes: SecretChange[] = names.map((name) =>
            model.live.has(name) && random.next() < 0.3 ? { name, delete: true } : { name, value: value(name) },
          );
          const result = await f.batch(changes, { scope });
          applyToModel(
            model,
            changes.map((c) => ({ name: c.name, value: 'value' in c ? c.value : undefined })),
          );
          expect(result.revision).toBe(model.revision);
        } else if (roll < 0.65) {
          op = 'delete';
          const name = random.pick(NAMES);
          if (model.live.has(name)) {
            await f.remove(name, { scope });
            applyToModel(model, [{ name, value: undefined }]);
          } else {
            await expectCode(f.remove(name, { scope }), 'NOT_FOUND');
          }
        } else if (roll < 0.78) {
          op = 'rollback secret';
          const names = [...model.versions.keys()];
          if (names.length === 0) continue;
          const name = random.pick(names);
          const versions = model.versions.get(name)!;
          const version = 1 + random.int(versions.length);
          const old = versions[version - 1];
          const rollback = f.secrets.rollbackSecret(scope, name, version, { actor: 'walk' });
          if (old === null || old === undefined) await expectCode(rollback, 'INVALID_INPUT');
          else if (model.destroyed.has(`${name}@${version}`)) await expectCode(rollback, 'VALUE_DESTROYED');
          else {
            await rollback;
            applyToModel(model, [{ name, value: old }]);
          }
        } else if (roll < 0.9) {
          op = 'rollback folder';
          if (!exists) continue;
          const target = random.int(model.revision + 1);
          const then = model.snapshots.get(target)!;
          const rollback = f.secrets.rollbackFolder(scope, { toRevision: target }, { actor: 'walk' });
          if ([...then.entries()].some(([name, live]) => model.destroyed.has(`${name}@${live.version}`))) {
            await expectCode(rollback, 'VALUE_DESTROYED');
          } else {
            const result = await rollback;
            const changes = [...model.versions.keys()].map((name) => ({ name, value: then.get(name)?.value }));
            applyToModel(
              model,
              changes.filter((c) => c.value !== undefined || model.live.has(c.name)),
            );
            expect(result.revision).toBe(model.revision);
          }
        } else {
          op = 'destroy';
          const candidates = [...model.versions.entries()].flatMap(([name, versions]) =>
            versions
              .map((v, i) => ({ name, version: i + 1, v }))
              .filter(
                (c) =>
                  c.v !== null &&
                  model.live.get(name)?.version !== c.version &&
                  !model.destroyed.has(`${name}@${c.version}`),
              ),
          );
          if (candidates.length === 0) continue;
          const { name, version } = random.pick(candidates);
          await f.secrets.destroyVersion(scope, name, version, { actor: 'walk' });
          model.destroyed.add(`${name}@${version}`);
        }
        counts[op] = (counts[op] ?? 0) + 1;
        if (path === '/' || model.revision > 0) await checkFolder(scope, model, step);
      }

      // Every kind of operation ran, so the walk exercised what it claims to.
      expect(Object.keys(counts).sort()).toEqual([
        'batch',
        'delete',
        'destroy',
        'rollback folder',
        'rollback secret',
        'set',
      ]);
      for (const path of PATHS) {
        const model = models.get(path)!;
        if (path === '/' || model.revision > 0) await checkFolder({ ...f.root, path }, model, STEPS);
      }
      const all = await f.secrets.bulkRead('app', 'dev', ['/'], true);
      if (all.status !== 200) throw new Error('expected a body');
      const folders = JSON.parse(all.body.toString('utf8')).folders as { path: string; revision: number }[];
      expect(folders.map((x) => [x.path, x.revision])).toEqual(
        PATHS.filter((p) => p === '/' || models.get(p)!.revision > 0).map((p) => [p, models.get(p)!.revision]),
      );
    },
  );
});
