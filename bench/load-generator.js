import { Buffer } from 'node:buffer';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { URL } from 'node:url';

/*
 * HTTP load generator, run as its own process: `node load-generator.js < config.json` prints a JSON result.
 * (The config comes on stdin: it can hold thousands of request paths and a token, neither fit for argv or env.)
 *
 *   engine 'autocannon': autocannon at full speed (maximum throughput). Its latencies have 1 ms resolution.
 *   engine 'closed':     `connections` keep-alive connections, each sending its next request as soon as the last
 *                        one is answered (writes: every request is different, `{c}` and `{i}` are substituted).
 *   engine 'paced':      open loop at a fixed total `rate`, spread evenly over time, over up to `connections`
 *                        keep-alive connections. Latency counts from when a request was *due*, not when it was
 *                        sent, so a server that falls behind is charged for the queue (no coordinated omission).
 *                        autocannon's own rate limit sends each connection's quota in a burst at the start of every
 *                        second, which measures saturation, not a fixed rate; hence this.
 *
 * The raw-socket client below speaks just enough HTTP/1.1 (Content-Length bodies, keep-alive) to stay far cheaper
 * than node:http on a machine where the load generator shares two cores with the server.
 */

const config = JSON.parse(await text(process.stdin));
const origin = new URL(config.origin);

async function text(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function render(template, c, i) {
  return template.replaceAll('{c}', String(c)).replaceAll('{i}', String(i));
}

function requestBytes({ method = 'GET', path, headers = {}, body }, c, i) {
  const payload = body === undefined ? undefined : Buffer.from(render(body, c, i));
  let head = `${method} ${render(path, c, i)} HTTP/1.1\r\nhost: ${origin.host}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  if (payload !== undefined) head += `content-type: application/json\r\ncontent-length: ${payload.length}\r\n`;
  head += '\r\n';
  return payload === undefined ? Buffer.from(head) : Buffer.concat([Buffer.from(head), payload]);
}

/** One keep-alive connection; `send(bytes)` resolves with the status code when the whole response has arrived. */
function openConnection() {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(origin.port), origin.hostname);
    socket.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let waiting;
    let headerEnd = -1;
    let need = 0;
    let status = 0;
    socket.on('data', (chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (headerEnd === -1) {
        headerEnd = buf.indexOf('\r\n\r\n');
        if (headerEnd === -1) return;
        const head = buf.toString('latin1', 0, headerEnd);
        status = Number(head.slice(9, 12));
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (length === null) return waiting?.reject(new Error('response without content-length'));
        need = headerEnd + 4 + Number(length[1]);
      }
      if (buf.length < need) return;
      buf = buf.subarray(need);
      headerEnd = -1;
      const done = waiting;
      waiting = undefined;
      done?.resolve(status);
    });
    socket.on('error', (error) => (waiting === undefined ? reject(error) : waiting.reject(error)));
    socket.on('close', () => waiting?.reject(new Error('connection closed')));
    socket.once('connect', () =>
      resolve({
        send(bytes) {
          return new Promise((res, rej) => {
            waiting = { resolve: res, reject: rej };
            socket.write(bytes);
          });
        },
        close: () => socket.destroy(),
      }),
    );
  });
}

function summarise(latencies, extra) {
  const sorted = Float64Array.from(latencies).sort();
  const at = (p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]);
  return {
    ...extra,
    latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1), samples: sorted.length },
  };
}

async function closedLoop() {
  const { connections, durationMs, requests } = config;
  const conns = await Promise.all(Array.from({ length: connections }, openConnection));
  const latencies = [];
  const statuses = {};
  let errors = 0;
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    conns.map(async (conn, c) => {
      const template = requests[c % requests.length];
      for (let i = 0; performance.now() < end; i++) {
        const sent = performance.now();
        try {
          const status = await conn.send(requestBytes(template, c, i));
          statuses[status] = (statuses[status] ?? 0) + 1;
          latencies.push(performance.now() - sent);
        } catch {
          errors++;
          return;
        }
      }
    }),
  );
  const elapsed = performance.now() - start;
  conns.forEach((conn) => conn.close());
  return summarise(latencies, {
    completed: latencies.length,
    rps: latencies.length / (elapsed / 1000),
    statuses,
    errors,
  });
}

async function paced() {
  const { connections, durationMs, rate, requests, pick = 'cycle' } = config;
  const interval = 1000 / rate;
  const conns = await Promise.all(Array.from({ length: connections }, openConnection));
  const idle = [...conns.keys()];
  const latencies = [];
  const statuses = {};
  let errors = 0;
  let due = 0; // requests that should have been sent by now
  let next = 0; // the next one to send: requests next..due-1 are waiting for a free connection
  const start = performance.now();
  const end = start + durationMs;
  const choose = (k) => requests[pick === 'random' ? Math.floor(Math.random() * requests.length) : k % requests.length];
  const bytes = requests.length === 1 ? requestBytes(requests[0], 0, 0) : undefined;

  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  let inFlight = 0;
  let timer;

  function dispatch() {
    // Nothing is sent after the window: what is still queued then counts as backlog.
    while (next < due && idle.length > 0 && performance.now() < end) {
      const c = idle.pop();
      const intended = start + next * interval;
      const payload = bytes ?? requestBytes(choose(next), c, next);
      next++;
      inFlight++;
      conns[c].send(payload).then(
        (status) => {
          statuses[status] = (statuses[status] ?? 0) + 1;
          latencies.push(performance.now() - intended);
          inFlight--;
          idle.push(c);
          dispatch();
          if (inFlight === 0 && performance.now() >= end) finish();
        },
        () => {
          errors++;
          inFlight--;
          if (inFlight === 0 && performance.now() >= end) finish();
        },
      );
    }
  }
  function tick() {
    const now = performance.now();
    if (now >= end) {
      // In-flight requests get a grace period; requests never sent are charged what they had waited so far.
      if (inFlight === 0) finish();
      else timer = setTimeout(finish, 5000);
      return;
    }
    due = Math.min(Math.floor((now - start) / interval) + 1, Math.ceil(durationMs / interval));
    dispatch();
    timer = setTimeout(tick, 1);
  }
  tick();
  await finished;
  clearTimeout(timer);
  const stop = performance.now();
  const backlog = due - next;
  for (let k = next; k < due; k++) latencies.push(stop - (start + k * interval));
  conns.forEach((conn) => conn.close());
  const completed = latencies.length - backlog;
  return summarise(latencies, {
    offeredRate: rate,
    completed,
    rps: completed / (durationMs / 1000),
    backlog,
    keptUp: backlog <= rate * 0.01 && errors === 0,
    statuses,
    errors,
  });
}

async function withAutocannon() {
  const { default: autocannon } = await import('autocannon');
  const [template] = config.requests;
  const result = await autocannon({
    url: `${config.origin}${template.path}`,
    method: template.method ?? 'GET',
    headers: template.headers ?? {},
    connections: config.connections,
    duration: Math.max(1, Math.round(config.durationMs / 1000)),
  });
  return {
    completed: result['2xx'],
    rps: result.requests.average,
    statuses: { '2xx': result['2xx'], non2xx: result.non2xx },
    errors: result.errors + result.timeouts,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
  };
}

const engines = { autocannon: withAutocannon, closed: closedLoop, paced };
const result = await engines[config.engine]();
process.stdout.write(`${JSON.stringify({ engine: config.engine, ...result })}\n`);
