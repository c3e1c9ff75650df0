import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { BENCH, ROOT } from './keybox-api.js';
import { benchGrowth } from './part-growth.js';
import { benchRead } from './part-read.js';
import { benchRun } from './part-run.js';
import { benchWrites } from './part-writes.js';
import { checksTable } from './report.js';
import { cleanup } from './sandbox.js';

const PARTS = { run: benchRun, read: benchRead, writes: benchWrites, growth: benchGrowth };
const USAGE = `Usage: npm run bench -- [run] [read] [writes] [growth] [--quick] [--harness=hyperfine|node]

Runs the named parts (all by default), prints a markdown table and writes bench/results/latest.json
(latest-quick.json with --quick). Every figure is a ratio of two things measured in the same run.
  --quick      fewer runs and shorter loads (about 2 minutes; figures are rougher)
  --harness    how \`run\` times commands: hyperfine (default when installed) or the Node harness
`;

/** Share of all CPUs busy over `ms`, from /proc/stat (Linux; undefined elsewhere). */
async function cpuBusy(ms) {
  if (!existsSync('/proc/stat')) return undefined;
  const sample = () => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    return { idle: fields[3] + fields[4], total: fields.reduce((a, b) => a + b, 0) };
  };
  const a = sample();
  await sleep(ms);
  const b = sample();
  return 1 - (b.idle - a.idle) / (b.total - a.total);
}

/** The commit measured, and whether the work tree had changes on top of it. */
function codeVersion() {
  const git = (...args) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  return { commit: git('rev-parse', '--short', 'HEAD'), dirty: git('status', '--porcelain', 'packages').length > 0 };
}

async function main() {
  const { values, positionals } = parseArgs({
    options: { quick: { type: 'boolean' }, harness: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help === true) return void process.stdout.write(USAGE);
  const unknown = positionals.filter((p) => !(p in PARTS));
  if (unknown.length > 0 || (values.harness !== undefined && !['hyperfine', 'node'].includes(values.harness))) {
    process.stderr.write(`bench: unknown ${unknown.length > 0 ? `part ${unknown.join(', ')}` : 'harness'}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const parts = positionals.length === 0 ? Object.keys(PARTS) : positionals;
  const options = { quick: values.quick === true, harness: values.harness };

  const file = join(BENCH, 'results', options.quick ? 'latest-quick.json' : 'latest.json');
  // Parts measured earlier stay in the file, each with its own date: no ratio ever mixes two runs.
  const saved = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { parts: {} };
  const out = [];
  for (const part of parts) {
    const started = Date.now();
    process.stderr.write(`bench: ${part}${options.quick ? ' (quick)' : ''}…\n`);
    // Other work on a shared machine skews everything. Nothing of ours runs between parts, so CPU busy now is theirs.
    const backgroundCpu = await cpuBusy(1000);
    const result = await PARTS[part](options);
    saved.parts[part] = {
      measuredAt: new Date().toISOString(),
      seconds: (Date.now() - started) / 1000,
      backgroundCpuAtStart: backgroundCpu,
      code: codeVersion(),
      ...result,
    };
    process.stderr.write(`bench: ${part} done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    out.push(part);
  }
  saved.machine = {
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()}`,
  };
  saved.quick = options.quick;
  mkdirSync(join(BENCH, 'results'), { recursive: true });
  writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`);

  const m = saved.machine;
  const lines = [
    `Keybox bench, ${new Date().toISOString().slice(0, 16)}Z, Node ${m.node}, ${m.cpus} CPUs, ${m.platform}${options.quick ? ', QUICK' : ''}`,
    '',
    checksTable(out.flatMap((p) => saved.parts[p].checks)),
  ];
  for (const p of out) {
    const { backgroundCpuAtStart: busy, code } = saved.parts[p];
    if (busy > 0.1)
      lines.push('', `note: other processes kept ${(busy * 100).toFixed(0)}% of the CPUs busy as ${p} began`);
    for (const t of saved.parts[p].tables) lines.push('', t);
    if (code.dirty) lines.push('', `(${p}: ${code.commit} with uncommitted changes under packages/)`);
  }
  process.stdout.write(`${lines.join('\n')}\n\n(${file})\n`);
}

process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));
try {
  await main();
} catch (error) {
  process.stderr.write(`bench: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
