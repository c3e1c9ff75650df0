/**
 * What `secrets.status()` reports: for each declared item, whether it is present and where it comes from, never a
 * value, a prefix, a length or a hash of one. Field names are part of the public contract (monitors parse them).
 */

/** Where a value came from. `keybox` covers both a value `keybox run` injected and one the SDK fetched itself. */
export type Source = 'env' | 'file' | 'keybox' | 'legacy' | 'missing';

export type ProblemCode =
  /** Required, and no source has it. */
  | 'MISSING'
  /** A variable (or the file it names) is empty; it is ignored. */
  | 'EMPTY'
  /** `NAME_FILE` names a file that cannot be read. */
  | 'FILE_UNREADABLE'
  /** More than one variable is set for the item; the status names the one used. */
  | 'SHADOWED'
  /** The value does not match the declared pattern. */
  | 'INVALID_FORMAT'
  /** Still served from the legacy store (e.g. the app's settings table). */
  | 'LEGACY_SOURCE'
  /** Another source supplies the item, but a legacy value is still stored: run the cleanup. */
  | 'LEGACY_RESIDUE';

export interface Problem {
  code: ProblemCode;
  /** `error` makes the status not ok (and `keybox check` exit 1); `warning` does not. */
  level: 'error' | 'warning';
  message: string;
}

/** Where a Keybox-provided value lives in the store. */
export interface KeyboxOrigin {
  /** `run`: `keybox run` injected it (listed in KEYBOX_INJECTED); `server`: the SDK fetched it at load(). */
  via: 'run' | 'server';
  project: string;
  env: string;
  path: string;
  version: number;
}

export interface ItemStatus {
  name: string;
  description: string;
  secret: boolean;
  required: boolean;
  present: boolean;
  source: Source;
  /** The variables that can feed the item, in precedence order: the direct ones, then the `_FILE` ones. */
  envVars: string[];
  /** The variable that supplied the value (for `file`, the `_FILE` variable; for `keybox`, the stored name). */
  variable?: string;
  /** For `file`: the path the `_FILE` variable names. */
  file?: string;
  keybox?: KeyboxOrigin;
  rotation?: string;
  problems: Problem[];
}

export type KeyboxState =
  /** No address or no credential in options or the environment: the server is not a source. */
  | 'not-configured'
  /** Configured, and `load()` has not finished yet. */
  | 'not-loaded'
  /** Every item was already present in the environment or a file, so nothing was fetched. */
  | 'not-needed'
  | 'loaded'
  | 'failed';

export interface KeyboxStatus {
  state: KeyboxState;
  /** Why it is not configured or failed, e.g. `no project (KEYBOX_PROJECT)`. */
  reason?: string;
  /** The error code of a failed load, from the SDK's error catalogue. */
  code?: string;
  project?: string;
  env?: string;
  paths?: string[];
  /** Present when the process was started by `keybox run`. */
  injected?: { project: string; env: string };
}

export interface LegacyStatus {
  configured: boolean;
  /** Secrets whose value is still stored in the legacy source (served from it or not). */
  remaining: string[];
  /** Secrets currently served from the legacy source. */
  served: string[];
}

export interface SecretsStatus {
  /** No required item missing and no item with an `error` problem. */
  ok: boolean;
  items: ItemStatus[];
  keybox: KeyboxStatus;
  legacy: LegacyStatus;
}
