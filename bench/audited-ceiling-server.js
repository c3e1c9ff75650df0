// The audited ceiling: the least a server can do and still answer each read only after a durable audit entry for
// it, as the issue asks of keybox ("the response still waits for its entry"). A bare node:http server like
// ceiling-server.js that, per request, builds a one-line JSON entry of the size keybox writes for a bulk read,
// chains it with HMAC-SHA-256, writes the turn's entries to a file with one write, and answers them once an
// fdatasync begun after that write has finished. Syncs run on libuv's thread pool, one at a time; entries arriving
// during a sync share the next one. No authentication, no authorization, no database, no secrets: everything it
// costs over the ceiling is the price of recording each read durably before answering it.
// The file is allocated (and synced) up front and written in place, wrapping around at its end, as SQLite reuses
// its WAL after a checkpoint: a sync that must also record a grown file size costs more (~215 against ~130 µs on
// the dev machine), and this is meant to be the cheapest way.
//   node audited-ceiling-server.js BODY_FILE LOG_FILE [PORT]   → prints `listening on http://127.0.0.1:PORT` on stderr
import process from 'node:process';

const http = process.getBuiltinModule('node:http');
const fs = process.getBuiltinModule('node:fs');
const crypto = process.getBuiltinModule('node:crypto');

const LOG_BYTES = 64 * 1024 * 1024;

const body = fs.readFileSync(process.argv[2]);
const log = fs.openSync(process.argv[3], 'w', 0o600);
const zeros = Buffer.alloc(1024 * 1024);
for (let at = 0; at < LOG_BYTES; at += zeros.length) writeAll(zeros, at);
fs.fsyncSync(log);
let position = 0;
const key = crypto.createSecretKey(crypto.randomBytes(32));
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length };

let mac = crypto.createHmac('sha256', key).update('genesis').digest('base64url');
let seq = 0;
/** Entries written this turn, not yet handed to a sync. */
let written = [];
/** Entries written while a sync was under way: they wait for the next one. */
let waiting = [];
let flushScheduled = false;
let syncing = false;

function writeAll(bytes, at) {
  for (let done = 0; done < bytes.length;) done += fs.writeSync(log, bytes, done, bytes.length - done, at + done);
}

function flush() {
  flushScheduled = false;
  let text = '';
  for (const entry of written) text += entry.line;
  const bytes = Buffer.from(text);
  if (position + bytes.length > LOG_BYTES) position = 0;
  writeAll(bytes, position);
  position += bytes.length;
  waiting.push(...written);
  written = [];
  sync();
}

function sync() {
  if (syncing || waiting.length === 0) return;
  const group = waiting;
  waiting = [];
  syncing = true;
  fs.fdatasync(log, (error) => {
    syncing = false;
    if (error) {
      process.stderr.write(`audited-ceiling-server: fdatasync failed: ${error.message}\n`);
      process.exit(1);
    }
    for (const entry of group) entry.res.writeHead(200, headers).end(body);
    sync();
  });
}

const server = http.createServer((req, res) => {
  seq += 1;
  const fields = JSON.stringify({
    seq,
    time: new Date().toISOString(),
    actor: 'token:kbx_0123456789abcdef',
    actorType: 'token',
    sourceIp: req.socket.remoteAddress,
    userAgent: req.headers['user-agent'] ?? '',
    action: 'secrets.read',
    resource: req.url,
    outcome: 'success',
    requestId: crypto.randomUUID(),
    details: { names: { sha256: 'n'.repeat(43) }, versions: 'v'.repeat(40) },
  });
  mac = crypto.createHmac('sha256', key).update(mac).update(fields).digest('base64url');
  written.push({ line: `${fields.slice(0, -1)},"mac":"${mac}"}\n`, res });
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
});
server.listen(Number(process.argv[4] ?? 0), '127.0.0.1', () => {
  process.stderr.write(`listening on http://127.0.0.1:${server.address().port}\n`);
});
