import { bool, parseCommand, str, type CommandSpec } from '../args.js';
import { CliError } from '../errors.js';
import { note, printJson, printTable, writeStderr } from '../output/print.js';

export const spec: CommandSpec = {
  name: 'keybox server',
  usage: [
    'keybox server [--data-dir DIR] [--listen HOST:PORT] [options]',
    'keybox server migrate --data-dir DIR --db postgres://… [--json]   (see keybox server migrate --help)',
    'keybox server restore --data-dir DIR --from BACKUP [--dry-run] [--json]   (see keybox server restore --help)',
  ],
  summary: 'Start the Keybox server: embedded SQLite by default, PostgreSQL with --db for several replicas.',
  details: [
    'An empty or missing --data-dir is initialised: created 0700, with a root key file keybox.key (0600) unless',
    'KEYBOX_MASTER_KEY or --master-key-file supplies the key. The first admin token is printed once, to stderr.',
    'Listens on 127.0.0.1 by default; a non-loopback address needs --tls-cert/--tls-key or --insecure-listen.',
    '--db postgres://USER@HOST:PORT/DB stores everything in PostgreSQL instead, so that several servers can share',
    'it; every one needs the same root key. Keep the password out of the command line: PGPASSWORD, PGPASSFILE',
    '(~/.pgpass) and the other PG* variables are read, or put the whole URL in KEYBOX_DB.',
    'Environment: KEYBOX_DATA_DIR, KEYBOX_LISTEN, KEYBOX_DB, KEYBOX_MASTER_KEY, KEYBOX_MASTER_KEY_FILE, KEYBOX_TLS_CERT,',
    'KEYBOX_TLS_KEY, KEYBOX_TLS_CLIENT_CA, KEYBOX_AUDIT_FILE, KEYBOX_LOG_LEVEL, KEYBOX_WEB_UI=off (flags win).',
    "The web admin UI is served at / (sign in with a user's password or a token); --no-web-ui turns it off.",
  ],
  options: {
    'data-dir': { type: 'string', value: 'DIR', description: 'where the store and root key live (default ./.keybox)' },
    listen: { type: 'string', value: 'HOST:PORT', description: 'address to listen on (default 127.0.0.1:8210)' },
    db: { type: 'string', value: 'URL', description: 'postgres:// URL; omit for the embedded SQLite store' },
    'master-key-file': { type: 'string', value: 'FILE', description: 'read the root key from FILE' },
    'init-token-file': {
      type: 'string',
      value: 'FILE',
      description: 'on first start, also write the admin token to FILE (0600)',
    },
    'tls-cert': { type: 'string', value: 'FILE', description: 'TLS certificate chain (PEM)' },
    'tls-key': { type: 'string', value: 'FILE', description: 'TLS private key (PEM)' },
    'tls-client-ca': { type: 'string', value: 'FILE', description: 'require client certificates from this CA (mTLS)' },
    'audit-file': {
      type: 'string',
      value: 'FILE',
      description: 'also append audit entries as JSON lines to FILE (0600), - for stdout',
    },
    'insecure-listen': { type: 'boolean', description: 'allow a non-loopback address without TLS' },
    'no-web-ui': { type: 'boolean', description: 'do not serve the web admin UI at / (the API is served either way)' },
    'log-level': { type: 'string', value: 'LEVEL', description: 'fatal, error, warn, info (default), debug' },
  },
  examples: [
    'keybox server --data-dir /var/lib/keybox',
    'keybox server --listen 0.0.0.0:8210 --tls-cert c.pem --tls-key k.pem',
    'PGPASSFILE=/etc/keybox/pgpass keybox server --db postgres://keybox@db.internal/keybox --master-key-file /etc/keybox/root.key',
  ],
};

export const migrateSpec: CommandSpec = {
  name: 'keybox server migrate',
  usage: ['keybox server migrate --data-dir DIR --db postgres://USER@HOST:PORT/DB [--json]'],
  summary: "Copy a data dir's embedded SQLite store into an empty PostgreSQL database.",
  details: [
    'Every table is copied row for row, values still encrypted (nothing is decrypted: the data dir keeps its root',
    'key, and the servers then start with it and --db). The source is read in one transaction and the target',
    'written in one; row counts and the audit chain head are checked before the copy is committed, so a failed',
    'migration leaves the target as empty as it was. Stop the server first: its writes would wait for the copy.',
    'A target that holds any row is refused (CONFLICT). Environment: KEYBOX_DATA_DIR, KEYBOX_DB, PG*.',
  ],
  options: {
    'data-dir': {
      type: 'string',
      value: 'DIR',
      description: 'the data dir whose keybox.db is copied (default ./.keybox)',
    },
    db: { type: 'string', value: 'URL', description: 'the empty PostgreSQL database to copy into' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  examples: [
    'PGPASSFILE=/etc/keybox/pgpass keybox server migrate --data-dir /var/lib/keybox --db postgres://keybox@db/keybox',
  ],
};

export const restoreSpec: CommandSpec = {
  name: 'keybox server restore',
  usage: ['keybox server restore --data-dir DIR --from BACKUP [--master-key-file FILE] [--dry-run] [--json]'],
  summary: "Put a backup in place of a stopped server's SQLite store, after checking it.",
  details: [
    'BACKUP is a file from keybox backup create (or a copy of keybox.db). It is checked on a private copy first:',
    "SQLite's integrity check, a schema this version can open (an older one is migrated), the root key unwrapping",
    'its data keys, and its audit chain. Only then is the current keybox.db moved aside (keybox.db.before-restore-',
    '<time>, never deleted) and the copy put in its place. The restore is recorded as the next audit entry,',
    'naming the backup and the head of the chain it replaced. The server must be stopped (CONFLICT otherwise).',
    "The root key is the data dir's keybox.key unless KEYBOX_MASTER_KEY or --master-key-file gives it; a backup",
    'holds no key. --dry-run checks and reports, and changes nothing.',
  ],
  options: {
    'data-dir': { type: 'string', value: 'DIR', description: 'the data dir to restore into (default ./.keybox)' },
    from: { type: 'string', value: 'BACKUP', description: 'the backup file' },
    'master-key-file': { type: 'string', value: 'FILE', description: 'the root key the backup was made with' },
    'dry-run': { type: 'boolean', description: 'check the backup against the key; change nothing' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  examples: ['keybox server restore --data-dir /var/lib/keybox --from keybox-backup-20261204T050000Z.db --dry-run'],
};

async function restore(argv: string[]): Promise<number> {
  const { values } = parseCommand(restoreSpec, argv);
  const env = process.env;
  const from = str(values, 'from');
  if (from === undefined) throw new CliError('USAGE', 'keybox server restore needs --from BACKUP');
  const server = await import('@keybox/server');
  let result;
  try {
    result = await server.restoreBackup({
      dataDir: str(values, 'data-dir') ?? (env['KEYBOX_DATA_DIR'] || undefined) ?? '.keybox',
      from,
      masterKey: env['KEYBOX_MASTER_KEY'] || undefined,
      masterKeyFile: str(values, 'master-key-file') ?? (env['KEYBOX_MASTER_KEY_FILE'] || undefined),
      dryRun: bool(values, 'dry-run'),
    });
  } catch (error) {
    if (error instanceof server.AppError) throw new CliError(error.code, error.message);
    throw error;
  }
  if (bool(values, 'json')) {
    printJson(result);
    return 0;
  }
  const what =
    `${result.counts.projects} project(s), ${result.counts.folders} folder(s), ${result.counts.secrets} secret(s), ` +
    `${result.auditEntries} audit entries; root key ${result.rootKeyId}`;
  const made = result.madeBy;
  if (made !== undefined) {
    note(`this server made that backup: audit entry ${made.seq}, ${made.time}, by ${made.actor}`);
  } else {
    note(
      'warning: the current store has no record of making that backup (no backup.create entry with its SHA-256): ' +
        'make sure it comes from where you think; its names, policies and tokens are not signed',
    );
  }
  if (result.dryRun) {
    note(`${result.from} checks out: ${what}. Nothing was changed (--dry-run).`);
    return 0;
  }
  note(`restored ${result.from}: ${what}`);
  if (result.previous !== undefined) note(`the store it replaced is at ${result.previous}`);
  if (result.head !== undefined) note(`audit head after the restore: ${result.head.seq}:${result.head.mac}`);
  return 0;
}

async function migrate(argv: string[]): Promise<number> {
  const { values } = parseCommand(migrateSpec, argv);
  const env = process.env;
  const dataDir = str(values, 'data-dir') ?? (env['KEYBOX_DATA_DIR'] || undefined) ?? '.keybox';
  const url = str(values, 'db') ?? (env['KEYBOX_DB'] || undefined);
  if (url === undefined || !/^postgres(ql)?:\/\//.test(url)) {
    throw new CliError('USAGE', 'keybox server migrate needs --db postgres://… (or KEYBOX_DB)', {
      hint: 'see keybox server migrate --help',
    });
  }
  const server = await import('@keybox/server');
  warnAboutPassword(server, str(values, 'db'));
  const tty = process.stderr.isTTY === true && !bool(values, 'json');
  let result;
  try {
    result = await server.migrateToPostgres({ dataDir, url }, ({ table, copied, total }) => {
      if (tty) writeStderr(`\r\x1b[Kkeybox: copying ${table}: ${copied} / ${total} rows`);
    });
  } catch (error) {
    if (error instanceof server.AppError) throw new CliError(error.code, error.message);
    throw error;
  } finally {
    if (tty) writeStderr('\r\x1b[K');
  }
  if (bool(values, 'json')) {
    printJson(result);
    return 0;
  }
  printTable(
    ['TABLE', 'ROWS'],
    result.tables.filter((t) => t.rows > 0).map((t) => [t.table, t.rows]),
  );
  note(`copied ${result.rows} rows from ${result.source} to postgres ${result.target} in ${result.ms} ms`);
  note(`start every server with --db and this data dir's root key (or KEYBOX_MASTER_KEY / --master-key-file)`);
  return 0;
}

function warnAboutPassword(server: { postgresUrlHasPassword(url: string): boolean }, dbFlag: string | undefined) {
  if (dbFlag !== undefined && server.postgresUrlHasPassword(dbFlag)) {
    note(
      "warning: the password in --db is in this process's command line, which other users of the machine can read; " +
        'use PGPASSWORD, a PGPASSFILE or KEYBOX_DB instead',
    );
  }
}

export async function run(argv: string[]): Promise<number | undefined> {
  if (argv[0] === 'migrate') return migrate(argv.slice(1));
  if (argv[0] === 'restore') return restore(argv.slice(1));
  const { values } = parseCommand(spec, argv);
  const env = process.env;
  const pick = (flag: string, variable: string) => str(values, flag) ?? (env[variable] || undefined);
  // Loaded here and only here: no other command pays for the server's modules.
  const server = await import('@keybox/server');
  const parsed = server.parseServerConfig({
    dataDir: pick('data-dir', 'KEYBOX_DATA_DIR') ?? '.keybox',
    listen: pick('listen', 'KEYBOX_LISTEN'),
    db: pick('db', 'KEYBOX_DB'),
    masterKey: env['KEYBOX_MASTER_KEY'] || undefined,
    masterKeyFile: pick('master-key-file', 'KEYBOX_MASTER_KEY_FILE'),
    initTokenFile: str(values, 'init-token-file'),
    tlsCert: pick('tls-cert', 'KEYBOX_TLS_CERT'),
    tlsKey: pick('tls-key', 'KEYBOX_TLS_KEY'),
    tlsClientCa: pick('tls-client-ca', 'KEYBOX_TLS_CLIENT_CA'),
    auditFile: pick('audit-file', 'KEYBOX_AUDIT_FILE'),
    insecureListen: bool(values, 'insecure-listen'),
    webUi: !(bool(values, 'no-web-ui') || /^(0|off|false|no)$/i.test(env['KEYBOX_WEB_UI'] ?? '')),
    logLevel: pick('log-level', 'KEYBOX_LOG_LEVEL'),
  });
  if (!parsed.ok) {
    throw new CliError('CONFIG_INVALID', parsed.errors.join('\n  '), { hint: 'see keybox server --help' });
  }
  warnAboutPassword(server, str(values, 'db'));
  let running;
  try {
    running = await server.startServer(parsed.config, { notice: note });
  } catch (error) {
    if (error instanceof server.AppError) throw new CliError('CONFIG_INVALID', error.message);
    throw error;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      note(`${signal}: shutting down`);
      void running.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
