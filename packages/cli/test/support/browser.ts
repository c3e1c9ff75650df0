import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT, type TestServer } from './keybox.js';

/*
 * Real Chromium (Debian's, installed by scripts/ensure-chromium.sh: the test tools' own browser downloads are not
 * reachable here), driven by playwright-core. The flags keep Chromium off the network beyond loopback: without them
 * it tries Google's hosts at every start.
 */

const run = promisify(execFile);

export async function launchChromium(): Promise<Browser> {
  const { stdout } = await run('bash', [`${REPO_ROOT}/scripts/ensure-chromium.sh`], { timeout: 170_000 });
  return chromium.launch({
    executablePath: stdout.trim(),
    args: [
      // Root in a container has no user namespace for the sandbox.
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A fresh browser profile (no cookies) on the server's UI; what the page logs as an error fails the test. */
export async function openUi(browser: Browser, server: Pick<TestServer, 'url'>) {
  const context = await browser.newContext({ baseURL: server.url });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // A refused request is the test's business (it checks the status); anything else logged as an error is a bug,
    // a content security policy violation among them.
    if (message.type() === 'error' && !/status of (401|403|404|409)/.test(message.text())) {
      problems.push(`console: ${message.text()}`);
    }
  });
  await page.goto('/');
  return { context, page, problems };
}

export async function signInWithToken(page: Page, token: string) {
  await page.getByRole('tab', { name: 'Token' }).click();
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Projects' }).waitFor();
}

export async function signInWithPassword(page: Page, name: string, password: string) {
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** The session cookie the browser holds for the server (HttpOnly: the page's scripts cannot read it). */
export async function sessionCookie(context: BrowserContext): Promise<string | undefined> {
  const cookies = await context.cookies();
  return cookies.find((c) => c.name === 'keybox_session')?.value;
}
