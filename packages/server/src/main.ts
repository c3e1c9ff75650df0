import { chmodSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { AppError } from './core/app-error.js';
import type { TxAudit } from './core/audit/tx-audit.js';
import { systemClock } from './core/clock.js';
import { openKeyring } from './core/crypto/keyring.js';
import { loadRootKey } from './core/crypto/root-key.js';
import { openSqliteStore } from './core/store/open-sqlite-store.js';
import { createServices } from './services.js';
import type { ServerConfig } from './config.js';
import { createApp } from './http/app.js';
import { createListener } from './http/listener.js';

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
  if (config.db !== undefined && config.db.startsWith('postgres')) {
    throw new AppError('INVALID_INPUT', 'PostgreSQL is not supported yet in this build; omit --db to use SQLite');
  }
  // Everything this process creates (database, WAL, token file) is private to its user.
  process.umask(0o077);
  const dataDir = resolve(config.dataDir);
  const fresh = prepareDataDir(dataDir, io);

  const root = loadRootKey({ dataDir, masterKey: config.masterKey, masterKeyFile: config.masterKeyFile });
  if (root.warning !== undefined) io.notice(`warning: ${root.warning}`);
  if (root.created)
    io.notice(`created root key ${root.path ?? ''} (0600); back it up: without it nothing can be decrypted`);

  const logger = pino({ level: config.logLevel, base: { service: 'keybox' } }, pino.destination(2));
  const store = await openSqliteStore(dataDir, {
    // Like PostgreSQL after a failed fsync: stop, and let the restart recover from the WAL.
    onDurabilityLost: (error) => {
      logger.fatal({ err: error }, 'the database can no longer be synced to disk; stopping');
      process.exit(1);
    },
  });
  const clock = systemClock;
  const keyring = await openKeyring(store.db, root, clock);
  const services = createServices({
    db: store.db,
    dialect: store.dialect,
    storeChanges: store.changes,
    keyring,
    clock,
    auditHeadFile: join(dataDir, AUDIT_HEAD_FILE),
    auditSink: config.auditFile === undefined ? undefined : openAuditSink(config.auditFile),
    onAuditSinkError: (error) => logger.error({ err: error }, 'could not stream audit entries to --audit-file'),
    version: SERVER_VERSION,
  });
  await services.policies.ensureBuiltins();

  let adminToken: string | undefined;
  if ((await services.tokens.count()) === 0) {
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
    adminToken = created.token;
    if (config.initTokenFile !== undefined) {
      writeFileSync(config.initTokenFile, `${adminToken}\n`, { mode: 0o600, flag: 'wx' });
    }
  }

  const app = createApp({ ...services, logger, clock, version: SERVER_VERSION });
  // Expired logins are kept a week (for lookups and the audit trail's token ids), then deleted, hourly.
  const purgeTokens = () => {
    const cutoff = new Date(clock.now().getTime() - 7 * 86400_000).toISOString();
    services.tokens.purge(cutoff).catch((error: unknown) => logger.warn({ err: error }, 'token purge failed'));
  };
  purgeTokens();
  const purgeTimer = setInterval(purgeTokens, 3600_000);
  purgeTimer.unref();
  const tls = config.tlsCert !== undefined && config.tlsKey !== undefined;
  const listener = createListener(app, { ...services, logger });
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
  // Last, so that a script waiting for this line has everything above it.
  io.notice(`listening on ${url} (store: sqlite ${dataDir}/keybox.db)`);

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
        .then(() => store.close());
      return closing;
    },
  };
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
