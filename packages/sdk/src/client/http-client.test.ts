import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { KeyboxError } from './keybox-error.js';
import { createKeyboxClient } from './http-client.js';

const TOKEN = 'kbx_testtoken.Zq8-canary-token-value';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let addr: string;
let seen: Seen[] = [];
let handler: (req: IncomingMessage, res: ServerResponse) => void;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  addr = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen = [];
  handler = (_req, res) => json(res, 200, { ok: true });
});

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function failure(promise: Promise<unknown>): Promise<KeyboxError> {
  const outcome = await promise.then(
    (value: unknown) => ({ failed: false as const, value }),
    (error: unknown) => ({ failed: true as const, error }),
  );
  if (!outcome.failed)
    return expect.unreachable(`expected a KeyboxError; resolved with ${JSON.stringify(outcome.value)}`);
  const error = outcome.error;
  expect(error).toMatchObject({ name: 'KeyboxError' });
  const keyboxError = error as KeyboxError;
  expect(`${keyboxError.message}\n${String(keyboxError)}\n${keyboxError.stack ?? ''}`).not.toContain(TOKEN);
  return keyboxError;
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('createKeyboxClient requests', () => {
  it('sends the token as a bearer header and a JSON body, never the token in the URL', async () => {
    const client = createKeyboxClient({ addr, token: TOKEN, userAgent: 'test-agent' });
    await expect(client.request('POST', '/api/v1/things', { body: { a: 'b' } })).resolves.toEqual({ ok: true });
    const [req] = seen;
    expect(req?.method).toBe('POST');
    expect(req?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req?.headers['user-agent']).toBe('test-agent');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req?.body ?? '')).toEqual({ a: 'b' });
    expect(req?.url).toBe('/api/v1/things');
    expect(decodeURIComponent(req?.url ?? '')).not.toContain(TOKEN);
  });

  it('sends no authorization header without a token', async () => {
    await createKeyboxClient({ addr }).request('GET', '/x');
    expect(seen[0]?.headers.authorization).toBeUndefined();
  });

  it('repeats array query values, stringifies scalars and skips undefined', async () => {
    const client = createKeyboxClient({ addr, token: TOKEN });
    await client.request('GET', '/q', { query: { path: ['/a', '/b c'], n: 3, flag: true, gone: undefined } });
    const url = new URL(seen[0]?.url ?? '', 'http://x');
    expect(url.searchParams.getAll('path')).toEqual(['/a', '/b c']);
    expect(url.searchParams.get('n')).toBe('3');
    expect(url.searchParams.get('flag')).toBe('true');
    expect(url.searchParams.has('gone')).toBe(false);
  });

  it('keeps a path prefix of the address and drops its query and fragment', async () => {
    const client = createKeyboxClient({ addr: `${addr}/keybox/?token=fromurl#frag`, token: TOKEN });
    await client.request('GET', '/api/v1/projects');
    expect(seen[0]?.url).toBe('/keybox/api/v1/projects');
  });

  it('returns undefined for 204 No Content', async () => {
    handler = (_req, res) => res.writeHead(204).end();
    await expect(createKeyboxClient({ addr, token: TOKEN }).request('DELETE', '/x')).resolves.toBeUndefined();
  });
});

describe('createKeyboxClient errors', () => {
  it('maps an API error body to a KeyboxError with code, status, request id and details', async () => {
    handler = (_req, res) =>
      json(res, 409, {
        error: { code: 'CONFLICT', message: 'folder / is at revision 2, not 1', requestId: 'req-1', details: { a: 1 } },
      });
    const error = await failure(createKeyboxClient({ addr, token: TOKEN }).request('POST', '/x', { body: {} }));
    expect(error).toMatchObject({
      code: 'CONFLICT',
      status: 409,
      requestId: 'req-1',
      details: { a: 1 },
      message: 'folder / is at revision 2, not 1',
    });
  });

  it('treats an error body with an unknown code as BAD_RESPONSE', async () => {
    handler = (_req, res) => json(res, 418, { error: { code: 'TEAPOT', message: 'short and stout', requestId: 'r' } });
    const error = await failure(createKeyboxClient({ addr, token: TOKEN }).request('GET', '/x'));
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', status: 418 });
  });

  it('turns a non-JSON error page into BAD_RESPONSE with the status', async () => {
    handler = (_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>');
    const error = await failure(createKeyboxClient({ addr, token: TOKEN }).request('GET', '/x'));
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', status: 502 });
  });

  it('turns a 200 with a body that is not JSON into BAD_RESPONSE', async () => {
    handler = (_req, res) => res.writeHead(200).end('not json');
    const error = await failure(createKeyboxClient({ addr, token: TOKEN }).request('GET', '/x'));
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', status: 200 });
  });

  it('reports a refused connection as UNREACHABLE', async () => {
    const port = await closedPort();
    const client = createKeyboxClient({ addr: `http://127.0.0.1:${port}`, token: TOKEN });
    const error = await failure(client.request('GET', '/x'));
    expect(error.code).toBe('UNREACHABLE');
    expect(error.message).toContain('connection refused');
    expect(error.status).toBeUndefined();
  });

  it('reports a server that never answers as TIMEOUT', async () => {
    handler = () => undefined;
    const client = createKeyboxClient({ addr, token: TOKEN, timeoutMs: 150 });
    const error = await failure(client.request('GET', '/hang'));
    expect(error.code).toBe('TIMEOUT');
  });

  it('gives up with TIMEOUT when a response keeps trickling past the whole-request timeout', async () => {
    // ClientOptions.timeoutMs is documented as a whole-request timeout: a server that sends a byte every 40 ms for
    // ~2 s must not keep the caller waiting past 200 ms.
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"a":"');
      let sent = 0;
      const timer = setInterval(() => {
        if (++sent < 50) res.write('x');
        else res.end('"}');
      }, 40);
      res.on('close', () => clearInterval(timer));
    };
    const client = createKeyboxClient({ addr, token: TOKEN, timeoutMs: 200 });
    const error = await failure(client.request('GET', '/drip'));
    expect(error.code).toBe('TIMEOUT');
  });
});

describe('createKeyboxClient address checks', () => {
  it.each([
    ['credentials', 'http://admin:hunter2@127.0.0.1:8210'],
    ['a user name', 'http://admin@127.0.0.1:8210'],
    ['something that is not a URL', '127.0.0.1 8210'],
    ['another protocol', 'ftp://127.0.0.1:8210'],
  ])('refuses an address with %s as CONFIG_INVALID', (_label, bad) => {
    expect(() => createKeyboxClient({ addr: bad, token: TOKEN })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('never echoes a password given in the address, even when the address does not parse', () => {
    for (const bad of ['http://admin:hunter2@127.0.0.1:8210', 'http://admin:hunter2@keybox.internal:99999']) {
      let message = '';
      try {
        createKeyboxClient({ addr: bad, token: TOKEN });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).not.toBe('');
      expect(message).not.toContain('hunter2');
    }
  });
});

describe('bulkRead', () => {
  const data = { project: 'shop', environment: 'dev', folders: [{ path: '/', revision: 2, secrets: [] }] };

  it('asks for the scope and returns the data with its etag', async () => {
    handler = (_req, res) => json(res, 200, data, { etag: '"r2"' });
    const client = createKeyboxClient({ addr, token: TOKEN });
    const result = await client.bulkRead({ project: 'shop', env: 'dev', paths: ['/', '/backend'], recursive: true });
    expect(result).toEqual({ notModified: false, etag: '"r2"', data });
    const url = new URL(seen[0]?.url ?? '', 'http://x');
    expect(url.pathname).toBe('/api/v1/secrets');
    expect(url.searchParams.get('project')).toBe('shop');
    expect(url.searchParams.get('env')).toBe('dev');
    expect(url.searchParams.getAll('path')).toEqual(['/', '/backend']);
    expect(url.searchParams.get('recursive')).toBe('true');
    expect(seen[0]?.headers['if-none-match']).toBeUndefined();
  });

  it('sends the etag as If-None-Match and reports a 304 as notModified', async () => {
    handler = (req, res) => {
      if (req.headers['if-none-match'] === '"r2"') res.writeHead(304, { etag: '"r2"' }).end();
      else json(res, 200, data, { etag: '"r2"' });
    };
    const client = createKeyboxClient({ addr, token: TOKEN });
    const result = await client.bulkRead({ project: 'shop', env: 'dev', paths: ['/'] }, { etag: '"r2"' });
    expect(result).toEqual({ notModified: true, etag: '"r2"' });
    expect(new URL(seen[0]?.url ?? '', 'http://x').searchParams.has('recursive')).toBe(false);
  });

  it('decides If-None-Match once connected, from how long the connection took to set up', async () => {
    handler = (req, res) => {
      if (req.headers['if-none-match'] === '"r2"') res.writeHead(304, { etag: '"r2"' }).end();
      else json(res, 200, data, { etag: '"r2"' });
    };
    const client = createKeyboxClient({ addr, token: TOKEN });
    const times: number[] = [];
    const near = await client.bulkRead(
      { project: 'shop', env: 'dev', paths: ['/'] },
      { etag: (ms) => (times.push(ms), undefined) },
    );
    expect(near).toEqual({ notModified: false, etag: '"r2"', data });
    expect(seen[0]?.headers['if-none-match']).toBeUndefined();
    const far = await client.bulkRead(
      { project: 'shop', env: 'dev', paths: ['/'] },
      { etag: (ms) => (times.push(ms), '"r2"') },
    );
    expect(far).toEqual({ notModified: true, etag: '"r2"' });
    expect(seen[1]?.headers['if-none-match']).toBe('"r2"');
    // Loopback: well under a second each time, the second one on the first one's connection (kept alive) or a new one.
    expect(times).toHaveLength(2);
    for (const ms of times) expect(ms).toBeGreaterThanOrEqual(0);
    for (const ms of times) expect(ms).toBeLessThan(1000);
  });

  it('maps an API error of the bulk read to a KeyboxError', async () => {
    handler = (_req, res) =>
      json(res, 404, { error: { code: 'NOT_FOUND', message: 'no project shop', requestId: 'req-9' } });
    const client = createKeyboxClient({ addr, token: TOKEN });
    const error = await failure(client.bulkRead({ project: 'shop', env: 'dev', paths: ['/'] }));
    expect(error).toMatchObject({ code: 'NOT_FOUND', status: 404, requestId: 'req-9' });
  });
});
