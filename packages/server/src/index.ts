export { startServer, SERVER_VERSION, type RunningServer, type ServerIo } from './main.js';
export {
  parseServerConfig,
  parseListen,
  isLoopback,
  DEFAULT_PORT,
  type ServerConfig,
  type RawServerConfig,
} from './config.js';
export { createApp, type App, type AppDeps } from './http/app.js';
export { AppError } from './core/app-error.js';
export { postgresUrlHasPassword } from './core/store/postgres-url.js';
export { migrateToPostgres, type MigrateResult } from './migrate.js';
export { restoreBackup, type RestoreResult } from './restore.js';
export { rotateRootKey, rotateDataKey, type RootRotation, type DataRotation } from './rotate.js';
