// `node bench/ops.js [SECRETS]` (default 100000; not part of `npm run bench`): how long the operator commands take on
// a store of that size, 20 secrets per folder — `keybox backup create` three times while GET /healthz is probed
// (the server's pauses, next to the same probe while idle), then `server restore --dry-run`, `server restore`,
// `rotate root-key` and `rotate data-key --reencrypt`. Absolute times on this machine, for the docs; no target.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startKeybox, createApi, createProject, seedFolder, makeSecrets, KEYBOX, CHILD_ENV } from './keybox-api.js';
import { stopProcess } from './sandbox.js';

const size = Number(process.argv[2] ?? 100000);
const base = mkdtempSync(join(tmpdir(), 'kb-backup-measure-'));
const dataDir = join(base, 'data');
const server = await startKeybox(dataDir);
const api = createApi(server.url, server.token);
await createProject(api, 'growth');
const folders = size / 20;
let next = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (next < folders) {
      const i = next++;
      await seedFolder(api, 'growth', 'prod', `/app/f${String(i).padStart(5, '0')}`, makeSecrets(20, `v${i}`));
    }
  }),
);
console.log(`seeded ${size} secrets in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
api.close();

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function healthz() {
  return new Promise((resolve) => {
    const s = performance.now();
    http
      .get(`${server.url}/healthz`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(performance.now() - s));
      })
      .on('error', () => resolve(NaN));
  });
}
async function probe(untilPromise) {
  const lat = [];
  let done = false;
  untilPromise.then(() => (done = true));
  while (!done) {
    lat.push(await healthz());
    await new Promise((r) => setTimeout(r, 2));
  }
  lat.sort((a, b) => a - b);
  return {
    n: lat.length,
    p50: lat[Math.floor(lat.length * 0.5)],
    p99: lat[Math.floor(lat.length * 0.99)],
    max: lat[lat.length - 1],
  };
}
const idle = await probe(new Promise((r) => setTimeout(r, 2000)));
console.log('healthz while idle (ms):', JSON.stringify(idle));
const env = { ...CHILD_ENV, KEYBOX_ADDR: server.url, KEYBOX_TOKEN: server.token };
const out = join(base, 'backups');
execFileSync('mkdir', ['-p', out]);
for (let run = 1; run <= 3; run++) {
  const s = performance.now();
  const during = probe(
    new Promise((resolve, reject) => {
      import('node:child_process').then(({ execFile }) =>
        execFile(KEYBOX, ['backup', 'create', '-o', `${out}/`, '--json'], { env }, (e, o) =>
          e ? reject(e) : resolve(o),
        ),
      );
    }),
  );
  const lat = await during;
  console.log(
    `backup ${run}: ${((performance.now() - s) / 1000).toFixed(2)} s; healthz during it (ms): ${JSON.stringify(lat)}`,
  );
}
const file = join(out, readdirSync(out).sort()[0]);
console.log(`backup file: ${(statSync(file).size / 1024 / 1024).toFixed(1)} MiB`);
await stopProcess(server.child);
let s = performance.now();
execFileSync(KEYBOX, ['server', 'restore', '--data-dir', dataDir, '--from', file, '--dry-run'], {
  env: CHILD_ENV,
  stdio: 'inherit',
});
console.log(`restore --dry-run: ${((performance.now() - s) / 1000).toFixed(2)} s`);
s = performance.now();
execFileSync(KEYBOX, ['server', 'restore', '--data-dir', dataDir, '--from', file], {
  env: CHILD_ENV,
  stdio: 'inherit',
});
console.log(`restore: ${((performance.now() - s) / 1000).toFixed(2)} s`);
s = performance.now();
execFileSync(KEYBOX, ['rotate', 'root-key', '--data-dir', dataDir], { env: CHILD_ENV, stdio: 'inherit' });
console.log(`rotate root-key (with its backup): ${((performance.now() - s) / 1000).toFixed(2)} s`);
s = performance.now();
execFileSync(KEYBOX, ['rotate', 'data-key', '--data-dir', dataDir, '--reencrypt'], {
  env: CHILD_ENV,
  stdio: 'inherit',
});
console.log(`rotate data-key --reencrypt: ${((performance.now() - s) / 1000).toFixed(2)} s`);
execFileSync('rm', ['-rf', base]);
