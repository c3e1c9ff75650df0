import { randomBytes } from 'node:crypto';
import { API_ERROR_STATUS, isApiErrorCode, type ApiErrorCode } from '@keybox/sdk';
import { expect } from 'vitest';
import { createTestApp, createTestClock } from './test-app.js';

type CallResult = Awaited<ReturnType<Awaited<ReturnType<typeof createTestApp>>['call']>>;

/**
 * The test app with a checked `call`: every error response must be the one envelope
 * `{ error: { code, message, requestId } }` with the status the contract gives its code, the request id must match
 * the `x-request-id` header, and no canary value handed out by `canary()` may appear in it.
 */
export async function createApiTestApp(options: Omit<NonNullable<Parameters<typeof createTestApp>[0]>, 'clock'> = {}) {
  // Made here rather than by createTestApp so that its `tick` stays in the type.
  const clock = createTestClock();
  const t = await createTestApp({ ...options, clock });
  const canaries = new Set<string>();
  let errorsChecked = 0;

  function canary(): string {
    const value = `CANARY-${randomBytes(12).toString('hex')}`;
    canaries.add(value);
    return value;
  }

  function checked(raw: typeof t.call) {
    return async (...args: Parameters<typeof t.call>): Promise<CallResult> => {
      const res = await raw(...args);
      if (res.status >= 400) {
        assertErrorEnvelope(res);
        for (const value of canaries) expect(res.text, 'a canary value leaked into an error').not.toContain(value);
        errorsChecked++;
      }
      return res;
    };
  }

  /** `listen` with the same checks on every answer. */
  async function listen() {
    const listener = await t.listen();
    return { ...listener, call: checked(listener.call), callVault: listener.call };
  }

  return {
    ...t,
    clock,
    call: checked(t.call),
    /** `call` without the envelope check, for the Vault-compatible API (which answers in Vault's format). */
    callVault: t.call,
    listen,
    canary,
    errorsChecked: () => errorsChecked,
  };
}

export type ApiTestApp = Awaited<ReturnType<typeof createApiTestApp>>;

function assertErrorEnvelope(res: CallResult): void {
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = res.json as unknown;
  expect(body, `error body: ${res.text}`).toMatchObject({
    error: { code: expect.any(String), message: expect.any(String), requestId: expect.any(String) },
  });
  const error = (body as { error: Record<string, unknown> }).error;
  expect(Object.keys(body as object)).toEqual(['error']);
  for (const key of Object.keys(error)) expect(['code', 'message', 'requestId', 'details']).toContain(key);
  const code = error['code'];
  expect(isApiErrorCode(code), `unknown error code ${String(code)}`).toBe(true);
  expect(res.status).toBe(API_ERROR_STATUS[code as ApiErrorCode]);
  expect(error['requestId']).toBe(res.headers.get('x-request-id'));
}

/** Asserts an error response's code (its envelope and status are checked by `call` already). */
export function expectError(res: CallResult, code: ApiErrorCode, message?: string | RegExp): void {
  expect(res.status, res.text).toBe(API_ERROR_STATUS[code]);
  expect(res.json['error']['code']).toBe(code);
  if (message !== undefined) expect(res.json['error']['message']).toMatch(message);
}

/** A list in a JSON response body, typed for the test's use. */
export function listIn<T>(res: CallResult, key: string): T[] {
  const value: unknown = res.json[key];
  expect(Array.isArray(value), `${key} in ${res.text}`).toBe(true);
  return value as T[];
}
