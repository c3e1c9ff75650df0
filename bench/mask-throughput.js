// Throughput of `keybox run --mask` (packages/cli/src/run/mask-stream.ts) next to a plain PassThrough, in the same
// run. Needs the build: `npm run build && node bench/mask-throughput.js [--quick]`. Not part of `npm run bench`.
//
// Input: log-like lines of random letters and digits (the alphabet of the values, so that most bytes begin a
// partial match), in 64 KiB chunks as a pipe delivers them, with a value in about every 4 KiB. Each case is run in
// rounds that alternate the cases; the median of the rounds is printed. "core" is the masking alone (push/flush
// on the same chunks), "stream" the Transform piped from a Readable into a sink that drops the bytes. PassThrough
// copies nothing, so it shows the cost of the stream plumbing alone; the dev machine has 2 shared cores, so compare
// figures from the same run only.
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createMaskCore, createMasker } from '../packages/cli/dist/run/mask-stream.js';
import { median, round } from './stats.js';

const quick = process.argv.includes('--quick');
const TOTAL = (quick ? 16 : 64) * 1024 * 1024;
const CHUNK = 64 * 1024;
const ROUNDS = quick ? 3 : 5;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

let seed = 42;
function random() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const word = (length) => Array.from({ length }, () => ALPHABET[Math.floor(random() * ALPHABET.length)]).join('');
const values = (count, length) => Array.from({ length: count }, () => word(length));

function makeInput(secrets) {
  const parts = [];
  let size = 0;
  while (size < TOTAL) {
    const line =
      random() < 0.02
        ? `token=${secrets[Math.floor(random() * secrets.length)].slice(0, 4096)}\n`
        : `${new Date(1e12 + size).toISOString()} info ${word(8)} ${word(20)} id=${word(12)} took=${size % 997}ms\n`;
    parts.push(line);
    size += line.length;
  }
  const all = Buffer.from(parts.join(''));
  return Array.from({ length: Math.ceil(all.length / CHUNK) }, (_, i) => all.subarray(i * CHUNK, (i + 1) * CHUNK));
}

async function throughStream(makeTransform, chunks) {
  const bytes = chunks.reduce((sum, c) => sum + c.length, 0);
  const transform = makeTransform(); // building the automaton is reported apart ("build ms")
  const start = performance.now();
  await pipeline(
    Readable.from(chunks),
    transform,
    new Writable({
      write(_chunk, _encoding, callback) {
        callback();
      },
    }),
  );
  return bytes / 1e6 / ((performance.now() - start) / 1000);
}

function throughCore(core, chunks) {
  const bytes = chunks.reduce((sum, c) => sum + c.length, 0);
  const start = performance.now();
  for (const chunk of chunks) core.push(chunk);
  core.flush();
  return bytes / 1e6 / ((performance.now() - start) / 1000);
}

const cases = [
  { name: '1 value × 32 B', values: values(1, 32) },
  { name: '200 values × 32 B', values: values(200, 32) },
  { name: '200 values × 4 KiB', values: values(200, 4096) },
  { name: '200 values × 64 KiB', values: values(200, 64 * 1024) },
];

const rows = [];
for (const entry of cases) {
  const chunks = makeInput(entry.values);
  const before = process.memoryUsage().arrayBuffers;
  const built = performance.now();
  const core = createMaskCore(entry.values);
  const buildMs = performance.now() - built;
  const automaton = process.memoryUsage().arrayBuffers - before; // typed arrays only, and the patterns' bytes
  const plain = [];
  const stream = [];
  const alone = [];
  for (let round = 0; round < ROUNDS; round++) {
    plain.push(await throughStream(() => new PassThrough(), chunks));
    stream.push(await throughStream(() => createMasker(entry.values), chunks));
    alone.push(throughCore(core, chunks));
  }
  const streamMBs = median(stream);
  rows.push({
    values: entry.name,
    'PassThrough MB/s': round(median(plain)),
    'masker MB/s': round(streamMBs),
    ratio: round(streamMBs / median(plain)),
    'core MB/s': round(median(alone)),
    'build ms': round(buildMs),
    'automaton MiB': round(automaton / 2 ** 20),
  });
}

const headers = Object.keys(rows[0]);
process.stdout.write(`mask throughput, ${TOTAL / 2 ** 20} MiB in ${CHUNK / 1024} KiB chunks, median of ${ROUNDS}\n\n`);
process.stdout.write(`| ${headers.join(' | ')} |\n|${headers.map(() => ' --- ').join('|')}|\n`);
for (const row of rows) process.stdout.write(`| ${headers.map((h) => row[h]).join(' | ')} |\n`);
