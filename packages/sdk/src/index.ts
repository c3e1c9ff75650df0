export * from './contract/error-codes.js';
export * from './contract/api-types.js';
export * from './contract/names.js';
export { KeyboxError, isKeyboxError } from './client/keybox-error.js';
export {
  createKeyboxClient,
  toApiError,
  type KeyboxClient,
  type ClientOptions,
  type RequestOptions,
  type RawResponse,
  type BulkReadScope,
  type BulkReadResult,
  type QueryValue,
} from './client/http-client.js';
export { mergeFolders, type MergeResult, type MergedSecret, type Shadowed } from './resolve/merge-folders.js';
export {
  INJECTED_ENV_VAR,
  formatInjected,
  parseInjected,
  type InjectedManifest,
  type InjectedSecret,
} from './resolve/injected.js';
export {
  MANIFEST_FILE,
  parseManifest,
  isParsedManifest,
  type Manifest,
  type DeclaredItem,
  type ManifestIssue,
  type ManifestParse,
} from './manifest/parse-manifest.js';
export { assertManifest, readManifestFile } from './manifest/read-manifest.js';
export { createSecrets, type Secrets, type SecretsOptions, type SecretsEvent } from './secrets/create-secrets.js';
export {
  createBulkFetcher,
  isTransient,
  type BundleScope,
  type FetchBundle,
  type KeyboxBundle,
  type KeyboxOptions,
} from './secrets/keybox-source.js';
export { stripOneNewline, type EnvLike, type ReadFile } from './secrets/resolve-local.js';
export type {
  LegacySource,
  LegacyValues,
  LegacyReport,
  LegacyItemReport,
  CleanupResult,
  LegacyCheck,
} from './secrets/legacy-migration.js';
export { stripSecrets, type StripResult } from './secrets/strip-secrets.js';
export {
  createStatusHandler,
  createFetchStatusHandler,
  renderStatus,
  type Authorize,
  type StatusHandlerOptions,
  type StatusResponse,
} from './secrets/status-handler.js';
export type * from './secrets/status-types.js';
export {
  MAX_REFERENCE_DEPTH,
  expandAll,
  hasReferences,
  parseValue,
  referencedScopes,
  scopeKey,
  type Reference,
  type ScopeKey,
  type ScopeValues,
} from './resolve/references.js';
