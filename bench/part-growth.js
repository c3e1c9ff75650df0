import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { getRequest, runLoad } from './http-load.js';
import {
  BENCH,
  NODE,
  bulkReadPath,
  createApi,
  createProject,
  freePort,
  makeSecrets,
  seedFolder,
  startKeybox,
  waitHealthy,
} from './keybox-api.js';
import { check, fmt, info, table } from './report.js';
import { makeTempDir, rssMiB, startServer, stopProcess } from './sandbox.js';
import { median } from './stats.js';

/*
 * The same server with 1k, 10k and 100k secrets in the store, always 20 per folder (50 to 5,000 folders), seeded
 * through the batch API (one transaction per folder). At each size: start-up time (spawn until GET /healthz answers),
 * idle RSS, bulk read latency at a fixed moderate rate over random folders, and RSS after that load. The reference
 * is a bare node:http server on the same runtime, measured the same way.
 */

const PER_FOLDER = 20;
const READ_RATE = 200;
const READ_CONNECTIONS = 10;
const CEILING = join(BENCH, 'ceiling-server.js');

export async function benchGrowth({ quick }) {
  const sizes = quick ? [1000, 10000] : [1000, 10000, 100000];
  const t = quick ? { starts: 2, warm: 1000, read: 2000 } : { starts: 5, warm: 2000, read: 5000 };
  const dir = makeTempDir('growth');
  const dataDir = join(dir, 'data');
  let server = await startKeybox(dataDir);
  const token = server.token;
  let api = createApi(server.url, token);
  const folderPath = (i) => `/app/f${String(i).padStart(5, '0')}`;
  const readLoad = (origin, folders, durationMs) =>
    runLoad({
      engine: 'paced',
      origin,
      connections: READ_CONNECTIONS,
      durationMs,
      rate: READ_RATE,
      pick: 'random',
      requests: Array.from({ length: folders }, (_, i) =>
        getRequest(bulkReadPath('growth', 'prod', folderPath(i)), token),
      ),
    });
  const rows = {};
  try {
    await createProject(api, 'growth');
    let seeded = 0;
    const seedStart = performance.now();
    for (const size of sizes) {
      const folders = size / PER_FOLDER;
      let next = seeded;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < folders) {
            const i = next++;
            await seedFolder(api, 'growth', 'prod', folderPath(i), makeSecrets(PER_FOLDER, `v${i}`));
          }
        }),
      );
      seeded = folders;
      const seedSeconds = (performance.now() - seedStart) / 1000;
      api.close();
      await stopProcess(server.child);

      const starts = [];
      for (let k = 0; k < t.starts; k++) {
        if (k > 0) await stopProcess(server.child);
        const port = await freePort();
        const since = performance.now();
        const [started, ms] = await Promise.all([
          startKeybox(dataDir, { port }),
          waitHealthy(`http://127.0.0.1:${port}`, since),
        ]);
        server = started;
        starts.push(ms);
      }
      api = createApi(server.url, token);
      await sleep(1000);
      const idle = rssMiB(server.pid);
      // One request the HTTP framework answers (the health check and the reads are answered before it): it loads
      // what the framework needs, Node's fetch implementation among it, which a server in use will have loaded.
      await api.request('GET', '/api/v1/projects');
      await sleep(500);
      const afterApp = rssMiB(server.pid);
      await readLoad(server.url, folders, t.warm);
      const read = await readLoad(server.url, folders, t.read);
      rows[size] = {
        folders,
        seedSeconds,
        startMs: median(starts),
        starts,
        idleRss: idle,
        afterAppRss: afterApp,
        loadedRss: rssMiB(server.pid),
        read,
      };
    }

    const bare = await measureBare(dir, t, (origin) => readLoad(origin, 1, t.read));
    return summarise(sizes, rows, bare);
  } finally {
    api.close();
    await stopProcess(server.child);
  }
}

/** The bare node:http server: start-up, idle RSS, and RSS after the same read load. */
async function measureBare(dir, t, load) {
  const bodyFile = join(dir, 'bare-body.json');
  writeFileSync(bodyFile, JSON.stringify({ folders: [{ path: '/app', secrets: makeSecrets(PER_FOLDER) }] }));
  const starts = [];
  let bare;
  for (let k = 0; k < t.starts; k++) {
    if (bare !== undefined) await stopProcess(bare.child);
    const port = await freePort();
    const since = performance.now();
    const [started, ms] = await Promise.all([
      startServer(NODE, [CEILING, bodyFile, String(port)]),
      waitHealthy(`http://127.0.0.1:${port}`, since),
    ]);
    bare = started;
    starts.push(ms);
  }
  try {
    await sleep(1000);
    const idleRss = rssMiB(bare.pid);
    await load(bare.url);
    return { startMs: median(starts), starts, idleRss, loadedRss: rssMiB(bare.pid) };
  } finally {
    await stopProcess(bare.child);
  }
}

function summarise(sizes, rows, bare) {
  const first = rows[sizes[0]];
  const last = rows[sizes[sizes.length - 1]];
  const lastLabel = `${sizes[sizes.length - 1] / 1000}k`;
  const checks = [
    check(
      `growth: bulk read p50 at ${lastLabel} / at 1k secrets`,
      last.read.latencyMs.p50 / first.read.latencyMs.p50,
      '<=',
      1.5,
      `${fmt(last.read.latencyMs.p50)} ms / ${fmt(first.read.latencyMs.p50)} ms at ${READ_RATE} req/s`,
    ),
    check(
      'growth: idle RSS − bare node:http idle RSS (MiB), 1k secrets',
      first.idleRss - bare.idleRss,
      '<=',
      25,
      `${fmt(first.idleRss)} − ${fmt(bare.idleRss)} MiB`,
    ),
    info(
      'growth: RSS after one request the HTTP framework answers − bare node:http idle RSS (MiB), 1k secrets',
      first.afterAppRss - bare.idleRss,
      `${fmt(first.afterAppRss)} − ${fmt(bare.idleRss)} MiB`,
    ),
    check(
      `growth: RSS after reads − bare node:http after the same load (MiB), ${lastLabel} secrets`,
      last.loadedRss - bare.loadedRss,
      '<=',
      80,
      `${fmt(last.loadedRss)} − ${fmt(bare.loadedRss)} MiB`,
    ),
  ];
  const body = sizes.map((size) => {
    const r = rows[size];
    return [
      `${size / 1000}k (${r.folders} folders)`,
      fmt(r.read.latencyMs.p50),
      fmt(r.read.latencyMs.p99),
      (r.read.latencyMs.p50 / first.read.latencyMs.p50).toFixed(2),
      fmt(r.idleRss),
      fmt(r.loadedRss),
      `+${fmt(r.idleRss - bare.idleRss)} / +${fmt(r.loadedRss - bare.loadedRss)}`,
      fmt(r.startMs),
      (r.startMs / bare.startMs).toFixed(2),
    ];
  });
  body.push(['bare node:http', '', '', '', fmt(bare.idleRss), fmt(bare.loadedRss), '', fmt(bare.startMs), '1.00']);
  return {
    results: { readRate: READ_RATE, sizes: rows, bare },
    checks,
    tables: [
      `growth: bulk read of a random 20-secret folder at ${READ_RATE} req/s (${READ_CONNECTIONS} connections); RSS in MiB; start-up = spawn until /healthz answers`,
      table(
        [
          'secrets in store',
          'p50 ms',
          'p99 ms',
          'p50 vs 1k',
          'idle RSS',
          'RSS after reads',
          'vs bare (idle / after)',
          'start-up ms',
          'start-up vs bare',
        ],
        body,
      ),
    ],
  };
}
