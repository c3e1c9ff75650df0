import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { TestServer } from './keybox.js';

/**
 * Values that must never show up outside the child's environment. Every server started by `startServer` checks,
 * when it stops, that none of them is in its stderr or in any file of its data dir (the store keeps values
 * encrypted, and audit entries carry names, never values).
 */
export const canaries = new Set<string>();

export function canary(label = 'CANARY'): string {
  const value = `${label}-${randomBytes(12).toString('hex')}`;
  canaries.add(value);
  return value;
}

/** Calls the server's API directly (test setup, not under test here). */
export async function api(server: Pick<TestServer, 'url' | 'token'>, method: string, path: string, body?: unknown) {
  // A new connection each time (agent: false): the tests block this process in spawnSync for seconds, long enough
  // for the server to close an idle keep-alive socket that a pooled client would then reuse and fail on.
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(`${server.url}${path}`, {
      method,
      agent: false,
      headers: {
        authorization: `Bearer ${server.token}`,
        ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': payload.length }),
      },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
  if (status < 200 || status > 299) throw new Error(`${method} ${path} -> ${status} ${text}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

export async function createProject(server: Pick<TestServer, 'url' | 'token'>, slug: string) {
  await api(server, 'POST', '/api/v1/projects', { slug });
}

export async function setSecrets(
  server: Pick<TestServer, 'url' | 'token'>,
  scope: { project: string; env: string; path: string },
  secrets: Record<string, string>,
) {
  await api(
    server,
    'POST',
    `/api/v1/projects/${scope.project}/environments/${scope.env}/secrets?path=${encodeURIComponent(scope.path)}`,
    { changes: Object.entries(secrets).map(([name, value]) => ({ name, value })) },
  );
}
