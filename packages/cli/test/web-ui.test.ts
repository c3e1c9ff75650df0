import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openUi, sessionCookie, signInWithPassword, signInWithToken } from './support/browser.js';
import { api, canary, createProject, setSecrets } from './support/fixtures.js';
import { keybox, serverEnv, startServer, type TestServer } from './support/keybox.js';

/*
 * The web admin UI in real Chromium against the built `keybox server`: what an operator does with it, checked
 * through the API and the CLI, and what it must never do (keep a value or the session where a script or another
 * page can reach it).
 */

let browser: Browser;
let server: TestServer;
beforeAll(async () => {
  [browser, server] = await Promise.all([launchChromium(), startServer()]);
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const PASSWORD = 'correct horse battery staple';

function dialog(page: Page) {
  return page.getByRole('dialog');
}

async function addSecret(page: Page, name: string, value: string) {
  await page.getByRole('button', { name: 'Add secret' }).click();
  await dialog(page).getByLabel('Name').fill(name);
  await dialog(page).getByLabel('Value').fill(value);
  await dialog(page).getByRole('button', { name: 'Save' }).click();
  await page.getByRole('row', { name: new RegExp(name) }).waitFor();
}

const get = (name: string, project: string, path = '/') =>
  keybox(['secrets', 'get', name, '--project', project, '--env', 'dev', '--path', path], { env: serverEnv(server) });

describe('the web UI', () => {
  it('creates a project and manages a secret: add, show, edit, history, restore, delete', async () => {
    const { context, page, problems } = await openUi(browser, server);
    await signInWithToken(page, server.token);
    await page.getByRole('button', { name: 'New project' }).click();
    await dialog(page).getByLabel('Slug').fill('shop');
    await dialog(page).getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/ui\/projects\/shop\/dev$/);
    await expect.poll(() => page.getByRole('link', { name: 'staging' }).count()).toBe(1);

    // A folder is made by its first secret.
    await page.getByRole('button', { name: 'New folder' }).click();
    await dialog(page).getByLabel('Name').fill('backend');
    await dialog(page).getByRole('button', { name: 'Open' }).click();
    await page.waitForURL(/path=%2Fbackend$/);
    const first = canary('UI1');
    await addSecret(page, 'API_KEY', first);
    expect(get('API_KEY', 'shop', '/backend').stdout).toBe(first);

    // Masked until asked; the value comes from an audited read.
    const row = page.getByRole('row', { name: /API_KEY/ });
    await expect.poll(() => row.textContent()).not.toContain(first);
    await row.getByRole('button', { name: 'Show API_KEY' }).click();
    await expect.poll(() => row.textContent()).toContain(first);
    await row.getByRole('button', { name: 'Hide API_KEY' }).click();
    await expect.poll(() => row.textContent()).not.toContain(first);

    const second = canary('UI2');
    await row.getByRole('button', { name: 'Edit' }).click();
    await dialog(page).getByLabel('Value').fill(second);
    await dialog(page).getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => row.textContent()).toContain('v2');
    expect(get('API_KEY', 'shop', '/backend').stdout).toBe(second);

    await row.getByRole('button', { name: 'History' }).click();
    const history = dialog(page);
    await history.getByRole('row', { name: /v1/ }).getByRole('button', { name: 'Restore' }).click();
    await expect.poll(() => row.textContent()).toContain('v3');
    expect(get('API_KEY', 'shop', '/backend').stdout).toBe(first);

    await row.getByRole('button', { name: 'Delete' }).click();
    await dialog(page).getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.getByRole('row', { name: /API_KEY/ }).count()).toBe(0);
    expect(get('API_KEY', 'shop', '/backend').status).toBe(1);

    // Every read the page made is in the audit log, by the token that signed in, with names and no value.
    const audit = (await api(server, 'GET', '/api/v1/audit?action=secret.read&limit=50')) as {
      entries: { actor: string; resource: string }[];
    };
    expect(audit.entries.length).toBeGreaterThanOrEqual(1);
    expect(audit.entries.every((e) => e.actor === 'token:admin')).toBe(true);
    expect(JSON.stringify(audit)).not.toContain(first);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('keeps values and the session out of reach of scripts, storage and URLs', async () => {
    await createProject(server, 'vault');
    const value = canary('UI3');
    await setSecrets(server, { project: 'vault', env: 'dev', path: '/' }, { DB_PASSWORD: value });
    const { context, page, problems } = await openUi(browser, server);
    const urls: string[] = [];
    page.on('request', (request) => urls.push(request.url()));
    await signInWithToken(page, server.token);
    await page.goto('/ui/projects/vault/dev');
    const row = page.getByRole('row', { name: /DB_PASSWORD/ });
    await row.getByRole('button', { name: 'Show DB_PASSWORD' }).click();
    await expect.poll(() => row.textContent()).toContain(value);

    // What a script in the page can reach: no cookie, and in storage only the session key (half of the token).
    const seen = await page.evaluate<{ cookie: string; local: string[]; session: number; stored: string }>(
      '({ cookie: document.cookie, local: Object.keys(localStorage), session: sessionStorage.length,' +
        ' stored: JSON.stringify(localStorage) })',
    );
    expect(seen).toMatchObject({ cookie: '', local: ['keybox.sessionKey'], session: 0 });
    expect(seen.stored).not.toContain(value);
    expect(seen.stored).not.toContain(server.token);
    const cookie = await sessionCookie(context);
    expect(cookie).toMatch(/^t\./);
    expect(cookie).not.toContain(server.token);
    // Neither half alone opens anything; both together do (which is what the page sends).
    const key = await page.evaluate<string>("localStorage.getItem('keybox.sessionKey')");
    const asked = (headers: Record<string, string>) =>
      fetch(`${server.url}/api/v1/projects`, { headers }).then((r) => r.status);
    expect(await asked({ cookie: `keybox_session=${cookie ?? ''}`, 'x-keybox-csrf': '1' })).toBe(401);
    expect(await asked({ 'x-keybox-session': key })).toBe(401);
    expect(await asked({ cookie: `keybox_session=${cookie ?? ''}`, 'x-keybox-session': key })).toBe(200);
    expect(urls.some((u) => u.includes(value) || u.includes(server.token))).toBe(false);
    expect(page.url()).not.toContain(value);
    expect(problems).toEqual([]);
    await context.close();
  });

  it("never shows one folder's rows or shown value under another folder", async () => {
    await createProject(server, 'pair');
    const inA = canary('UIA');
    const inB = canary('UIB');
    await setSecrets(server, { project: 'pair', env: 'dev', path: '/a' }, { TOKEN: inA, ONLY_A: canary('UIA2') });
    await setSecrets(server, { project: 'pair', env: 'dev', path: '/b' }, { TOKEN: inB });
    const { context, page, problems } = await openUi(browser, server);
    await signInWithToken(page, server.token);
    await page.goto('/ui/projects/pair/dev?path=%2Fa');
    const row = page.getByRole('row', { name: /TOKEN/ });
    await row.getByRole('button', { name: 'Show TOKEN' }).click();
    await expect.poll(() => row.textContent()).toContain(inA);

    // From here on, everything the page ever puts on screen is recorded, not only what is there at the end.
    await page.evaluate(`{
      window.seenAfterSwitch = [];
      new MutationObserver(() => {
        if (new URLSearchParams(location.search).get('path') === '/b') window.seenAfterSwitch.push(document.body.innerText);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    }`);
    await page.getByRole('complementary', { name: 'Folders' }).getByRole('link', { name: 'b', exact: true }).click();
    await page.waitForURL(/path=%2Fb$/);
    await expect.poll(() => page.getByRole('row', { name: /TOKEN/ }).textContent()).toContain('v1');
    const seen = await page.evaluate<string[]>('window.seenAfterSwitch');
    expect(seen.length).toBeGreaterThan(0);
    // Folder a's value, shown a moment ago, is never on screen in folder b, nor its other secret's row.
    expect(seen.some((text) => text.includes(inA))).toBe(false);
    expect(seen.some((text) => text.includes('ONLY_A'))).toBe(false);
    // Folder b's own TOKEN starts masked, like every value.
    expect(seen.some((text) => text.includes(inB))).toBe(false);
    expect(problems).toEqual([]);
    await context.close();
  });

  it("signs a user in with a password, shows only what the user's policies allow, and ends the session on sign-out", async () => {
    await createProject(server, 'team');
    await api(server, 'PUT', '/api/v1/policies/team-dev', {
      role: 'ci-reader',
      scope: { project: 'team', env: 'dev', path: '/' },
    });
    await api(server, 'POST', '/api/v1/users', { name: 'bob', password: PASSWORD, policies: ['team-dev'] });
    const { context, page, problems } = await openUi(browser, server);

    await signInWithPassword(page, 'bob', 'not the password at all');
    await page.getByRole('alert').filter({ hasText: 'invalid user name or password' }).waitFor();
    await signInWithPassword(page, 'bob', PASSWORD);
    await page.getByText('user:bob').waitFor();
    // Not an admin: no access or audit pages offered, and only the project the policy names.
    expect(await page.getByRole('link', { name: 'Access' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Audit log' }).count()).toBe(0);
    await expect.poll(() => page.getByRole('heading', { name: 'team' }).count()).toBe(1);
    expect(await page.getByRole('heading', { name: 'shop' }).count()).toBe(0);

    const cookie = await sessionCookie(context);
    expect(cookie).toMatch(/^l\./);
    const key = await page.evaluate<string>("localStorage.getItem('keybox.sessionKey')");
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await sessionCookie(context)).toBeUndefined();
    expect(await page.evaluate<number>('localStorage.length')).toBe(0);
    // The token the two halves made is revoked on the server, not only forgotten by the browser.
    const replayed = await fetch(`${server.url}/api/v1/projects`, {
      headers: { cookie: `keybox_session=${cookie ?? ''}`, 'x-keybox-session': key },
    });
    expect(replayed.status).toBe(401);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('is of no use to a page of another origin, even on the same host', async () => {
    const { context, page } = await openUi(browser, server);
    await signInWithToken(page, server.token);
    // Another origin on the same site (127.0.0.1, another port): SameSite alone would let the cookie through.
    const evil = await serve(`<!doctype html><script>
      const keybox = ${JSON.stringify(server.url)};
      window.results = Promise.all([
        fetch(keybox + '/api/v1/projects', { method: 'POST', mode: 'no-cors', credentials: 'include',
          headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ slug: 'evil' }) }).then(() => 'sent', (e) => String(e)),
        fetch(keybox + '/api/v1/projects', { credentials: 'include', headers: { 'x-keybox-session': 'guess' } })
          .then((r) => 'read ' + r.status, () => 'blocked'),
      ]);
    </script>`);
    try {
      const other = await context.newPage();
      await other.goto(evil.url);
      const results = await other.evaluate<string[]>('window.results');
      // The custom header needs a CORS preflight, which the server never grants.
      expect(results[1]).toBe('blocked');
      await expect(api(server, 'GET', '/api/v1/projects/evil')).rejects.toThrow(/404/);
      const action = encodeURIComponent('POST /api/v1/projects');
      const refused = (await api(server, 'GET', `/api/v1/audit?action=${action}&outcome=failure&limit=20`)) as {
        entries: { details: Record<string, unknown> }[];
      };
      expect(refused.entries.some((e) => e.details['reason'] === 'session cookie without its key')).toBe(true);
    } finally {
      await evil.close();
      await context.close();
    }
  });
});

describe('the web UI next to another service on the same host', () => {
  it('gives that service a cookie it can do nothing with', async () => {
    const { context, page } = await openUi(browser, server);
    await signInWithToken(page, server.token);
    // The browser sends the host's cookies to every port: the app next door receives Keybox's.
    const received: string[] = [];
    const neighbour = await serve('<!doctype html><p>another app</p>', (cookie) => received.push(cookie));
    try {
      const other = await context.newPage();
      await other.goto(neighbour.url);
      const sent = received.find((c) => c.includes('keybox_session=')) ?? '';
      expect(sent).toMatch(/keybox_session=t\./);
      expect(sent).not.toContain(server.token);
      // Replayed from anywhere, with any header the UI's start request uses, it is refused.
      for (const headers of [{}, { 'x-keybox-csrf': '1' }, { 'x-keybox-session': 'AAAA' }]) {
        const res = await fetch(`${server.url}/api/v1/projects`, { headers: { cookie: sent, ...headers } });
        expect(res.status).toBe(401);
      }
    } finally {
      await neighbour.close();
      await context.close();
    }
  });
});

describe('the web UI for admins', () => {
  it('makes a policy and a machine identity whose secret, shown once, lets keybox run fetch that folder', async () => {
    await createProject(server, 'pay');
    const value = canary('UI4');
    await setSecrets(server, { project: 'pay', env: 'dev', path: '/api' }, { STRIPE_KEY: value });
    const { context, page, problems } = await openUi(browser, server);
    await signInWithToken(page, server.token);

    await page.getByRole('link', { name: 'Access' }).click();
    await page.getByRole('link', { name: 'Policies' }).click();
    await page.getByRole('button', { name: 'New policy' }).click();
    await dialog(page).getByLabel('Name').fill('pay-api');
    await dialog(page).getByLabel('Role').selectOption('ci-reader');
    await dialog(page).getByLabel('Project').fill('pay');
    await dialog(page).getByLabel('Environment').fill('dev');
    await dialog(page).getByLabel('Path').fill('/api');
    await dialog(page).getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: 'pay-api' }).waitFor();

    await page.getByRole('link', { name: 'Identities' }).click();
    await page.getByRole('button', { name: 'New identity' }).click();
    await dialog(page).getByLabel('Name').fill('pay-ci');
    await dialog(page).getByLabel('Policies').fill('pay-api');
    await dialog(page).getByRole('button', { name: 'Create' }).click();
    const shown = dialog(page).locator('.shown-once code');
    await expect.poll(() => shown.count()).toBe(2);
    const [clientId, clientSecret] = await shown.allTextContents();
    await dialog(page).getByRole('button', { name: 'Done' }).click();
    // Gone from the page once its dialog closed.
    expect(await page.content()).not.toContain(clientSecret);
    await page.getByRole('row', { name: /pay-ci/ }).waitFor();

    const run = keybox(['run', '--project', 'pay', '--env', 'dev', '--path', '/api', '--', 'printenv', 'STRIPE_KEY'], {
      env: { KEYBOX_ADDR: server.url, KEYBOX_CLIENT_ID: clientId, KEYBOX_CLIENT_SECRET: clientSecret },
    });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe(value);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('shows the audit log filtered, verifies its chain, and the status page', async () => {
    const { context, page, problems } = await openUi(browser, server);
    await signInWithToken(page, server.token);
    await page.goto('/ui/audit?action=auth.session');
    const rows = page.getByRole('row', { name: /auth\.session/ });
    await expect.poll(() => rows.count()).toBeGreaterThan(0);
    expect(await page.getByRole('row', { name: /projects\.list/ }).count()).toBe(0);
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.getByText('chain intact').waitFor();

    await page.getByRole('link', { name: 'Status' }).click();
    await page.getByRole('heading', { name: 'Status' }).waitFor();
    await page.getByText('SQLite').waitFor();
    await page.getByText('consistent', { exact: true }).waitFor();
    expect(problems).toEqual([]);
    await context.close();
  });

  it('shows an app manifest: what is held, what is missing, and which variables feed each secret', async () => {
    await createProject(server, 'crm');
    await setSecrets(server, { project: 'crm', env: 'dev', path: '/' }, { SMTP_PASSWORD: canary('UI5'), OLD_KEY: 'x' });
    await api(server, 'PUT', '/api/v1/projects/crm/environments/dev/manifest', {
      version: 1,
      items: { SMTP_PASSWORD: { description: 'mail' }, OPENAI_API_KEY: { description: 'model access' } },
    });
    const { context, page, problems } = await openUi(browser, server);
    await signInWithToken(page, server.token);
    await page.goto('/ui/projects/crm/dev');
    await page.getByRole('link', { name: 'App manifest' }).click();
    const smtp = page.getByRole('row', { name: /SMTP_PASSWORD/ }).first();
    const openai = page.getByRole('row', { name: /OPENAI_API_KEY/ });
    await expect.poll(() => smtp.textContent()).toContain('present');
    expect(await smtp.textContent()).toContain('SMTP_PASSWORD_FILE');
    expect(await openai.textContent()).toContain('missing');
    expect(await openai.textContent()).toContain('OPENAI_API_KEY_FILE');
    await expect.poll(() => page.getByText('1 required item is missing').count()).toBe(1);
    // What the environment holds that no item declares.
    await expect.poll(() => page.getByRole('row', { name: /OLD_KEY/ }).count()).toBe(1);
    // An environment no manifest was pushed to says how to push one, not an error.
    await page.getByRole('link', { name: 'staging' }).click();
    await page.getByText('keybox manifest push', { exact: false }).first().waitFor();
    expect(await page.getByRole('alert').count()).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  });
});

/** A page of another origin on loopback; `onCookie` hears the Cookie header of each request it gets. */
async function serve(
  html: string,
  onCookie?: (cookie: string) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const other: Server = createServer((req, res) => {
    onCookie?.(req.headers.cookie ?? '');
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(html);
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const { port } = other.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => other.close(() => resolve())),
  };
}
