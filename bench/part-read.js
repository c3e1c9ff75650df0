import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startCluster } from '../scripts/pg-cluster.js';
import { getRequest, runLoad } from './http-load.js';
import {
  BENCH,
  NODE,
  bulkReadPath,
  createApi,
  createProject,
  makeSecrets,
  seedFolder,
  startKeybox,
} from './keybox-api.js';
import { check, fmt, info, table } from './report.js';
import { cpuMs, makeTempDir, startServer, stopProcess } from './sandbox.js';
import { median } from './stats.js';

/*
 * The bulk read (GET /api/v1/secrets) of one folder of 20 and of 200 secrets, 50 keep-alive connections, and the
 * Vault-compatible read of the same folder (GET /v1/<project>/data/<env>/<folder>, X-Vault-Token), next to the
 * ceiling: a bare node:http server on the same runtime answering every request with the very same bytes, and the
 * audited ceiling: the same server recording each read durably before answering it (audited-ceiling-server.js); and
 * the bulk read of a second keybox server whose store is PostgreSQL (a durable cluster started for the run).
 * Maximum throughput comes from autocannon, alternating the servers round by round; latency at a fixed rate
 * (half the ceiling's maximum) from the paced generator in load-generator.js.
 */

const SIZES = [20, 200];
const CONNECTIONS = 50;
const CEILING = join(BENCH, 'ceiling-server.js');
const AUDITED = join(BENCH, 'audited-ceiling-server.js');
const SERVERS = ['ceiling', 'audited', 'keybox', 'vault', 'postgres'];

export async function benchRead({ quick }) {
  const t = quick
    ? { warm: 1000, max: 2000, rounds: 1, paced: 2000, pacedRounds: 1 }
    : { warm: 2000, max: 4000, rounds: 3, paced: 5000, pacedRounds: 3 };
  const dir = makeTempDir('read');
  const server = await startKeybox(join(dir, 'data'));
  const api = createApi(server.url, server.token);
  // The same server on PostgreSQL (a durable cluster of its own), for comparison: its reads are answered from the
  // same cache, and their audit entries committed to PostgreSQL.
  const cluster = await startCluster({ durable: true });
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query('create database keybox');
  await admin.end();
  const onPg = await startKeybox(join(dir, 'data-pg'), { db: cluster.urlOf('keybox') });
  const pgApi = createApi(onPg.url, onPg.token);
  const results = {};
  try {
    await createProject(api, 'bench');
    await createProject(pgApi, 'bench');
    for (const n of SIZES) {
      const secrets = makeSecrets(n);
      await seedFolder(api, 'bench', 'dev', `/r${n}`, secrets);
      await seedFolder(pgApi, 'bench', 'dev', `/r${n}`, secrets);
    }
    for (const n of SIZES) {
      const path = bulkReadPath('bench', 'dev', `/r${n}`);
      const body = (await api.request('GET', path)).raw;
      const bodyFile = join(dir, `body${n}.json`);
      writeFileSync(bodyFile, body);
      const ceiling = await startServer(NODE, [CEILING, bodyFile]);
      const audited = await startServer(NODE, [AUDITED, bodyFile, join(dir, `audit${n}.log`)]);
      const vaultPath = `/v1/bench/data/dev/r${n}`;
      const vaultBytes = (await (await fetch(`${server.url}${vaultPath}`, { headers: vaultHeaders(server) })).bytes())
        .length;
      try {
        const bulk = getRequest(path, server.token);
        const requests = {
          ceiling: bulk,
          audited: bulk,
          keybox: bulk,
          vault: { method: 'GET', path: vaultPath, headers: vaultHeaders(server) },
          postgres: getRequest(path, onPg.token),
        };
        const targets = {
          ceiling: ceiling.url,
          audited: audited.url,
          keybox: server.url,
          vault: server.url,
          postgres: onPg.url,
        };
        const pids = {
          ceiling: ceiling.pid,
          audited: audited.pid,
          keybox: server.pid,
          vault: server.pid,
          postgres: onPg.pid,
        };
        results[n] = { ...(await measure(targets, pids, requests, t, body.length)), vaultBytes };
      } finally {
        await stopProcess(ceiling.child);
        await stopProcess(audited.child);
      }
    }
  } finally {
    api.close();
    pgApi.close();
    await stopProcess(server.child);
    await stopProcess(onPg.child);
    await cluster.stop();
  }
  return summarise(results);
}

function vaultHeaders(server) {
  return { 'x-vault-token': server.token };
}

async function measure(targets, pids, requests, t, bodyBytes) {
  const load = (engine, who, durationMs, extra = {}) =>
    runLoad({
      engine,
      origin: targets[who],
      connections: CONNECTIONS,
      durationMs,
      requests: [requests[who]],
      ...extra,
    });
  // At a fixed rate, also the server process's CPU time per answered request: unlike p99 on two shared cores, it
  // hardly moves between runs, and it says how much of the machine each read takes (the ceiling's and keybox's side
  // by side). For the PostgreSQL server, PostgreSQL's own processes are not counted.
  const pacedLoad = async (who, durationMs, rate) => {
    const before = cpuMs(pids[who]);
    const result = await load('paced', who, durationMs, { rate });
    const after = cpuMs(pids[who]);
    const per = (ms) => (ms * 1000) / result.completed;
    return { ...result, cpuUs: per(after.all - before.all), mainCpuUs: per(after.main - before.main) };
  };

  for (const who of SERVERS) await load('autocannon', who, t.warm);
  const max = Object.fromEntries(SERVERS.map((who) => [who, []]));
  for (let round = 0; round < t.rounds; round++) {
    // Each round starts one server further on, so that every server takes every place in the order.
    const order = SERVERS.map((_, i) => SERVERS[(i + round) % SERVERS.length]);
    for (const who of order) max[who].push(await load('autocannon', who, t.max));
  }
  const best = (who) => ({
    rps: median(max[who].map((r) => r.rps)),
    p50: median(max[who].map((r) => r.latencyMs.p50)),
    p99: median(max[who].map((r) => r.latencyMs.p99)),
  });
  const top = Object.fromEntries(SERVERS.map((who) => [who, best(who)]));

  // The fixed rate the issue asks for (half the ceiling's maximum), and, to see latency where keybox is not
  // saturated, half of keybox's own maximum. The p99 of one 5 s run moves several-fold from one run to the next on
  // this machine (the same server, back to back: 16 and 83 ms), so the fixed rate the target is about is measured
  // in rounds like the maximum (each round one server further on) and each figure is the median of the rounds.
  const paced = {};
  for (const [name, rate, rounds] of [
    ['halfCeiling', Math.round(top.ceiling.rps / 2), t.pacedRounds],
    ['halfKeybox', Math.round(top.keybox.rps / 2), 1],
  ]) {
    const runs = Object.fromEntries(SERVERS.map((who) => [who, []]));
    for (let round = 0; round < rounds; round++) {
      const order = SERVERS.map((_, i) => SERVERS[(i + round) % SERVERS.length]);
      for (const who of order) runs[who].push(await pacedLoad(who, t.paced, rate));
    }
    paced[name] = { rate, rounds };
    for (const who of SERVERS) paced[name][who] = pacedMedian(runs[who]);
  }
  return { bodyBytes, max: top, maxRuns: max, paced };
}

/** The median of each figure over the rounds at one rate; kept up only if every round kept up. */
function pacedMedian(runs) {
  return {
    rps: median(runs.map((r) => r.rps)),
    latencyMs: { p50: median(runs.map((r) => r.latencyMs.p50)), p99: median(runs.map((r) => r.latencyMs.p99)) },
    keptUp: runs.every((r) => r.keptUp),
    keptUpRounds: runs.filter((r) => r.keptUp).length,
    backlog: Math.max(...runs.map((r) => r.backlog ?? 0)),
    p99Runs: runs.map((r) => r.latencyMs.p99),
    cpuUs: median(runs.map((r) => r.cpuUs)),
    mainCpuUs: median(runs.map((r) => r.mainCpuUs)),
  };
}

/** autocannon records whole milliseconds: 0 means under 1 ms. */
function ms(value) {
  return value === 0 ? '< 1' : fmt(value);
}

function summarise(results) {
  const checks = [];
  const rows = [];
  const pacedRows = [];
  for (const n of SIZES) {
    const r = results[n];
    const share = r.max.keybox.rps / r.max.ceiling.rps;
    checks.push(
      check(
        `read: bulk read req/s / ceiling req/s, ${n} secrets`,
        share,
        '>=',
        0.25,
        `${fmt(r.max.keybox.rps)} / ${fmt(r.max.ceiling.rps)} req/s`,
      ),
    );
    const at = r.paced.halfCeiling;
    const p99 = (who) => at[who].latencyMs.p99 / at.ceiling.latencyMs.p99;
    const behind = (who) =>
      at[who].keptUp
        ? ''
        : `; it fell behind in ${at.rounds - at[who].keptUpRounds} of ${at.rounds} rounds (served ${fmt(at[who].rps)} req/s)`;
    const rounds = at.rounds > 1 ? `, median of ${at.rounds} rounds` : '';
    checks.push(
      check(
        `read: p99 at ${fmt(at.rate)} req/s (half the ceiling's max${rounds}) / ceiling's p99, ${n} secrets`,
        p99('keybox'),
        '<=',
        4,
        `${fmt(at.keybox.latencyMs.p99)} ms / ${fmt(at.ceiling.latencyMs.p99)} ms${behind('keybox')}`,
      ),
    );
    // What recording each read durably costs by itself (audited-ceiling-server.js), so that keybox's own overhead
    // can be told apart from the price of the audit the issue asks for.
    checks.push(
      info(
        `read: audited ceiling req/s / ceiling req/s, ${n} secrets`,
        r.max.audited.rps / r.max.ceiling.rps,
        `${fmt(r.max.audited.rps)} / ${fmt(r.max.ceiling.rps)} req/s`,
      ),
      info(
        `read: audited ceiling's p99 at the same rate / ceiling's p99, ${n} secrets`,
        p99('audited'),
        `${fmt(at.audited.latencyMs.p99)} ms / ${fmt(at.ceiling.latencyMs.p99)} ms${behind('audited')}`,
      ),
      // Why the p99 target is met or not: a server that needs more CPU per read than the two cores (shared with the
      // load generator) have at that rate falls behind.
      info(
        `read: bulk read CPU per read / ceiling's, at the same rate, ${n} secrets`,
        at.keybox.cpuUs / at.ceiling.cpuUs,
        `${fmt(at.keybox.cpuUs)} µs / ${fmt(at.ceiling.cpuUs)} µs (main thread ${fmt(at.keybox.mainCpuUs)} / ${fmt(at.ceiling.mainCpuUs)}; audited ceiling ${fmt(at.audited.cpuUs)} µs)`,
      ),
      info(
        `read: bulk read req/s / audited ceiling req/s, ${n} secrets`,
        r.max.keybox.rps / r.max.audited.rps,
        `${fmt(r.max.keybox.rps)} / ${fmt(r.max.audited.rps)} req/s`,
      ),
    );
    // The Vault-compatible read of the same folder, held to the bulk read's targets: the same store, cache, audit
    // and direct listener path (vault/direct-vault-read.ts).
    checks.push(
      check(
        `read: Vault API read req/s / ceiling req/s, ${n} secrets`,
        r.max.vault.rps / r.max.ceiling.rps,
        '>=',
        0.25,
        `${fmt(r.max.vault.rps)} / ${fmt(r.max.ceiling.rps)} req/s (bodies ${r.vaultBytes} / ${r.bodyBytes} B)`,
      ),
      info(
        `read: Vault API read req/s / bulk read req/s, ${n} secrets`,
        r.max.vault.rps / r.max.keybox.rps,
        `${fmt(r.max.vault.rps)} / ${fmt(r.max.keybox.rps)} req/s`,
      ),
      check(
        `read: Vault API read p99 at ${fmt(at.rate)} req/s (half the ceiling's max${rounds}) / ceiling's p99, ${n} secrets`,
        p99('vault'),
        '<=',
        4,
        `${fmt(at.vault.latencyMs.p99)} ms / ${fmt(at.ceiling.latencyMs.p99)} ms${behind('vault')}`,
      ),
    );
    // The same bulk read with the store on PostgreSQL (no target: information for operators choosing a store).
    checks.push(
      info(
        `read: bulk read on PostgreSQL req/s / on SQLite req/s, ${n} secrets`,
        r.max.postgres.rps / r.max.keybox.rps,
        `${fmt(r.max.postgres.rps)} / ${fmt(r.max.keybox.rps)} req/s`,
      ),
    );
    const label = {
      ceiling: 'ceiling (bare node:http, same body)',
      audited: 'audited ceiling (ceiling + a durable audit line per read)',
      keybox: 'keybox GET /api/v1/secrets',
      vault: 'keybox GET /v1/<project>/data/<env>/<folder> (Vault API)',
      postgres: 'keybox GET /api/v1/secrets, store on PostgreSQL',
    };
    for (const who of SERVERS) {
      const m = r.max[who];
      rows.push([
        label[who],
        n,
        who === 'vault' ? r.vaultBytes : r.bodyBytes,
        fmt(m.rps),
        ms(m.p50),
        ms(m.p99),
        `${((m.rps / r.max.ceiling.rps) * 100).toFixed(1)}%`,
      ]);
    }
    for (const [name, at2] of Object.entries(r.paced)) {
      for (const who of SERVERS) {
        const l = at2[who];
        pacedRows.push([
          { audited: 'audited ceiling', vault: 'keybox (Vault API)', postgres: 'keybox on PostgreSQL' }[who] ?? who,
          n,
          `${fmt(at2.rate)}${name === 'halfCeiling' ? ' (½ ceiling max)' : ' (½ keybox max)'}`,
          fmt(l.rps),
          fmt(l.latencyMs.p50),
          at2.rounds > 1
            ? `${fmt(l.latencyMs.p99)} (${l.p99Runs.map((v) => fmt(v)).join(', ')})`
            : fmt(l.latencyMs.p99),
          (l.latencyMs.p99 / at2.ceiling.latencyMs.p99).toFixed(2),
          l.keptUp ? 'yes' : `no (${at2.rounds - l.keptUpRounds} of ${at2.rounds}; backlog ${l.backlog})`,
          `${fmt(l.cpuUs)} (${fmt(l.mainCpuUs)})`,
        ]);
      }
    }
  }
  return {
    results,
    checks,
    tables: [
      'read: maximum throughput (autocannon, 50 keep-alive connections; latency resolution 1 ms; every read authenticated, authorized and audited durably)',
      table(['server', 'secrets', 'body B', 'req/s', 'p50 ms', 'p99 ms', 'of ceiling'], rows),
      "read: latency at a fixed rate (paced open-loop generator, latency from when each request was due; at half the ceiling's max: medians of the rounds, each round's p99 in brackets)",
      table(
        [
          'server',
          'secrets',
          'rate req/s',
          'served req/s',
          'p50 ms',
          'p99 ms',
          'p99 vs ceiling',
          'kept up',
          'CPU µs/read (main thread)',
        ],
        pacedRows,
      ),
    ],
  };
}
