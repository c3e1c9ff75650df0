export * from './contract/error-codes.js';
export * from './contract/api-types.js';
export * from './contract/names.js';
export { KeyboxError, isKeyboxError } from './client/keybox-error.js';
export {
  createKeyboxClient,
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
