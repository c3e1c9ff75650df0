import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { startCluster } from '../scripts/pg-cluster.js';
import { runLoad } from './http-load.js';
import { createApi, createProject, makeSecrets, secretsPath, seedFolder, startKeybox } from './keybox-api.js';
import { fmt, table } from './report.js';
import { makeTempDir, stopProcess } from './sandbox.js';

/*
 * Durable writes: PUT of one secret per request, by one writer and by 8 concurrent writers (each in its own folder of
 * 20 secrets, so every write also rebuilds and re-encrypts a 20-secret bundle). The reference is the rate of durable
 * single-row commits that node:sqlite itself reaches on the same disk with keybox's settings (WAL, synchronous=FULL).
 * The same on PostgreSQL (a cluster started for the run, durable defaults), against raw single-row commits through
 * one node-postgres connection: every keybox write there is one transaction under the writer lock, several round
 * trips long.
 */

const WRITERS = 8;

export async function benchWrites({ quick }) {
  const durationMs = quick ? 2000 : 5000;
  const dir = makeTempDir('writes');
  const commitsPerSecond = rawCommitRate(join(dir, 'raw.db'), quick ? 1000 : 3000);
  const sqlite = await measureWrites(await startKeybox(join(dir, 'data')), durationMs);
  // PostgreSQL as in production: a cluster of its own from this machine's binaries, fsync and synchronous_commit on.
  const cluster = await startCluster({ durable: true });
  try {
    const pgCommitsPerSecond = await rawPostgresCommitRate(cluster.url, quick ? 1000 : 3000);
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query('create database keybox');
    await admin.end();
    const postgres = await measureWrites(
      await startKeybox(join(dir, 'data-pg'), { db: cluster.urlOf('keybox') }),
      durationMs,
    );
    return summarise({ commitsPerSecond, sqlite, pgCommitsPerSecond, postgres });
  } finally {
    await cluster.stop();
  }
}

/** One writer, then 8 concurrent writers, against `server`; stops it. */
async function measureWrites(server, durationMs) {
  const api = createApi(server.url, server.token);
  try {
    await createProject(api, 'bench');
    for (let c = 0; c < WRITERS; c++) await seedFolder(api, 'bench', 'dev', `/w/${c}`, makeSecrets(20));
    const put = (tag) => ({
      method: 'PUT',
      path: `/api/v1/projects/bench/environments/dev/secrets/SECRET_0001?path=%2Fw%2F{c}`,
      headers: { authorization: `Bearer ${server.token}` },
      body: `{"value":"${tag}-{c}-{i}-${randomBytes(18).toString('base64url')}"}`,
    });
    const origin = server.url;
    const single = await runLoad({ engine: 'closed', origin, connections: 1, durationMs, requests: [put('one')] });
    const eight = await runLoad({
      engine: 'closed',
      origin,
      connections: WRITERS,
      durationMs,
      requests: [put('many')],
    });

    // Every 2xx must be a new version: no write lost, none merged.
    let versions = 0;
    for (let c = 0; c < WRITERS; c++) {
      const { secrets } = (await api.request('GET', secretsPath('bench', 'dev', `/w/${c}`))).json();
      versions += secrets.find((s) => s.name === 'SECRET_0001').version - 1;
    }
    if (versions !== single.completed + eight.completed) {
      throw new Error(`writes: ${single.completed + eight.completed} answered 2xx but ${versions} versions were made`);
    }
    return { single, eight };
  } finally {
    api.close();
    await stopProcess(server.child);
  }
}

/** Durable autocommit inserts of a 100-byte bytea over one connection (node-postgres, as keybox uses), for `ms`. */
async function rawPostgresCommitRate(url, ms) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('create table t (id bigserial primary key, v bytea not null)');
    const blob = randomBytes(100);
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < ms) {
      await client.query('insert into t (v) values ($1)', [blob]);
      n++;
    }
    return n / ((performance.now() - start) / 1000);
  } finally {
    await client.end();
  }
}

/** Durable autocommit inserts of a 100-byte blob into a fresh database with keybox's pragmas, for `ms`. */
function rawCommitRate(file, ms) {
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  const blob = randomBytes(100);
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < ms) {
    insert.run(blob);
    n++;
  }
  const rate = n / ((performance.now() - start) / 1000);
  db.close();
  return rate;
}

function summarise({ commitsPerSecond, sqlite, pgCommitsPerSecond, postgres }) {
  const row = (label, r, reference) => [
    label,
    fmt(r.rps),
    fmt(r.latencyMs.p50),
    fmt(r.latencyMs.p99),
    (r.rps / reference).toFixed(2),
  ];
  return {
    results: {
      rawSqliteCommitsPerSecond: commitsPerSecond,
      single: sqlite.single,
      eight: sqlite.eight,
      rawPostgresCommitsPerSecond: pgCommitsPerSecond,
      postgres,
    },
    checks: [],
    tables: [
      'writes: durable PUT of one secret, audited (no target set; the reference is raw durable commits of each store on the same disk)',
      table(
        ['writer', 'writes/s', 'p50 ms', 'p99 ms', 'vs raw commits/s'],
        [
          ['raw node:sqlite autocommit insert (WAL, synchronous=FULL)', fmt(commitsPerSecond), '', '', '1.00'],
          row('keybox PUT on SQLite, 1 writer', sqlite.single, commitsPerSecond),
          row(`keybox PUT on SQLite, ${WRITERS} concurrent writers`, sqlite.eight, commitsPerSecond),
          ['raw PostgreSQL autocommit insert (one connection, fsync on)', fmt(pgCommitsPerSecond), '', '', '1.00'],
          row('keybox PUT on PostgreSQL, 1 writer', postgres.single, pgCommitsPerSecond),
          row(`keybox PUT on PostgreSQL, ${WRITERS} concurrent writers`, postgres.eight, pgCommitsPerSecond),
        ],
      ),
      `${WRITERS} writers / 1 writer: SQLite ${(sqlite.eight.rps / sqlite.single.rps).toFixed(2)}x, ` +
        `PostgreSQL ${(postgres.eight.rps / postgres.single.rps).toFixed(2)}x; ` +
        `PostgreSQL / SQLite, 1 writer: ${(postgres.single.rps / sqlite.single.rps).toFixed(2)}x, ` +
        `${WRITERS} writers: ${(postgres.eight.rps / sqlite.eight.rps).toFixed(2)}x`,
    ],
  };
}
