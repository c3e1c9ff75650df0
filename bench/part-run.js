import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hyperfineVersion, timeCommands } from './command-timer.js';
import {
  BENCH,
  BIN,
  CHILD_ENV,
  KEYBOX,
  NODE,
  bulkReadPath,
  createApi,
  createProject,
  makeSecrets,
  seedFolder,
  startKeybox,
} from './keybox-api.js';
import { check, table } from './report.js';
import { makeTempDir, runToEnd, stopProcess } from './sandbox.js';
import { summary } from './stats.js';
import process from 'node:process';

/*
 * `keybox run -- node -e 0` against a loopback server, next to:
 *   - `node -e 0`: what the child costs by itself;
 *   - the floor (floor-run.js): one GET over node:http, JSON.parse, process.execve, on the same runtime;
 *   - `dotenvx run -f .env -- node -e 0` with the same keys encrypted by dotenvx.
 * "Added" time is a command's median minus the median of `node -e 0` from the same run.
 */

const SIZES = [10, 200];
const FLOOR = join(BENCH, 'floor-run.js');

export async function benchRun({ quick, harness: wanted }) {
  const hyperfine = hyperfineVersion();
  const harness = wanted ?? (hyperfine === undefined ? 'node' : 'hyperfine');
  if (harness === 'hyperfine' && hyperfine === undefined) throw new Error('--harness=hyperfine: hyperfine not found');
  if (hyperfine === undefined && wanted === undefined) {
    process.stderr.write('bench run: hyperfine not found (apt-get install -y hyperfine); using the Node harness\n');
  }
  const dir = makeTempDir('run');
  const server = await startKeybox(join(dir, 'data'));
  const api = createApi(server.url, server.token);
  try {
    await createProject(api, 'bench');
    const dotenvx = realpathSync(join(BIN, 'dotenvx'));
    const commands = [{ id: 'node', label: 'node -e 0', argv: [NODE, '-e', '0'] }];
    const injectionChecks = [];
    for (const n of SIZES) {
      const secrets = makeSecrets(n);
      await seedFolder(api, 'bench', 'dev', `/run${n}`, secrets);
      const envDir = join(dir, `dotenvx${n}`);
      mkdirSync(envDir);
      writeFileSync(join(envDir, '.env'), secrets.map((s) => `${s.name}=${s.value}\n`).join(''));
      await runToEnd(NODE, [dotenvx, 'encrypt', '-f', join(envDir, '.env')], { cwd: envDir, env: CHILD_ENV });

      const runners = {
        [`floor${n}`]: [NODE, FLOOR, bulkReadPath('bench', 'dev', `/run${n}`), NODE],
        [`keybox${n}`]: [KEYBOX, 'run', '--project', 'bench', '--env', 'dev', '--path', `/run${n}`, '--', 'node'],
        [`dotenvx${n}`]: [NODE, dotenvx, 'run', '-q', '-f', join(envDir, '.env'), '--', 'node'],
      };
      for (const [id, argv] of Object.entries(runners)) {
        injectionChecks.push([id, [...argv, '-e', injectionCheck(secrets)]]);
        commands.push({ id, label: label(id, n), argv: [...argv, '-e', '0'] });
      }
    }
    const env = { ...CHILD_ENV, KEYBOX_ADDR: server.url, KEYBOX_TOKEN: server.token };
    // Each runner must really inject every value before its time means anything.
    for (const [id, argv] of injectionChecks) {
      await runToEnd(argv[0], argv.slice(1), { env }).catch((error) => {
        throw new Error(`${id} did not inject the secrets: ${error.message}`);
      });
    }

    const runs = quick ? { fast: 5, slow: 3, rounds: 1 } : { fast: 10, slow: 7, rounds: 3 };
    for (const c of commands) c.runs = c.id === 'dotenvx200' ? runs.slow : runs.fast;
    const times = await timeCommands(commands, {
      rounds: runs.rounds,
      warmup: quick ? 1 : 2,
      env,
      harness,
      tempDir: dir,
    });
    return summarise(commands, times, harness === 'hyperfine' ? hyperfine : 'node harness');
  } finally {
    api.close();
    await stopProcess(server.child);
  }
}

function label(id, n) {
  if (id.startsWith('floor')) return `floor (GET + execve), ${n} secrets`;
  if (id.startsWith('keybox')) return `keybox run -- node -e 0, ${n} secrets`;
  return `dotenvx run -f .env -- node -e 0, ${n} secrets`;
}

/** A child script that exits 0 only if every secret arrived with its value. */
function injectionCheck(secrets) {
  const expected = JSON.stringify(Object.fromEntries(secrets.map((s) => [s.name, s.value])));
  return `const e=${expected};process.exit(Object.entries(e).every(([k,v])=>process.env[k]===v)?0:3)`;
}

function summarise(commands, times, harness) {
  const stats = Object.fromEntries(commands.map((c) => [c.id, { label: c.label, ...summary(times[c.id]) }]));
  const base = stats.node.medianMs;
  const added = (id) => stats[id].medianMs - base;
  const checks = [];
  for (const n of SIZES) {
    const ratio = added(`keybox${n}`) / added(`floor${n}`);
    const detail = `${added(`keybox${n}`).toFixed(1)} ms / ${added(`floor${n}`).toFixed(1)} ms`;
    checks.push(check(`run: keybox added time / floor added time, ${n} secrets`, ratio, '<=', 1.25, detail));
  }
  const dotenvxRatio = stats.dotenvx200.medianMs / stats.keybox200.medianMs;
  const detail = `${stats.dotenvx200.medianMs.toFixed(0)} ms / ${stats.keybox200.medianMs.toFixed(1)} ms`;
  checks.push(check('run: dotenvx run / keybox run, 200 secrets', dotenvxRatio, '>=', 20, detail));

  const rows = commands.map((c) => {
    const s = stats[c.id];
    return [
      s.label,
      s.medianMs.toFixed(1),
      `${s.minMs.toFixed(1)}..${s.maxMs.toFixed(1)}`,
      s.runs,
      c.id === 'node' ? '' : (s.medianMs - base).toFixed(1),
      (s.medianMs / base).toFixed(2),
    ];
  });
  const head = ['command', 'median ms', 'min..max', 'runs', 'added ms', 'vs node -e 0'];
  return {
    results: { harness, commands: stats },
    checks,
    tables: [`run (${harness}; medians, all from one run)`, table(head, rows)],
  };
}
