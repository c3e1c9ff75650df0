import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runToEnd } from './sandbox.js';

/*
 * Wall-clock timing of whole commands. hyperfine when it is installed; otherwise (CI machines do not have it) a
 * Node harness that does the same job: spawn, wait for exit, no shell in between. Both split the runs into rounds
 * that visit every command, and the harness also alternates commands run by run, so a noisy stretch on a shared
 * machine lands on all commands alike. Times from all rounds are pooled; the caller compares medians.
 */

export function hyperfineVersion() {
  const probe = spawnSync('hyperfine', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
}

/**
 * `commands`: `[{ id, argv, runs }]` with `runs` per round. Returns `{ [id]: ms[] }`.
 * `harness`: 'hyperfine' or 'node'.
 */
export async function timeCommands(commands, { rounds, warmup, env, harness, tempDir }) {
  const times = Object.fromEntries(commands.map((c) => [c.id, []]));
  for (let round = 0; round < rounds; round++) {
    const warm = round === 0 ? warmup : 0;
    const byRuns = Map.groupBy(commands, (c) => c.runs);
    for (const [runs, group] of byRuns) {
      const got =
        harness === 'hyperfine'
          ? await withHyperfine(group, { runs, warm, env, file: join(tempDir, `hf-${round}-${runs}.json`) })
          : await withNode(group, { runs, warm, env, round });
      for (const [id, ms] of Object.entries(got)) times[id].push(...ms);
    }
  }
  return times;
}

function shellQuote(arg) {
  return /^[\w/.=:,@%+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

async function withHyperfine(group, { runs, warm, env, file }) {
  const args = ['-N', '--style', 'none', '--runs', String(runs), '--warmup', String(warm), '--export-json', file];
  for (const c of group) args.push(c.argv.map(shellQuote).join(' '));
  await runToEnd('hyperfine', args, { env });
  const { results } = JSON.parse(readFileSync(file, 'utf8'));
  return Object.fromEntries(group.map((c, i) => [c.id, results[i].times.map((s) => s * 1000)]));
}

function timeOnce([file, ...args], env) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, args, { env, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const ms = performance.now() - started;
      if (code === 0) resolve(ms);
      else reject(new Error(`${file} ${args.join(' ').slice(0, 120)} exited ${signal ?? code}`));
    });
  });
}

async function withNode(group, { runs, warm, env, round }) {
  const out = Object.fromEntries(group.map((c) => [c.id, []]));
  for (let i = 0; i < warm; i++) for (const c of group) await timeOnce(c.argv, env);
  for (let run = 0; run < runs; run++) {
    // Rotate the order every run so no command always follows the same neighbour.
    const shift = (run + round) % group.length;
    for (const c of [...group.slice(shift), ...group.slice(0, shift)]) out[c.id].push(await timeOnce(c.argv, env));
  }
  return out;
}
