import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import { runLoad } from './http-load.js';
import { createApi, createProject, makeSecrets, secretsPath, seedFolder, startKeybox } from './keybox-api.js';
import { fmt, table } from './report.js';
import { makeTempDir, stopProcess } from './sandbox.js';

/*
 * Durable writes: PUT of one secret per request, by one writer and by 8 concurrent writers (each in its own folder of
 * 20 secrets, so every write also rebuilds and re-encrypts a 20-secret bundle). The reference is the rate of durable
 * single-row commits that node:sqlite itself reaches on the same disk with keybox's settings (WAL, synchronous=FULL).
 */

const WRITERS = 8;

export async function benchWrites({ quick }) {
  const durationMs = quick ? 2000 : 5000;
  const dir = makeTempDir('writes');
  const commitsPerSecond = rawCommitRate(join(dir, 'raw.db'), quick ? 1000 : 3000);
  const server = await startKeybox(join(dir, 'data'));
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
    return summarise({ commitsPerSecond, single, eight });
  } finally {
    api.close();
    await stopProcess(server.child);
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

function summarise({ commitsPerSecond, single, eight }) {
  const row = (label, r) => [
    label,
    fmt(r.rps),
    fmt(r.latencyMs.p50),
    fmt(r.latencyMs.p99),
    (r.rps / commitsPerSecond).toFixed(2),
  ];
  return {
    results: { rawSqliteCommitsPerSecond: commitsPerSecond, single, eight },
    checks: [],
    tables: [
      'writes: durable PUT of one secret (no target set; the reference is raw node:sqlite commits on the same disk)',
      table(
        ['writer', 'writes/s', 'p50 ms', 'p99 ms', 'vs raw commits/s'],
        [
          ['raw node:sqlite autocommit insert (WAL, synchronous=FULL)', fmt(commitsPerSecond), '', '', '1.00'],
          row('keybox PUT, 1 writer', single),
          row(`keybox PUT, ${WRITERS} concurrent writers`, eight),
        ],
      ),
      `${WRITERS} writers / 1 writer: ${(eight.rps / single.rps).toFixed(2)}x`,
    ],
  };
}
