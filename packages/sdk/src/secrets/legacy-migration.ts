import { KeyboxError } from '../client/keybox-error.js';
import type { Evaluation } from './evaluate-item.js';
import { shownName } from './shown-name.js';

export type LegacyValues = Readonly<Record<string, string | null | undefined>>;

/**
 * Where the app kept secrets before they moved out of its database (a settings table, a config row). Keyed by item
 * name: the adapter maps names to its own columns or keys. Only items declared `secret` are read or cleared.
 *
 * @example
 * const legacy: LegacySource = {
 *   label: 'the settings table',
 *   read: (names) => Object.fromEntries(names.map((n) => [n, db.getSetting(n)])),
 *   clear: (names) => db.transaction(() => names.forEach((n) => db.deleteSetting(n))),
 * };
 */
export interface LegacySource {
  /** Shown in problems, e.g. `the settings table`. Default `the legacy store`. */
  label?: string;
  /** The values still stored for these names; a missing, null or empty value counts as not stored. */
  read(names: readonly string[]): LegacyValues | Promise<LegacyValues>;
  /** Removes the stored values for these names. Called once per cleanup; make it one transaction. */
  clear(names: readonly string[]): void | Promise<void>;
}

export interface LegacyItemReport {
  name: string;
  /** A value is still stored in the legacy source. */
  stored: boolean;
  /** The app currently gets its value from the legacy source. */
  served: boolean;
  /** What else supplies the item: the source the cleanup relies on before clearing. */
  replacement: 'env' | 'file' | 'keybox' | undefined;
}

export interface LegacyReport {
  configured: boolean;
  remaining: string[];
  served: string[];
  items: LegacyItemReport[];
}

export interface CleanupResult {
  dryRun: boolean;
  /** Cleared and confirmed gone by a fresh read (with `dryRun`: what would be cleared). */
  cleared: string[];
  /** Left alone: nothing else supplies them (or what does fails the pattern). */
  refused: { name: string; reason: string }[];
  /** `clear` was asked to remove them, but a fresh read still finds a value. */
  failed: string[];
  /** Still stored after the cleanup. */
  remaining: string[];
}

export interface LegacyCheck {
  ok: boolean;
  remaining: string[];
}

export interface LegacyDeps {
  source: LegacySource | undefined;
  secretNames: readonly string[];
  ensureLoaded: () => Promise<unknown>;
  /** Reads every source again, Keybox included: a replacement must be confirmed now, not at start-up. */
  reloadAll: () => Promise<unknown>;
  readLegacy: () => Promise<void>;
  evaluations: () => ReadonlyMap<string, Evaluation>;
  emit: (event: { type: 'legacy-cleared'; names: string[] }) => void;
}

/** The migration helpers of the ADR: see what is still legacy, clear it once replaced, and prove it stays empty. */
export function createLegacyMigration(deps: LegacyDeps) {
  function requireSource(): LegacySource {
    if (deps.source !== undefined) return deps.source;
    throw new KeyboxError('CONFIG_INVALID', 'no legacy source: pass options.legacy to createSecrets');
  }

  function stored(): string[] {
    return [...deps.evaluations().values()].filter((e) => e.legacyStored).map((e) => e.item.name);
  }

  /** Which secrets are still in the legacy store, which are served from it, and what would replace each. */
  function report(): LegacyReport {
    const items = [...deps.evaluations().values()]
      .filter((e) => e.item.secret)
      .map((e) => ({
        name: e.item.name,
        stored: e.legacyStored,
        served: e.found?.source === 'legacy',
        replacement: e.replacement === undefined ? undefined : (e.replacement.source as 'env' | 'file' | 'keybox'),
      }));
    return {
      configured: deps.source !== undefined,
      remaining: items.filter((i) => i.stored).map((i) => i.name),
      served: items.filter((i) => i.served).map((i) => i.name),
      items,
    };
  }

  /**
   * Clears legacy values whose replacement (env, file or Keybox) is present and valid right now, after a fresh read
   * of every source. A value with no replacement is refused, never cleared: the app would lose the secret.
   */
  async function cleanup(options: { names?: readonly string[]; dryRun?: boolean } = {}): Promise<CleanupResult> {
    const source = requireSource();
    for (const name of options.names ?? []) {
      if (!deps.secretNames.includes(name)) {
        throw new KeyboxError('CONFIG_INVALID', `cleanup: ${shownName(name)} is not a declared secret`);
      }
    }
    await deps.reloadAll();
    const selected = new Set(options.names ?? deps.secretNames);
    const refused: CleanupResult['refused'] = [];
    const toClear: string[] = [];
    for (const evaluation of deps.evaluations().values()) {
      const { item } = evaluation;
      if (!selected.has(item.name) || !evaluation.legacyStored) continue;
      if (evaluation.replacement === undefined) {
        refused.push({ name: item.name, reason: 'no environment variable, file or Keybox value supplies it' });
      } else if (!evaluation.replacementValid) {
        refused.push({
          name: item.name,
          reason: `its ${evaluation.replacement.source} value does not match the pattern`,
        });
      } else {
        toClear.push(item.name);
      }
    }
    const dryRun = options.dryRun === true;
    let failed: string[] = [];
    if (!dryRun && toClear.length > 0) {
      await source.clear(toClear);
      await deps.readLegacy();
      const still = new Set(stored());
      failed = toClear.filter((n) => still.has(n));
      deps.emit({ type: 'legacy-cleared', names: toClear.filter((n) => !still.has(n)) });
    }
    return {
      dryRun,
      cleared: toClear.filter((n) => !failed.includes(n)),
      refused,
      failed,
      remaining: stored(),
    };
  }

  /** Reads the legacy store afresh; not ok while any declared secret still has a value there. */
  async function check(): Promise<LegacyCheck> {
    requireSource();
    await deps.ensureLoaded();
    await deps.readLegacy();
    const remaining = stored();
    return { ok: remaining.length === 0, remaining };
  }

  return { report, cleanup, check };
}
