import { sql } from 'kysely';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../test-support/test-app.js';
import { createApp } from './app.js';

/*
 * The log is the one place internals may go, so it must hold no value, token, body or query string. A pino logger
 * writing into an array stands in for stderr.
 */

let t: TestApp;
let lines: Record<string, unknown>[];
let raw: string[];
let app: ReturnType<typeof createApp>;
const canary = `CANARY-log-${Date.now().toString(36)}`;

beforeEach(async () => {
  t = await createTestApp();
  await t.services.projects.create({ slug: 'app' });
  lines = [];
  raw = [];
  const logger = pino(
    { level: 'info' },
    {
      write(line: string) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  app = createApp({ ...t.services, logger, clock: t.clock, version: 'test' });
});
afterEach(async () => {
  await t.close();
});

function request(method: string, path: string, body?: unknown) {
  return app.request(path, {
    method,
    headers: {
      authorization: `Bearer ${t.token}`,
      'x-request-id': 'req-logged-0001',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

function expectNothingSecretLogged() {
  const all = raw.join('');
  expect(all).not.toContain(canary);
  expect(all).not.toContain(t.token);
  expect(all).not.toContain(t.token.split('.')[1]);
  expect(all).not.toContain('?path=');
}

describe('request log', () => {
  it('logs each request with its id, method, path and status, and no query string, header or body', async () => {
    const res = await request('PUT', '/api/v1/projects/app/environments/dev/secrets/API_KEY?path=/svc', {
      value: canary,
    });
    expect(res.status).toBe(200);
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'request',
        requestId: 'req-logged-0001',
        method: 'PUT',
        path: '/api/v1/projects/app/environments/dev/secrets/API_KEY',
        status: 200,
      }),
    );
    expectNothingSecretLogged();
  });

  it('logs an integrity failure with the request id, without the value', async () => {
    await request('POST', '/api/v1/projects/app/environments/dev/secrets', {
      changes: [
        { name: 'A', value: canary },
        { name: 'B', value: `${canary}-b` },
      ],
    });
    await sql`update secret_versions set value = (select v.value from secret_versions v
      join secrets s on s.id = v.secret_id where s.name = 'B')
      where secret_id = (select id from secrets where name = 'A')`.execute(t.store.db);
    const res = await request('GET', '/api/v1/projects/app/environments/dev/secrets/A');
    expect(res.status).toBe(500);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 50, msg: 'stored ciphertext failed to decrypt', requestId: 'req-logged-0001' }),
    );
    expectNothingSecretLogged();
  });

  it('does not log a rejected token', async () => {
    const forged = `${t.token.split('.')[0]}.${'A'.repeat(43)}`;
    const res = await app.request('/api/v1/projects', { headers: { authorization: `Bearer ${forged}` } });
    expect(res.status).toBe(401);
    expect(raw.join('')).not.toContain('A'.repeat(43));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'request', status: 401 }));
  });
});
