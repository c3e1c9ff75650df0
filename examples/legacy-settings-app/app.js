/*
 * An app that began with its runtime secrets in its settings table, and the commands that move them out with
 * @keybox/sdk, as ADR 0001 (runtime secret provisioning) asks. README.md walks through the migration.
 *
 *   node app.js seed [--db FILE] < settings.json    write settings (the old way: secrets included)
 *   node app.js status [--db FILE]                  presence and source of each declared item, never a value
 *   node app.js cleanup [--db FILE] [--dry-run]     clear legacy secrets that another source now supplies
 *   node app.js check-legacy [--db FILE]            exit 1 while any secret is still in the settings table
 *   node app.js serve [--db FILE] [--port N]        the admin API: /api/secrets/status and /api/settings
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createSecrets, createStatusHandler, readManifestFile } from '@keybox/sdk';
import { flatten, legacySettings, openSettingsStore } from './settings-store.js';

const { values: flags, positionals } = parseArgs({
  options: {
    db: { type: 'string', default: 'settings.db' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8080' },
    'dry-run': { type: 'boolean', default: false },
  },
  allowPositionals: true,
});

const manifest = readManifestFile(new URL('./keybox.manifest.json', import.meta.url));
const store = openSettingsStore(flags.db);
const secrets = createSecrets(manifest, { legacy: legacySettings(store, manifest) });
const secretKeys = new Set(manifest.items.filter((i) => i.secret).flatMap((i) => i.settingsKeys));

const commands = { seed, status, cleanup, 'check-legacy': checkLegacy, serve };
const command = commands[positionals[0]];
if (command === undefined) {
  process.stderr.write('usage: node app.js seed|status|cleanup|check-legacy|serve [--db FILE]\n');
  process.exit(2);
}
process.exitCode = await command();

/** The old way: settings arrive as JSON and everything goes into the table, secrets included. */
async function seed() {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  const entries = flatten(JSON.parse(text));
  store.set(entries);
  process.stderr.write(`seeded ${Object.keys(entries).length} settings\n`);
  return 0;
}

async function status() {
  const report = await secrets.load();
  print(report);
  return report.ok ? 0 : 1;
}

async function cleanup() {
  const result = await secrets.legacy.cleanup({ dryRun: flags['dry-run'] });
  print(result);
  for (const { name, reason } of result.refused) process.stderr.write(`not cleared: ${name}: ${reason}\n`);
  return result.refused.length > 0 || result.failed.length > 0 ? 1 : 0;
}

async function checkLegacy() {
  const result = await secrets.legacy.check();
  print(result);
  if (!result.ok) process.stderr.write(`secrets still in the settings table: ${result.remaining.join(', ')}\n`);
  return result.ok ? 0 : 1;
}

async function serve() {
  await secrets.load();
  const statusHandler = createStatusHandler(secrets, { authorize: isAdmin });
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url ?? '/', 'http://app');
    if (pathname === '/api/secrets/status') return void statusHandler(req, res);
    if (pathname !== '/api/settings') return send(res, 404, { error: 'not found' });
    if (!isAdmin(req)) return send(res, 403, { error: 'admins only' });
    if (req.method === 'GET') return send(res, 200, readSettings());
    if (req.method === 'PUT') return void saveSettings(req, res);
    return send(res, 405, { error: 'use GET or PUT' });
  });
  const port = await new Promise((resolve) => {
    server.listen(Number(flags.port), flags.host, () => resolve(server.address().port));
  });
  process.stderr.write(`listening on http://${flags.host}:${port}\n`);
  return 0;
}

/** Admin settings read: non-secret settings with their values, secrets as presence and source only (ADR rule 2). */
function readSettings() {
  const settings = Object.fromEntries(
    store
      .keys()
      .filter((k) => !secretKeys.has(k))
      .map((k) => [k, store.get(k)]),
  );
  const { items } = secrets.status();
  return {
    settings,
    secrets: items
      .filter((i) => i.secret)
      .map(({ name, present, source, envVars }) => ({ name, present, source, envVars })),
  };
}

/** Admin settings update: secrets in the payload are dropped and reported, never written (ADR rule 3). */
async function saveSettings(req, res) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) return send(res, 413, { error: 'too large' });
  }
  let update;
  try {
    update = JSON.parse(body);
  } catch {
    return send(res, 400, { error: 'not JSON' });
  }
  const { payload, dropped } = secrets.stripSecrets(update);
  const entries = flatten(payload);
  store.set(entries);
  return send(res, 200, { saved: Object.keys(entries), ignored: dropped });
}

/** The status page and the settings API are for admins: a bearer token compared in constant time. */
function isAdmin(req) {
  const expected = secrets.get('ADMIN_TOKEN');
  if (expected === undefined) return false;
  const digest = (text) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(req.headers.authorization ?? ''), digest(`Bearer ${expected}`));
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function print(data) {
  process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
}
