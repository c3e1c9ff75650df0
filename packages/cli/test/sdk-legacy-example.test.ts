import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CleanupResult, LegacyCheck, SecretsStatus } from '@keybox/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, createProject, setSecrets } from './support/fixtures.js';
import {
  cleanEnv,
  KEYBOX_BIN,
  keybox,
  NODE_BIN,
  REPO_ROOT,
  serverEnv,
  spawnKeybox,
  startServer,
  tempDir,
  type TestServer,
} from './support/keybox.js';

/*
 * examples/legacy-settings-app, the migration of ADR 0001 end to end: secrets start in the app's SQLite settings
 * table, move to Keybox (through keybox run) and a NAME_FILE, the cleanup empties the table, and the check and the
 * status page prove it. Every value is a canary that must never appear in any output.
 */

const APP_DIR = join(REPO_ROOT, 'examples/legacy-settings-app');
const APP = join(APP_DIR, 'app.js');
const legacy = { ai: `sk-${canary('OLDAI')}`, smtp: canary('OLDSMTP'), seed: canary('OLDSEED') };
const fresh = { ai: `sk-${canary('NEWAI')}`, smtp: canary('NEWSMTP'), seed: canary('NEWSEED'), admin: canary('ADMIN') };
const everyValue = [...Object.values(legacy), ...Object.values(fresh)];

let server: TestServer;
let dir: string;
let db: string;
let seedFile: string;
const runArgs = ['run', '--project', 'capakraken', '--env', 'prod', '--path', '/app', '--'];

beforeAll(async () => {
  dir = tempDir('keybox-legacy-app-');
  db = join(dir, 'settings.db');
  seedFile = join(dir, 'anonymization_seed');
  server = await startServer();
  await createProject(server, 'capakraken');
});

afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function noValues(text: string): void {
  for (const value of everyValue) expect(text).not.toContain(value);
}

/** `node app.js …` directly: the app as it ran before the migration. */
function app(args: string[], input?: string) {
  const result = spawnSync(NODE_BIN, [APP, ...args, '--db', db], { env: cleanEnv(), input, encoding: 'utf8' });
  noValues(`${result.stdout}${result.stderr}`);
  return result;
}

/** `keybox run … -- node app.js …`: the app as it runs after, with the seed in a mounted file. */
function underKeybox(args: string[]) {
  const env = serverEnv(server, { ANONYMIZATION_SEED_FILE: seedFile });
  const result = keybox([...runArgs, NODE_BIN, APP, ...args, '--db', db], { env });
  noValues(`${result.stdout}${result.stderr}`);
  return result;
}

const sources = (stdout: string) =>
  Object.fromEntries((JSON.parse(stdout) as SecretsStatus).items.map((i) => [i.name, i.source]));

describe('examples/legacy-settings-app: from the settings table to Keybox', () => {
  it('1. starts with its secrets in the settings table: status says legacy, the check fails', () => {
    const settings = {
      smtp: { host: 'mail.example', password: legacy.smtp },
      ai: { provider: 'openai', apiKey: legacy.ai },
      anonymization: { mode: 'hash', seed: legacy.seed },
    };
    expect(app(['seed'], JSON.stringify(settings)).status).toBe(0);
    const status = app(['status']);
    expect(status.status).toBe(0);
    expect(sources(status.stdout)).toMatchObject({
      AI_API_KEY: 'legacy',
      SMTP_PASSWORD: 'legacy',
      ANONYMIZATION_SEED: 'legacy',
    });
    const check = app(['check-legacy']);
    expect(check.status).toBe(1);
    expect((JSON.parse(check.stdout) as LegacyCheck).remaining).toEqual([
      'AI_API_KEY',
      'SMTP_PASSWORD',
      'ANONYMIZATION_SEED',
    ]);
  });

  it('refuses the cleanup while nothing replaces the legacy values, and keeps them', () => {
    const result = app(['cleanup']);
    expect(result.status).toBe(1);
    expect((JSON.parse(result.stdout) as CleanupResult).cleared).toEqual([]);
    expect(result.stderr).toContain('not cleared: SMTP_PASSWORD: no environment variable, file or Keybox value');
    expect(app(['check-legacy']).status).toBe(1);
  });

  it('2. gets them from keybox run and a NAME_FILE: status says keybox and file, with the residue flagged', async () => {
    await setSecrets(
      server,
      { project: 'capakraken', env: 'prod', path: '/app' },
      { OPENAI_API_KEY: fresh.ai, SMTP_PASSWORD: fresh.smtp, ADMIN_TOKEN: fresh.admin },
    );
    writeFileSync(seedFile, `${fresh.seed}\n`, { mode: 0o600 });
    const result = underKeybox(['status']);
    expect(result.status).toBe(0);
    const status = JSON.parse(result.stdout) as SecretsStatus;
    expect(sources(result.stdout)).toMatchObject({
      AI_API_KEY: 'keybox',
      SMTP_PASSWORD: 'keybox',
      ANONYMIZATION_SEED: 'file',
      ADMIN_TOKEN: 'keybox',
    });
    expect(status.items.find((i) => i.name === 'AI_API_KEY')).toMatchObject({
      variable: 'OPENAI_API_KEY',
      keybox: { via: 'run', path: '/app', version: 1 },
      problems: [{ code: 'LEGACY_RESIDUE' }],
    });
    expect(status.legacy).toEqual({
      configured: true,
      remaining: ['AI_API_KEY', 'SMTP_PASSWORD', 'ANONYMIZATION_SEED'],
      served: [],
    });
  });

  it('3. clears the settings table once every secret has its replacement', () => {
    const dryRun = underKeybox(['cleanup', '--dry-run']);
    expect(JSON.parse(dryRun.stdout)).toMatchObject({
      dryRun: true,
      remaining: ['AI_API_KEY', 'SMTP_PASSWORD', 'ANONYMIZATION_SEED'],
    });
    const result = underKeybox(['cleanup']);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      dryRun: false,
      cleared: ['AI_API_KEY', 'SMTP_PASSWORD', 'ANONYMIZATION_SEED'],
      refused: [],
      failed: [],
      remaining: [],
    });
  });

  it('4. passes the check, with or without keybox run, and keybox check agrees', () => {
    expect(underKeybox(['check-legacy']).status).toBe(0);
    expect(app(['check-legacy']).status).toBe(0);
    const status = JSON.parse(underKeybox(['status']).stdout) as SecretsStatus;
    expect(status.legacy).toEqual({ configured: true, remaining: [], served: [] });
    expect(status.items.flatMap((i) => i.problems)).toEqual([]);
    const check = keybox([...runArgs, KEYBOX_BIN, 'check', '--manifest', join(APP_DIR, 'keybox.manifest.json')], {
      env: serverEnv(server, { ANONYMIZATION_SEED_FILE: seedFile }),
    });
    noValues(`${check.stdout}${check.stderr}`);
    expect(check.status).toBe(0);
  });

  it('serves the status page to admins only, and a settings update cannot write a secret back', async () => {
    const child = spawnKeybox([...runArgs, NODE_BIN, APP, 'serve', '--port', '0', '--db', db], {
      env: serverEnv(server, { ANONYMIZATION_SEED_FILE: seedFile }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      const base = await new Promise<string>((resolve, reject) => {
        let stderr = '';
        child.stderr?.setEncoding('utf8');
        child.stderr?.on('data', (chunk: string) => {
          stderr += chunk;
          const match = /listening on (\S+)/.exec(stderr);
          if (match !== null) resolve(match[1] as string);
        });
        child.once('exit', (code) => reject(new Error(`app exited with ${code}: ${stderr}`)));
      });
      const admin = { authorization: `Bearer ${fresh.admin}` };
      expect((await fetch(`${base}/api/secrets/status`)).status).toBe(403);
      const page = await fetch(`${base}/api/secrets/status`, { headers: admin });
      const body = await page.text();
      noValues(body);
      expect(page.status).toBe(200);
      expect(page.headers.get('cache-control')).toBe('no-store');
      expect((JSON.parse(body) as SecretsStatus).legacy.remaining).toEqual([]);

      const update = { smtp: { host: 'relay.example', password: 'typed-into-the-form' }, ai: { apiKey: 'sk-typed' } };
      const saved = await fetch(`${base}/api/settings`, {
        method: 'PUT',
        headers: admin,
        body: JSON.stringify(update),
      });
      expect(await saved.json()).toEqual({
        saved: ['smtp.host'],
        ignored: [
          { name: 'SMTP_PASSWORD', path: 'smtp.password' },
          { name: 'AI_API_KEY', path: 'ai.apiKey' },
        ],
      });
      const settings = await (await fetch(`${base}/api/settings`, { headers: admin })).text();
      noValues(settings);
      expect(settings).not.toContain('typed-into-the-form');
      expect(JSON.parse(settings)).toMatchObject({
        settings: { 'smtp.host': 'relay.example', 'ai.provider': 'openai' },
      });
    } finally {
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      });
    }
    expect(app(['check-legacy']).status).toBe(0);
  });
});
