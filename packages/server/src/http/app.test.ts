import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTestApp, expectError, type ApiTestApp } from '../test-support/api-test-app.js';
import { MAX_BODY_BYTES } from './app.js';

let t: ApiTestApp;
beforeEach(async () => {
  t = await createApiTestApp();
  await t.services.projects.create({ slug: 'app' });
});
afterEach(async () => {
  await t.close();
});

const secretUrl = '/api/v1/projects/app/environments/dev/secrets/API_KEY';

describe('authentication', () => {
  it('answers /healthz without a token', async () => {
    const res = await t.call('GET', '/healthz', undefined, { token: null });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: 'ok', version: 'test' });
  });

  it('refuses a request without a token', async () => {
    const res = await t.call('GET', '/api/v1/projects', undefined, { token: null });
    expectError(res, 'UNAUTHENTICATED', /missing Authorization/);
  });

  it.each([
    ['a non-Bearer scheme', `Basic ${Buffer.from('a:b').toString('base64')}`],
    ['an empty bearer', 'Bearer '],
    ['a bearer with a space inside', 'Bearer kbx_a b'],
  ])('refuses %s', async (_case, header) => {
    const res = await t.call('GET', '/api/v1/projects', undefined, { token: null, headers: { authorization: header } });
    expectError(res, 'UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"');
  });

  it('refuses a malformed token without echoing it', async () => {
    const token = t.canary();
    const res = await t.call('GET', '/api/v1/projects', undefined, { token });
    expectError(res, 'UNAUTHENTICATED', 'the token is malformed');
  });

  it('refuses a well-formed but unknown token, and the admin token with its secret part changed', async () => {
    const unknown = `kbx_${randomBytes(8).toString('hex')}.${randomBytes(32).toString('base64url')}`;
    expectError(
      await t.call('GET', '/api/v1/projects', undefined, { token: unknown }),
      'UNAUTHENTICATED',
      'the token is not valid',
    );
    const forged = `${t.token.split('.')[0]}.${randomBytes(32).toString('base64url')}`;
    expectError(
      await t.call('GET', '/api/v1/projects', undefined, { token: forged }),
      'UNAUTHENTICATED',
      'the token is not valid',
    );
  });

  it('refuses an expired token and accepts one that has not expired yet', async () => {
    const { token } = await t.services.tokens.create({
      name: 'ci',

      createdBy: 'test',
      expiresAt: '2026-01-01T00:00:10.000Z',
    });
    expect((await t.call('GET', '/api/v1/projects', undefined, { token })).status).toBe(200);
    t.clock.tick(10_000);
    expectError(
      await t.call('GET', '/api/v1/projects', undefined, { token }),
      'UNAUTHENTICATED',
      'the token is expired',
    );
  });

  it('refuses a revoked token', async () => {
    const { id, token } = await t.services.tokens.create({ name: 'old', createdBy: 'test' });
    expect((await t.call('GET', '/api/v1/projects', undefined, { token })).status).toBe(200);
    await t.store.db
      .updateTable('api_tokens')
      .set({ revoked_at: '2026-01-01T00:00:00.000Z' })
      .where('id', '=', id)
      .execute();
    expectError(
      await t.call('GET', '/api/v1/projects', undefined, { token }),
      'UNAUTHENTICATED',
      'the token is revoked',
    );
  });

  it('accepts the bearer scheme in any case', async () => {
    const res = await t.call('GET', '/api/v1/projects', undefined, {
      token: null,
      headers: { authorization: `bearer ${t.token}` },
    });
    expect(res.status).toBe(200);
  });

  it('checks the token before saying a route does not exist', async () => {
    expectError(await t.call('GET', '/api/v1/nothing-here', undefined, { token: null }), 'UNAUTHENTICATED');
    expectError(await t.call('GET', '/api/v1/nothing-here'), 'NOT_FOUND', 'no route for GET /api/v1/nothing-here');
  });
});

describe('error responses', () => {
  it('carries the request id from the header, or a fresh one', async () => {
    const res = await t.call('GET', '/api/v1/projects/nope', undefined, {
      headers: { 'x-request-id': 'req-12345678' },
    });
    expectError(res, 'NOT_FOUND');
    expect(res.json['error']['requestId']).toBe('req-12345678');

    const bad = await t.call('GET', '/api/v1/projects/nope', undefined, { headers: { 'x-request-id': 'bad id\n' } });
    expect(bad.json['error']['requestId']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers an unknown route outside the API with NOT_FOUND', async () => {
    expectError(await t.call('GET', '/nowhere', undefined, { token: null }), 'NOT_FOUND');
  });

  it('refuses a body that is not JSON', async () => {
    const res = await t.call('PUT', secretUrl, `{"value": "${t.canary()}"`);
    expectError(res, 'INVALID_INPUT', 'the request body is not valid JSON');
  });

  it('refuses a body of the wrong shape, naming the field but not the value', async () => {
    const res = await t.call('PUT', secretUrl, { value: { nested: t.canary() } });
    expectError(res, 'INVALID_INPUT', /^invalid body: value: /);
  });

  it('refuses a body over 8 MiB with PAYLOAD_TOO_LARGE, with or without a Content-Length', async () => {
    const body = JSON.stringify({ value: `${t.canary()}${'x'.repeat(MAX_BODY_BYTES)}` });
    expectError(await t.call('PUT', secretUrl, body), 'PAYLOAD_TOO_LARGE', 'request body over 8 MiB');
    const withLength = await t.call('PUT', secretUrl, body, {
      headers: { 'content-length': String(Buffer.byteLength(body)) },
    });
    expectError(withLength, 'PAYLOAD_TOO_LARGE');
    expect((await t.services.secrets.listFolders({ project: 'app', env: 'dev', path: '/' }))[0]?.revision).toBe(0);
  });

  it('refuses a value with a NUL byte (400) and one over 256 KiB (413), without echoing either', async () => {
    expectError(await t.call('PUT', secretUrl, { value: `${t.canary()}\0` }), 'INVALID_INPUT', /NUL byte/);
    const big = `${t.canary()}${'y'.repeat(256 * 1024)}`;
    expectError(await t.call('PUT', secretUrl, { value: big }), 'PAYLOAD_TOO_LARGE', /API_KEY is over 256 KiB/);
    expect(t.errorsChecked()).toBe(2);
  });

  it('sets security headers on every response', async () => {
    const res = await t.call('GET', '/healthz', undefined, { token: null });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000');
  });
});
