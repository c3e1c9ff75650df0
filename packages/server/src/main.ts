import {
  chmodSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { AppError } from './core/app-error.js';
import type { TxAudit } from './core/audit/tx-audit.js';
import { systemClock } from './core/clock.js';
import { openKeyring } from './core/crypto/keyring.js';
import { loadRootKey, ROOT_KEY_FILE, type RootKey } from './core/crypto/root-key.js';
import { openStore } from './core/store/open-store.js';
import type { Store } from './core/store/store.js';
import { PID_FILE } from './pid-file.js';
import { createServices, type Services } from './services.js';
import type { ServerConfig } from './config.js';
import { createApp } from './http/app.js';
import { createListener } from './http/listener.js';

// node:http and node:https from process.getBuiltinModule, not ES imports: building node:http's ES module namespace
// touches its lazy exports that load Node's fetch implementation (undici, with a WebAssembly parser): +5 MiB of
// resident memory, and start-up time, that a server answering only health checks and reads never needs (see
// http/listener.ts). The SDK does the same for `keybox run` (packages/sdk/src/client/builtins.ts).
const { createServer: createHttpServer } = process.getBuiltinModule('node:http');
const { createServer: createHttpsServer } = process.getBuiltinModule('node:https');

export const SERVER_VERSION = '0.1.0';
export const AUDIT_HEAD_FILE = 'audit.head';

export interface RunningServer {
  url: string;
  /** Set only on the start that initialised the store. */
  adminToken: string | undefined;
  close(): Promise<void>;
}

export interface ServerIo {
  /** Human-readable start-up lines (never values; the admin token only on first start). */
  notice(line: string): void;
}

/**
 * The composition root: creates the data dir, loads the root key, opens and migrates the store, wires the services
 * and binds the port. The only place that touches the process's files and network.
 */
export async function startServer(config: ServerConfig, io: ServerIo): Promise<RunningServer> {
  // Everything this process creates (database, WAL, token file) is private to its user.
  process.umask(0o077);
  const dataDir = resolve(config.dataDir);
  const fresh = prepareDataDir(dataDir, io);

  const logger = pino({ level: config.logLevel, base: { service: 'keybox' } }, pino.destination(2));
  const store = await openStore(config.db, dataDir, {
    // Like PostgreSQL after a failed fsync: stop, and let the restart recover from the WAL.
    onDurabilityLost: (error) => {
      logger.fatal({ err: error }, 'the database can no longer be synced to disk; stopping');
      process.exit(1);
    },
    onWarning: (message) => logger.warn(message),
  });
  const clock = systemClock;
  let root: RootKey;
  let services: Services;
  let adminToken: string | undefined;
  try {
    // Once per database, even when replicas start together: the data keys, the built-in policies, the first token.
    ({ root, services, adminToken } = await store.exclusive(async () => {
      const root = await rootKeyFor(store, dataDir, config);
      const keyring = await openKeyring(store.db, root, clock);
      const services = createServices({
        db: store.db,
        dialect: store.dialect,
        storeChanges: store.changes,
        onFolderChanged: store.onFolderChanged?.bind(store),
        keyring,
        clock,
        auditHeadFile: join(dataDir, AUDIT_HEAD_FILE),
        auditSink: config.auditFile === undefined ? undefined : openAuditSink(config.auditFile),
        onAuditSinkError: (error) => logger.error({ err: error }, 'could not stream audit entries to --audit-file'),
        snapshot: store.snapshot?.bind(store),
        dataDir,
        version: SERVER_VERSION,
      });
      await services.policies.ensureBuiltins();
      return { root, services, adminToken: await createFirstAdminToken(services, config) };
    }));
  } catch (error) {
    await store.close();
    throw error;
  }
  if (root.warning !== undefined) io.notice(`warning: ${root.warning}`);
  if (root.created)
    io.notice(`created root key ${root.path ?? ''} (0600); back it up: without it nothing can be decrypted`);

  // The web UI's files sit beside the built server: dist/web-ui, from src/web/app (dist/web is tsc's, for the
  // server code in src/web, and is never served).
  const webRoot = config.webUi ? fileURLToPath(new URL('./web-ui/', import.meta.url)) : undefined;
  const app = createApp({ ...services, logger, clock, version: SERVER_VERSION, webRoot });
  // Expired logins are kept a week (for lookups and the audit trail's token ids), then deleted, hourly.
  const purgeTokens = () => {
    const cutoff = new Date(clock.now().getTime() - 7 * 86400_000).toISOString();
    services.tokens.purge(cutoff).catch((error: unknown) => logger.warn({ err: error }, 'token purge failed'));
  };
  purgeTokens();
  const purgeTimer = setInterval(purgeTokens, 3600_000);
  purgeTimer.unref();
  const tls = config.tlsCert !== undefined && config.tlsKey !== undefined;
  const listener = createListener(app, { ...services, logger, version: SERVER_VERSION });
  const server = tls
    ? createHttpsServer(
        {
          cert: readFileSync(config.tlsCert),
          key: readFileSync(config.tlsKey),
          minVersion: 'TLSv1.2' as const,
          // Mutual TLS: only clients with a certificate from this CA get as far as HTTP.
          ...(config.tlsClientCa === undefined
            ? {}
            : { ca: readFileSync(config.tlsClientCa), requestCert: true, rejectUnauthorized: true }),
        },
        listener,
      )
    : createHttpServer(listener);
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolveListen();
    });
  }).catch(async (error: NodeJS.ErrnoException) => {
    await store.close();
    throw new AppError(
      'UNAVAILABLE',
      error.code === 'EADDRINUSE'
        ? `${config.host}:${config.port} is already in use`
        : `cannot listen on ${config.host}:${config.port}: ${error.code ?? error.message}`,
    );
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${tls ? 'https' : 'http'}://${host}:${address.port}`;

  if (fresh) io.notice(`initialised data dir ${dataDir}`);
  if (adminToken !== undefined) {
    io.notice('admin token (shown once; store it now):');
    io.notice(`  export KEYBOX_ADDR=${url} KEYBOX_TOKEN=${adminToken}`);
    if (config.initTokenFile !== undefined) io.notice(`  also written to ${config.initTokenFile} (0600)`);
  }
  const pidFile = join(dataDir, PID_FILE);
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  // Last, so that a script waiting for this line has everything above it.
  io.notice(`listening on ${url} (store: ${store.describe})`);

  let closing: Promise<void> | undefined;
  return {
    url,
    adminToken,
    close() {
      clearInterval(purgeTimer);
      closing ??= new Promise<void>((done) => {
        server.close(() => done());
        if ('closeIdleConnections' in server) server.closeIdleConnections();
      })
        .then(() => services.auditLog.settled())
        .then(() => store.close())
        .then(() => removePidFile(pidFile));
      return closing;
    },
  };
}

/**
 * The root key, from KEYBOX_MASTER_KEY, --master-key-file or DATA_DIR/keybox.key. A data dir without a key file gets
 * a new key only for a database that has no data keys yet: a second server on a shared PostgreSQL database, started
 * with an empty data dir, must be given the first one's key, not make its own (that would then fail to unwrap).
 */
async function rootKeyFor(store: Store, dataDir: string, config: ServerConfig): Promise<RootKey> {
  const options = { dataDir, masterKey: config.masterKey, masterKeyFile: config.masterKeyFile };
  const fromDataDir = (config.masterKey ?? '') === '' && (config.masterKeyFile ?? '') === '';
  if (fromDataDir && !existsSync(join(dataDir, ROOT_KEY_FILE))) {
    const keyed = await store.db.selectFrom('data_keys').select('root_key_id').limit(1).executeTakeFirst();
    if (keyed !== undefined) {
      throw new AppError(
        'INVALID_INPUT',
        `the database (${store.describe}) already holds data sealed with root key ${keyed.root_key_id}, and ` +
          `${join(dataDir, ROOT_KEY_FILE)} does not exist: give this server that key (copy keybox.key from the ` +
          'first server, or use KEYBOX_MASTER_KEY or --master-key-file)',
      );
    }
  }
  return loadRootKey(options);
}

/** On a store with no token at all: the first admin token (printed once by the caller, and to --init-token-file). */
async function createFirstAdminToken(services: Services, config: ServerConfig): Promise<string | undefined> {
  if ((await services.tokens.count()) !== 0) return undefined;
  const initAudit: TxAudit = async (trx, details) => {
    const records = await services.auditLog.appendIn(trx, [
      {
        actor: 'system:init',
        actorType: 'system',
        sourceIp: '',
        userAgent: '',
        action: 'token.create',
        resource: 'token:admin',
        outcome: 'success',
        requestId: 'init',
        details,
      },
    ]);
    return (durable) => void services.auditLog.publishedWhen(records, durable).catch(() => undefined);
  };
  const created = await services.tokens.create(
    { name: 'admin', createdBy: 'init', policies: ['admin'] },
    { attach: services.policies.attach, audit: initAudit },
  );
  if (config.initTokenFile !== undefined) {
    writeFileSync(config.initTokenFile, `${created.token}\n`, { mode: 0o600, flag: 'wx' });
  }
  return created.token;
}

/** Removes the pid file if it is still ours (replicas on PostgreSQL may share a data dir). */
function removePidFile(file: string): void {
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
  } catch {
    // Gone already.
  }
}

/** Creates the data dir 0700, or checks an existing one. Returns whether it was new or empty. */
function prepareDataDir(dataDir: string, io: ServerIo): boolean {
  let fresh = false;
  try {
    const stat = statSync(dataDir);
    if (!stat.isDirectory()) throw new AppError('INVALID_INPUT', `--data-dir ${dataDir} is not a directory`);
    fresh = readdirSync(dataDir).length === 0;
    if (fresh) chmodSync(dataDir, 0o700);
    else if ((stat.mode & 0o077) !== 0) {
      io.notice(`warning: data dir ${dataDir} has mode ${(stat.mode & 0o777).toString(8)}; it should be 0700`);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
    fresh = true;
  }
  return fresh;
}

/** The `--audit-file` stream: JSON lines appended to a 0600 file, or stdout for `-`. */
function openAuditSink(target: string): (line: string) => void {
  // stdout may be a non-blocking pipe: let the stream buffer rather than write part of a line.
  if (target === '-') return (line) => void process.stdout.write(line);
  const fd = openSync(target, 'a', 0o600);
  return (line) => {
    const bytes = Buffer.from(line, 'utf8');
    for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done);
  };
}
