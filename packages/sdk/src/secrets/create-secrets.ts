import { loadFs } from '../client/builtins.js';
import { KeyboxError } from '../client/keybox-error.js';
import type { DeclaredItem } from '../manifest/parse-manifest.js';
import { assertManifest } from '../manifest/read-manifest.js';
import { INJECTED_ENV_VAR, parseInjected } from '../resolve/injected.js';
import { evaluateItem, toItemStatus, type Evaluation } from './evaluate-item.js';
import { planKeybox, type KeyboxBundle, type KeyboxOptions, type KeyboxPlan } from './keybox-source.js';
import { fetchWithRetry } from './fetch-with-retry.js';
import { createLegacyMigration, type LegacySource } from './legacy-migration.js';
import type { EnvLike, ReadFile } from './resolve-local.js';
import type { KeyboxStatus, SecretsStatus } from './status-types.js';
import { shownName } from './shown-name.js';
import { stripSecrets, type StripResult } from './strip-secrets.js';

export type SecretsEvent =
  | { type: 'keybox-fetched'; project: string; env: string; paths: string[]; count: number; attempt: number }
  | { type: 'keybox-failed'; code: string; message: string; attempt: number; retrying: boolean }
  | { type: 'legacy-read'; stored: string[] }
  | { type: 'legacy-cleared'; names: string[] };

export interface SecretsOptions {
  /** Default: `process.env`, read at `load()` (and at the first `get()` before it). */
  env?: EnvLike;
  /** The Keybox server as a source; `false` turns it off. Defaults come from KEYBOX_* / SECRETS_API_* variables. */
  keybox?: KeyboxOptions | false;
  /** Where the app kept secrets before (e.g. its settings table): read last, and emptied by `legacy.cleanup()`. */
  legacy?: LegacySource;
  /** Reads a `_FILE` target; default `fs.readFileSync(path, 'utf8')`. */
  readFile?: ReadFile;
  /** Waits between retries; default a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Called for fetches, failures, legacy reads and cleanups. Events never carry values. */
  onEvent?: (event: SecretsEvent) => void;
}

/**
 * Declared secrets, resolved env-first: `NAME`, then the file named by `NAME_FILE`, then the Keybox server, then
 * the app's legacy store. `load()` does the one bulk fetch (and reads the legacy store); `get()` is synchronous.
 * `manifest` is a parsed `Manifest`, a plain object to validate, or the path (or file URL) of a JSON manifest; an
 * invalid one throws CONFIG_INVALID naming every issue.
 *
 * @example
 * const secrets = createSecrets(readManifestFile('keybox.manifest.json'), { legacy: settingsTable });
 * await secrets.load();
 * const password = secrets.require('SMTP_PASSWORD');
 * console.log(secrets.status()); // presence and source of each item, never a value
 */
export function createSecrets(manifest: unknown, options: SecretsOptions = {}) {
  const declared = assertManifest(manifest);
  const byName = new Map(declared.items.map((item) => [item.name, item]));
  const secretNames = declared.items.filter((i) => i.secret).map((i) => i.name);
  const readFile: ReadFile = options.readFile ?? ((path) => loadFs().readFileSync(path, 'utf8'));
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const emit = options.onEvent ?? (() => undefined);
  const legacyLabel = options.legacy?.label ?? 'the legacy store';

  // Everything below is replaced as a whole at the end of each load(), so a reload never shows a half-read state.
  let bundle: KeyboxBundle | undefined;
  let keybox: KeyboxStatus = { state: 'not-loaded' };
  let legacyValues: Map<string, string> | undefined;
  let snapshot: Map<string, Evaluation> | undefined;
  // Until the first load() completes, get() cannot know what Keybox or the legacy store would supply.
  let loaded = false;
  let loading: Promise<SecretsStatus> | undefined;

  const currentEnv = (): EnvLike => options.env ?? process.env;

  function evaluateAll(withBundle: KeyboxBundle | undefined): Map<string, Evaluation> {
    const env = currentEnv();
    const inputs = {
      env,
      readFile,
      injected: parseInjected(env[INJECTED_ENV_VAR]),
      bundle: withBundle,
      legacy: legacyValues,
      legacyLabel,
    };
    return new Map(declared.items.map((item) => [item.name, evaluateItem(item, inputs)]));
  }

  function evaluations(): Map<string, Evaluation> {
    snapshot ??= evaluateAll(bundle);
    return snapshot;
  }

  async function readLegacyValues(): Promise<Map<string, string> | undefined> {
    if (options.legacy === undefined) return undefined;
    const values = await options.legacy.read(secretNames);
    const stored = new Map<string, string>();
    for (const name of secretNames) {
      const value = values[name];
      if (typeof value === 'string' && value !== '') stored.set(name, value);
    }
    emit({ type: 'legacy-read', stored: [...stored.keys()] });
    return stored;
  }

  async function readLegacy(): Promise<void> {
    legacyValues = await readLegacyValues();
    snapshot = undefined;
  }

  /** What the plan alone says about the server, before (or instead of) a fetch. */
  function plannedKeybox(): { status: KeyboxStatus; plan: KeyboxPlan } {
    const env = currentEnv();
    const plan = planKeybox(options.keybox, env, readFile);
    const info = parseInjected(env[INJECTED_ENV_VAR]);
    const injected = info === undefined ? {} : { injected: { project: info.project, env: info.env } };
    switch (plan.state) {
      case 'not-configured':
        return { plan, status: { state: 'not-configured', reason: plan.reason, ...injected } };
      case 'invalid':
        return { plan, status: { state: 'failed', code: plan.code, reason: plan.reason, ...injected } };
      case 'ready': {
        const { project, env: envSlug, paths } = plan.scope;
        return { plan, status: { state: 'not-loaded', project, env: envSlug, paths: [...paths], ...injected } };
      }
    }
  }

  async function doLoad(): Promise<SecretsStatus> {
    const { plan, status: planned } = plannedKeybox();
    let nextBundle: KeyboxBundle | undefined;
    let nextKeybox = planned;
    if (plan.state === 'ready') {
      // One fetch at start-up, and none when the environment already has everything.
      const needed = [...evaluateAll(undefined).values()].some((e) => e.replacement === undefined);
      if (!needed) {
        nextKeybox = { ...planned, state: 'not-needed' };
      } else {
        const result = await fetchWithRetry(plan.fetchBundle, plan.scope, { ...plan.retry, sleep, emit });
        if (result.ok) nextBundle = result.bundle;
        nextKeybox = result.ok
          ? { ...planned, state: 'loaded' }
          : { ...planned, state: 'failed', code: result.code, reason: result.message };
      }
    }
    const nextLegacy = await readLegacyValues();
    bundle = nextBundle;
    keybox = nextKeybox;
    legacyValues = nextLegacy;
    snapshot = undefined;
    loaded = true;
    return status();
  }

  /**
   * Fetches from Keybox (one bulk read, and only if the environment lacks something) and reads the legacy store.
   * Never rejects because the server is down: that shows in `status().keybox`, and `require()` fails for what is
   * then missing. It rejects when the legacy source's `read` throws.
   */
  function load(): Promise<SecretsStatus> {
    loading ??= doLoad().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  }

  /** Reads every source again, e.g. after a rotation. Until it completes, get() answers from the previous load. */
  function reload(): Promise<SecretsStatus> {
    const previous = loading ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(doLoad)
      .catch((error: unknown) => {
        if (loading === next) loading = undefined;
        throw error;
      });
    loading = next;
    return next;
  }

  function itemOf(name: string): DeclaredItem {
    const item = byName.get(name);
    if (item !== undefined) return item;
    throw new KeyboxError('CONFIG_INVALID', `${shownName(name)} is not declared in the manifest`);
  }

  /** The value, or undefined when no source has it. Throws for an undeclared name. */
  function get(name: string): string | undefined {
    const evaluation = evaluations().get(itemOf(name).name);
    if (evaluation?.found !== undefined) return evaluation.found.value;
    if (!loaded && (options.legacy !== undefined || plannedKeybox().plan.state !== 'not-configured')) {
      throw new KeyboxError(
        'NOT_LOADED',
        `${name} is not in the environment, and Keybox and the legacy store are read by load(): await secrets.load() first`,
      );
    }
    return undefined;
  }

  /** The value; throws SECRET_MISSING naming the variables to set when no source has it. */
  function require(name: string): string {
    const value = get(name);
    if (value !== undefined) return value;
    const item = itemOf(name);
    throw new KeyboxError(
      'SECRET_MISSING',
      `${name} is not set: set ${[...item.envVars, ...item.fileVars].join(' or ')}`,
    );
  }

  /** Presence and source of every item; never a value. */
  function status(): SecretsStatus {
    const items = [...evaluations().values()];
    const server = loaded ? keybox : plannedKeybox().status;
    const legacyStored = items.filter((e) => e.legacyStored).map((e) => e.item.name);
    return {
      ok: items.every((e) => !e.problems.some((p) => p.level === 'error')),
      items: items.map(toItemStatus),
      keybox: { ...server, ...(server.paths === undefined ? {} : { paths: [...server.paths] }) },
      legacy: {
        configured: options.legacy !== undefined,
        remaining: legacyStored,
        served: items.filter((e) => e.found?.source === 'legacy').map((e) => e.item.name),
      },
    };
  }

  const legacy = createLegacyMigration({
    source: options.legacy,
    secretNames,
    ensureLoaded: load,
    reloadAll: reload,
    readLegacy,
    evaluations: () => evaluations(),
    emit,
  });

  return {
    manifest: declared,
    load,
    reload,
    get,
    require,
    status,
    /** Drops every declared secret from a settings update; see `stripSecrets`. */
    stripSecrets: (payload: unknown): StripResult => stripSecrets(declared, payload),
    legacy,
  };
}

export type Secrets = ReturnType<typeof createSecrets>;
