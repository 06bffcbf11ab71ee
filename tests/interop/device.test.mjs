// The device authorization grant (RFC 8628) from a terminal, in CI: a small terminal program on openid-client 6
// (./device-cli.mjs: initiateDeviceAuthorization, pollDeviceAuthorizationGrant; public API only) prints the
// verification URI and the user code on stdout and waits; headless Chromium (playwright-core, Debian's binary)
// reads them, signs in at the broker through oidc-provider, types the code and answers the broker's consent page.
// The program then prints the tokens it received (ID token validated by the library) or the error.
//
// Run: bash tests/interop/run.sh   (or: cd tests/interop && BK_BIN=... node --test device.test.mjs)
// Skipped, not failed, when there is no Chromium at /usr/bin/chromium (or BK_CHROMIUM).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startWorld, tail } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.BK_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];
const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const CLIENT = 'device-tv';
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium)`;
const { chromium } = skip ? {} : await import('playwright-core');

/**
 * Starts the terminal program; resolves `shown` with what it printed for the person ({ uri, code, complete }) and
 * `done` with its last line once it exits.
 */
function startTerminal(issuer) {
  const child = spawn(process.execPath, [join(here, 'device-cli.mjs'), issuer, CLIENT,
    'openid profile email offline_access'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  let showIt;
  const shown = new Promise((resolve) => { showIt = resolve; });
  const rl = createInterface({ input: child.stdout });
  rl.on('line', (line) => {
    lines.push(line);
    const m = line.match(/^To sign in, open (\S+) and enter the code (\S+)$/);
    if (m) showIt({ uri: m[1], code: m[2] });
  });
  const done = new Promise((resolve) => child.once('exit', (code) => resolve({ code, last: lines.at(-1) ?? '', lines })));
  return { child, shown, done };
}

describe('device authorization grant from a terminal', { skip }, () => {
  let world;
  let context;
  let userDataDir;

  before(async () => {
    world = await startWorld({
      clients: [{
        clientId: CLIENT, name: 'Living Room TV', redirectUris: ['http://127.0.0.1:9/unused'],
        grantTypes: [GRANT, 'refresh_token'],
      }],
      extraConfig: '[device]\nenabled = true\ninterval_secs = 1\n',
    });
    userDataDir = mkdtempSync(join(tmpdir(), 'bk-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, timeout: 30_000,
    });
  }, { timeout: 60_000 });

  after(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await world?.stop();
  }, { timeout: 30_000 });

  const withLog = async (fn) => {
    try {
      await fn();
    } catch (e) {
      e.message += `\n--- broker log (tail) ---\n${tail(world?.logFile ?? '', 30)}`;
      throw e;
    }
  };

  test('the person types the code the terminal printed and allows it; the terminal gets validated tokens',
    { timeout: 60_000 }, () => withLog(async () => {
      const terminal = startTerminal(world.broker.issuer);
      const { uri, code } = await terminal.shown;
      assert.equal(uri, `${world.broker.issuer}/device`);
      assert.match(code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
      const page = context.pages()[0] ?? await context.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(uri);
      // Not signed in at the broker: the usual sign-in (one upstream: straight there), then back to /device.
      await page.waitForURL((u) => u.pathname.startsWith('/interaction'));
      await page.locator('input[name="login"]').fill('tv-watcher');
      await page.locator('input[name="password"]').fill('any password');
      await page.getByRole('button', { name: 'Sign-in' }).click();
      await page.locator('form:has(input[name="prompt"][value="consent"])').waitFor();
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForURL((u) => u.href.startsWith(`${world.broker.issuer}/device`));
      assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Connect a device');
      // Typed as a person might: lower case, a space instead of the dash.
      await page.getByLabel('Code from your device').fill(code.toLowerCase().replace('-', ' '));
      await page.getByRole('button', { name: 'Continue' }).click();
      assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Living Room TV on your device would like to');
      assert.equal(await page.locator('.user-code').textContent(), code, 'the code again, to compare with the TV');
      await page.getByRole('button', { name: 'Allow' }).click();
      assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Living Room TV is connected');
      const { code: exit, last } = await terminal.done;
      assert.equal(exit, 0, last);
      const got = JSON.parse(last.replace(/^TOKENS /, ''));
      assert.equal(got.aud, CLIENT);
      assert.equal(got.email, 'tv-watcher@upstream.test');
      assert.ok(got.sub);
      assert.equal(got.token_type.toLowerCase(), 'bearer');
      assert.ok(got.refresh, 'offline_access and refresh_token: a refresh token');
    }));

  test('the complete URI only prefills the code: the person still presses a button, and Deny reaches the terminal',
    { timeout: 60_000 }, () => withLog(async () => {
      const terminal = startTerminal(world.broker.issuer);
      const { code } = await terminal.shown;
      const complete = terminal.done.then(() => null);
      const page = context.pages()[0] ?? await context.newPage();
      await page.goto(`${world.broker.issuer}/device?user_code=${code}`);
      assert.equal(await page.getByLabel('Code from your device').inputValue(), code);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('button', { name: 'Deny' }).click();
      assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Living Room TV was not connected');
      await complete;
      const { code: exit, last } = await terminal.done;
      assert.equal(exit, 1);
      assert.equal(last, 'ERROR access_denied');
    }));
});
