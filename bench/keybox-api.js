import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { URL, URLSearchParams, fileURLToPath } from 'node:url';
import { startServer } from './sandbox.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BENCH = join(ROOT, 'bench');
export const BIN = join(ROOT, 'node_modules', '.bin');
export const KEYBOX = join(BIN, 'keybox');
/** The pinned Node 24 that runs this script (`npm run bench` puts node_modules/.bin first on PATH). */
export const NODE = process.execPath;
/** The environment every child gets: the pinned runtime and keybox first on PATH. */
export const CHILD_ENV = { ...process.env, PATH: `${BIN}:${process.env.PATH ?? ''}` };

/**
 * Starts `keybox server` on a data dir (initialising it on first start) and returns `{ url, token, pid, child }`.
 * `port` 0 lets the kernel choose.
 */
export async function startKeybox(dataDir, { port = 0, db } = {}) {
  const tokenFile = `${dataDir}.token`;
  const server = await startServer(
    KEYBOX,
    [
      'server',
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${port}`,
      '--init-token-file',
      tokenFile,
      ...(db === undefined ? [] : ['--db', db]),
    ],
    { env: { ...CHILD_ENV, KEYBOX_LOG_LEVEL: 'warn' } },
  );
  if (!existsSync(tokenFile)) throw new Error('keybox server did not write the admin token file');
  return { ...server, token: readFileSync(tokenFile, 'utf8').trim() };
}

/** A port that was free a moment ago (for start-up timing, where the URL must be known before the server speaks). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A small JSON client over one keep-alive agent. */
export function createApi(url, token) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  function request(method, path, body) {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = { authorization: `Bearer ${token}` };
    if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json' });
    return new Promise((resolve, reject) => {
      const req = http.request(`${url}${path}`, { method, agent, headers }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          if (res.statusCode >= 300) {
            reject(
              new Error(`${method} ${path.split('?')[0]}: HTTP ${res.statusCode} ${raw.toString().slice(0, 300)}`),
            );
          } else resolve({ status: res.statusCode, raw, json: () => JSON.parse(raw.toString('utf8')) });
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }
  return { request, close: () => agent.destroy() };
}

export function bulkReadPath(project, env, path) {
  const q = new URLSearchParams({ project, env, path });
  return `/api/v1/secrets?${q.toString()}`;
}

export function secretsPath(project, env, path) {
  return `/api/v1/projects/${project}/environments/${env}/secrets?path=${encodeURIComponent(path)}`;
}

/** `n` secrets named SECRET_0001… with random 40-odd character values, like real tokens and URLs. */
export function makeSecrets(n, tag = 'value') {
  return Array.from({ length: n }, (_, i) => ({
    name: `SECRET_${String(i + 1).padStart(4, '0')}`,
    value: `${tag}-${i + 1}-${randomBytes(24).toString('base64url')}`,
  }));
}

export async function createProject(api, slug) {
  await api.request('POST', '/api/v1/projects', { slug });
}

/** One batch write: the whole folder in one transaction (the API takes up to 1,000 changes per call). */
export async function seedFolder(api, project, env, path, secrets) {
  await api.request('POST', secretsPath(project, env, path), { changes: secrets });
}

/** Resolves when GET /healthz answers 200; returns the time it took from `since` (performance.now()) in ms. */
export async function waitHealthy(url, since, timeoutMs = 30_000) {
  for (;;) {
    const ok = await new Promise((resolve) => {
      const req = http.get(`${url}/healthz`, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return performance.now() - since;
    if (performance.now() - since > timeoutMs) throw new Error(`${url}/healthz did not answer within ${timeoutMs} ms`);
    await sleep(2);
  }
}
