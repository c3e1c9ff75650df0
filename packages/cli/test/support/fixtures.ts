import { randomBytes } from 'node:crypto';
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
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${server.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${text}`);
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
