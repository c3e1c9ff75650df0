import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp } from '../../test-support/test-app.js';

/*
 * hvac, the Python Vault client (Debian's python3-hvac, installed by scripts/ensure-hvac.sh), against the server
 * `keybox server` runs, over a real port. The script gets its address and credentials on stdin (never in argv) and
 * prints what it saw as JSON. hvac sends LIST as a verb unless `strict_http=True` (GET ?list=true): see
 * docs/vault-api.md.
 */

const run = promisify(execFile);
/** Debian's own Python, which python3-hvac is installed for (a python3 first on PATH may be another). */
const DEBIAN_PYTHON = '/usr/bin/python3';
const ENSURE = fileURLToPath(new URL('../../../../../scripts/ensure-hvac.sh', import.meta.url));

const SCRIPT = String.raw`
import json, sys, warnings
import hvac
from hvac import exceptions
warnings.simplefilter('ignore')
cfg = json.load(sys.stdin)
out = {}
admin = hvac.Client(url=cfg['addr'], token=cfg['token'], strict_http=True)
kv = admin.secrets.kv.v2
out['authenticated'] = admin.is_authenticated()
out['health'] = admin.sys.read_health_status(method='GET')
out['write'] = kv.create_or_update_secret(path='prod/payments', secret={'STRIPE_KEY': cfg['value'], 'REGION': 'eu'}, mount_point='shop')['data']
out['read'] = kv.read_secret_version(path='prod/payments', mount_point='shop')['data']
kv.patch(path='prod/payments', secret={'TIMEOUT': '30'}, mount_point='shop')
out['patched'] = kv.read_secret_version(path='prod/payments', mount_point='shop')['data']['data']
out['v1'] = kv.read_secret_version(path='prod/payments', version=1, mount_point='shop')['data']['data']
out['list'] = kv.list_secrets(path='prod', mount_point='shop')['data']['keys']
out['metadata'] = kv.read_secret_metadata(path='prod/payments', mount_point='shop')['data']['current_version']
try:
    kv.create_or_update_secret(path='prod/payments', secret={'A': 'b'}, cas=1, mount_point='shop')
    out['stale_cas'] = 'written'
except exceptions.InvalidRequest as e:
    out['stale_cas'] = e.errors[0]
kv.delete_latest_version_of_secret(path='prod/payments', mount_point='shop')
try:
    kv.read_secret_version(path='prod/payments', mount_point='shop')
    out['after_delete'] = 'found'
except exceptions.InvalidPath:
    out['after_delete'] = 'not found'
kv.undelete_secret_versions(path='prod/payments', versions=[3], mount_point='shop')
out['undeleted'] = kv.read_secret_version(path='prod/payments', mount_point='shop')['data']['data']

app = hvac.Client(url=cfg['addr'], strict_http=True)
login = app.auth.approle.login(role_id=cfg['role_id'], secret_id=cfg['secret_id'])
out['login'] = {k: login['auth'][k] for k in ('lease_duration', 'renewable', 'policies', 'token_type')}
out['app_read'] = app.secrets.kv.v2.read_secret_version(path='prod/payments', mount_point='shop')['data']['data']
try:
    app.secrets.kv.v2.read_secret_version(path='dev', mount_point='shop')
    out['app_denied'] = 'read'
except exceptions.Forbidden as e:
    out['app_denied'] = e.errors[0]
out['lookup'] = {k: app.auth.token.lookup_self()['data'][k] for k in ('ttl', 'type', 'renewable')}
out['renewed'] = app.auth.token.renew_self()['auth']['lease_duration']
app.auth.token.revoke_self()
out['after_revoke'] = app.is_authenticated()
try:
    hvac.Client(url=cfg['addr']).auth.approle.login(role_id=cfg['role_id'], secret_id='wrong')
    out['bad_login'] = 'logged in'
except exceptions.InvalidRequest as e:
    out['bad_login'] = e.errors[0]
print(json.dumps(out))
`;

let t: Awaited<ReturnType<typeof createTestApp>>;
beforeAll(async () => {
  await run('bash', [ENSURE], { timeout: 170_000 });
}, 180_000);
beforeEach(async () => {
  t = await createTestApp();
  await t.services.projects.create({ slug: 'shop' });
});
afterEach(async () => {
  await t.close();
});

/** Runs the script with its config on stdin; resolves with what it printed. */
function python(config: Record<string, string>): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const child = execFile(DEBIAN_PYTHON, ['-c', SCRIPT], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`hvac script failed: ${stderr}`));
      else resolve(JSON.parse(stdout) as Record<string, any>);
    });
    child.stdin?.end(JSON.stringify(config));
  });
}

describe('hvac against Keybox', () => {
  it('does KV v2, AppRole login and token self-service as against Vault', async () => {
    const { url } = await t.listen();
    await t.services.policies.put(
      'payments',
      { rules: [{ projects: ['shop'], environments: ['prod'], paths: ['/payments/**'], capabilities: ['read'] }] },
      't',
    );
    const identity = await t.services.identities.create(
      'billing',
      { tokenTtl: 900, tokenMaxTtl: 3600, policies: ['payments'] },
      't',
    );
    const value = `v-${randomBytes(8).toString('hex')}`;
    const out = await python({
      addr: url,
      token: t.token,
      value,
      role_id: identity.clientId,
      secret_id: identity.clientSecret,
    });
    expect(out).toEqual({
      authenticated: true,
      health: expect.objectContaining({ initialized: true, sealed: false }),
      write: expect.objectContaining({ version: 1, destroyed: false }),
      read: {
        data: { STRIPE_KEY: value, REGION: 'eu' },
        metadata: expect.objectContaining({ version: 1 }),
      },
      patched: { STRIPE_KEY: value, REGION: 'eu', TIMEOUT: '30' },
      v1: { STRIPE_KEY: value, REGION: 'eu' },
      list: ['payments'],
      metadata: 2,
      stale_cas: 'check-and-set parameter did not match the current version',
      after_delete: 'not found',
      undeleted: { STRIPE_KEY: value, REGION: 'eu', TIMEOUT: '30' },
      login: { lease_duration: 900, renewable: true, policies: ['payments'], token_type: 'service' },
      app_read: { STRIPE_KEY: value, REGION: 'eu', TIMEOUT: '30' },
      app_denied: 'permission denied',
      lookup: { ttl: 900, type: 'service', renewable: true },
      renewed: 900,
      after_revoke: false,
      bad_login: 'invalid role or secret ID',
    });
  });
});
