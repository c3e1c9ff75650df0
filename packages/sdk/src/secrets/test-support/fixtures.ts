import { randomBytes } from 'node:crypto';
import type { MergedSecret } from '../../resolve/merge-folders.js';
import type { FetchBundle, KeyboxBundle } from '../keybox-source.js';
import type { LegacySource } from '../legacy-migration.js';

/** A value that must never show up in a status, a response body or an error. */
export function canary(label = 'CANARY'): string {
  return `${label}-${randomBytes(12).toString('hex')}`;
}

/** What a bulk read would return for these names, all in `path`. */
export function bundleOf(values: Record<string, string>, path = '/app', version = 3): KeyboxBundle {
  const secrets = new Map<string, MergedSecret>();
  for (const [name, value] of Object.entries(values)) secrets.set(name, { value, path, version });
  return { project: 'shop', env: 'prod', secrets };
}

/** A FetchBundle that serves `values` and counts its calls. */
export function fakeFetcher(values: Record<string, string>): FetchBundle & { calls: number } {
  const fetcher = Object.assign(
    () => {
      fetcher.calls++;
      return Promise.resolve(bundleOf(values));
    },
    { calls: 0 },
  );
  return fetcher;
}

/** Keybox options that make the server a source without a network: the scope plus a fake fetcher. */
export function fakeKeybox(fetchBundle: FetchBundle) {
  return { project: 'shop', env: 'prod', paths: ['/app'], fetchBundle };
}

/** An in-memory settings table standing in for the app's database. */
export function memoryLegacy(initial: Record<string, string>, options: { clearWorks?: boolean } = {}) {
  const rows = new Map(Object.entries(initial));
  const cleared: string[][] = [];
  const source: LegacySource = {
    label: 'the settings table',
    read: (names) => Object.fromEntries(names.map((n) => [n, rows.get(n)])),
    clear: (names) => {
      cleared.push([...names]);
      if (options.clearWorks !== false) for (const n of names) rows.delete(n);
    },
  };
  return { source, rows, cleared };
}
