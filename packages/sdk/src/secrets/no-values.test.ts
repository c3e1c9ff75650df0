import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { formatInjected } from '../resolve/injected.js';
import { createSecrets } from './create-secrets.js';
import { createFetchStatusHandler, createStatusHandler } from './status-handler.js';
import { canary, fakeFetcher, fakeKeybox, memoryLegacy } from './test-support/fixtures.js';

/* Nothing a status, a status response or an error carries may depend on a value: not the bytes, a prefix or a length. */

const dir = mkdtempSync(join(tmpdir(), 'keybox-canary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const manifest = {
  items: {
    FROM_ENV: {},
    FROM_RUN: {},
    FROM_FILE: {},
    FROM_KEYBOX: {},
    FROM_LEGACY: {},
    BAD_FORMAT: { pattern: '^[0-9]+$' },
    RESIDUE: {},
    SETTING: { secret: false },
  },
};

/** Every item fed from a different source with `value` (BAD_FORMAT with a value that fails its pattern). */
async function loadedWith(value: string) {
  const path = join(dir, `value-${value.length}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, `${value}\n`);
  const env = {
    FROM_ENV: value,
    FROM_RUN: value,
    FROM_FILE_FILE: path,
    BAD_FORMAT: value,
    RESIDUE: value,
    SETTING: value,
    KEYBOX_INJECTED: formatInjected({ project: 'shop', env: 'prod', secrets: { FROM_RUN: { path: '/', version: 1 } } }),
  };
  const legacy = memoryLegacy({ FROM_LEGACY: value, RESIDUE: value });
  const secrets = createSecrets(manifest, {
    env,
    keybox: fakeKeybox(fakeFetcher({ FROM_KEYBOX: value })),
    legacy: legacy.source,
  });
  await secrets.load();
  return { secrets, path };
}

/** Everything a caller can see without calling get(): status, both handlers, the object itself. */
async function visible(value: string): Promise<string> {
  const { secrets, path } = await loadedWith(value);
  const allow = { authorize: () => true };
  let nodeBody = '';
  const res = { writeHead: () => res, end: (body?: string) => (nodeBody = body ?? '') };
  await createStatusHandler(secrets, allow)({ method: 'GET' }, res);
  const fetchBody = await (await createFetchStatusHandler(secrets, allow)(new Request('http://app/status'))).text();
  const seen = [
    JSON.stringify(secrets.status()),
    nodeBody,
    fetchBody,
    JSON.stringify(secrets.legacy.report()),
    inspect(secrets, { depth: Infinity, showHidden: true }),
  ].join('\n');
  // The file's name differs between runs and is not a value; take it out so the runs compare.
  return seen.replaceAll(path, '<file>');
}

describe('no value in anything the SDK reports', () => {
  it('contains no byte of a canary value, nor its prefix', async () => {
    const value = canary('Zq8x');
    const seen = await visible(value);
    expect(seen).toContain('FROM_KEYBOX');
    expect(seen).not.toContain(value);
    expect(seen).not.toContain(value.slice(0, 8));
    expect(seen).not.toContain(value.slice(-8));
  });

  it('is the same whatever the values are, so not even a length or a prefix can leak', async () => {
    const short = await visible(`aa${canary('x')}`);
    const long = await visible(`${canary('a-much-longer-and-different-prefix')}${canary('y')}`);
    expect(long).toBe(short);
  });

  it('keeps values out of every error the SDK throws', async () => {
    const value = canary('Err');
    const { secrets } = await loadedWith(value);
    const failing = createSecrets(manifest, {
      env: { FROM_ENV: value },
      keybox: fakeKeybox(() => Promise.reject(new Error(`fetcher leaked ${value}`))),
      legacy: memoryLegacy({ FROM_LEGACY: value }).source,
    });
    const errors: unknown[] = [];
    const capture = async (run: () => unknown) => {
      try {
        await run();
      } catch (error) {
        errors.push(error);
      }
    };
    await capture(() => failing.get('FROM_LEGACY'));
    await capture(() => secrets.get(value));
    await capture(() => secrets.get('UNDECLARED'));
    await capture(() => createSecrets({ items: { A: { example: value, pattern: '^x$' } } }));
    await capture(() => secrets.legacy.cleanup({ names: [value] }));
    await failing.load();
    await capture(() => failing.require('FROM_KEYBOX'));
    expect(errors).toHaveLength(6);
    const text = errors.map((e) => `${String(e)}\n${inspect(e, { depth: Infinity })}`).join('\n');
    expect(text).not.toContain(value);
    expect(text).not.toContain(value.slice(0, 8));
    expect(JSON.stringify(failing.status())).not.toContain(value);
    expect(failing.status().keybox).toMatchObject({ state: 'failed', reason: 'the bundle fetcher failed' });
  });

  it('keeps values out of the events it emits', async () => {
    const value = canary('Evt');
    const events: unknown[] = [];
    const secrets = createSecrets(manifest, {
      env: { FROM_ENV: value },
      keybox: fakeKeybox(fakeFetcher({ FROM_KEYBOX: value })),
      legacy: memoryLegacy({ FROM_LEGACY: value }).source,
      onEvent: (e) => events.push(e),
    });
    await secrets.load();
    expect(events.map((e) => (e as { type: string }).type)).toEqual(['keybox-fetched', 'legacy-read']);
    expect(JSON.stringify(events)).not.toContain(value);
  });
});
