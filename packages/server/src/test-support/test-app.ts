import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Clock } from '../core/clock.js';
import { openKeyring } from '../core/crypto/keyring.js';
import { rootKeyId, type RootKey } from '../core/crypto/root-key.js';
import { createApp } from '../http/app.js';
import { createListener } from '../http/listener.js';
import { AUDIT_HEAD_FILE } from '../main.js';
import { createServices } from '../services.js';
import { openTestStore } from './test-store.js';

/** A clock tests can move: starts at a fixed instant, `tick` advances it. */
export function createTestClock(start = '2026-01-01T00:00:00.000Z') {
  let now = new Date(start).getTime();
  return {
    now: () => new Date(now),
    tick(ms = 1000) {
      now += ms;
    },
  } satisfies Clock & { tick(ms?: number): void };
}

export function testRootKey(): RootKey {
  const key = randomBytes(32);
  return { key, id: rootKeyId(key), source: 'env', created: false };
}

/**
 * The real app on a real store (SQLite in a fresh temp dir, or a fresh PostgreSQL database: see test-store.ts), with
 * an admin token. Call `close()` in afterEach.
 */
export type TestClock = ReturnType<typeof createTestClock>;

type CallArgs = [
  method: string,
  path: string,
  body?: unknown,
  init?: { token?: string | null; headers?: Record<string, string> },
];

export async function createTestApp(options: { clock?: TestClock; root?: RootKey; dataDir?: string } = {}) {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'keybox-test-'));
  const clock = options.clock ?? createTestClock();
  const root = options.root ?? testRootKey();
  const opened = await openTestStore(dataDir);
  const { store } = opened;
  const keyring = await openKeyring(store.db, root, clock);
  const services = createServices({
    db: store.db,
    dialect: store.dialect,
    storeChanges: store.changes,
    onFolderChanged: store.onFolderChanged?.bind(store),
    keyring,
    clock,
    auditHeadFile: join(dataDir, AUDIT_HEAD_FILE),
    snapshot: store.snapshot?.bind(store),
    dataDir,
  });
  await services.policies.ensureBuiltins();
  const { tokens } = services;
  const logger = pino({ level: process.env['KEYBOX_TEST_LOG'] ?? 'silent' });
  const app = createApp({ ...services, logger, clock, version: 'test' });
  const { token } = await tokens.create(
    { name: 'admin', createdBy: 'test', policies: ['admin'] },
    { attach: services.policies.attach },
  );

  /** A static token with the given policies (none: it may do nothing). */
  async function tokenWith(policyNames: string[], name = 'test'): Promise<string> {
    return (
      await tokens.create({ name, createdBy: 'test', policies: policyNames }, { attach: services.policies.attach })
    ).token;
  }

  type Send = (path: string, init: RequestInit) => Promise<Response>;

  /** JSON in and out through `send`, with the admin token unless `token` is given. */
  async function callWith(
    send: Send,
    method: string,
    path: string,
    body?: unknown,
    init: { token?: string | null; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { ...init.headers };
    const bearer = init.token === undefined ? token : init.token;
    if (bearer !== null) headers['authorization'] = `Bearer ${bearer}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await send(path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json: json as Record<string, any> };
  }

  /** Calls the app without a port. */
  const call = (...args: CallArgs) => callWith((path, init) => Promise.resolve(app.request(path, init)), ...args);

  /**
   * The same app behind the listener `keybox server` uses (the direct bulk read first), on a real port of
   * 127.0.0.1; `call` then goes over HTTP. Closed with the app.
   */
  let listening: Promise<{ url: string; server: Server }> | undefined;
  async function listen() {
    listening ??= new Promise((resolve, reject) => {
      const server = createServer(createListener(app, { ...services, logger, version: 'test' }));
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        resolve({ url: `http://127.0.0.1:${port}`, server });
      });
    });
    const { url } = await listening;
    return {
      url,
      call: (...args: CallArgs) => callWith((path, init) => fetch(`${url}${path}`, init), ...args),
    };
  }

  return {
    app,
    dataDir,
    clock,
    root,
    store,
    /** A second store on the same database: what another server sharing it would open. */
    reopenStore: opened.reopen,
    writeElsewhere: opened.writeElsewhere,
    holdWriteLock: opened.holdWriteLock,
    keyring,
    token,
    services,
    tokenWith,
    call,
    listen,
    async close() {
      if (listening !== undefined) {
        const { server } = await listening;
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      await services.auditLog.settled();
      await opened.close();
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type TestApp = Awaited<ReturnType<typeof createTestApp>>;
