// Interop in a real browser: Debian's Chromium, headless, driven by playwright-core, in front of the broker.
//   upstream:   two oidc-provider instances (./upstream.mjs) with their development login and consent pages
//   downstream: two tiny web apps on openid-client (./app.mjs), registered as static clients of the broker
//   browser:    /usr/bin/chromium with a fresh user-data dir per scenario; the person clicks what people click
//
// Every scenario saves screenshots (wide and 375 px), the HTML and the accessibility tree of the broker pages it
// passes under output/<scenario>/, and on failure a screenshot, the HTML and the navigation trail of the page it
// failed on (failure.png, failure.html, failure-trail.txt).
//
// Run: bash tests/interop/run.sh   (or: cd tests/interop && BK_BIN=... node --test browser.test.mjs)
// Skipped, not failed, when there is no Chromium at /usr/bin/chromium (or BK_CHROMIUM).

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as oidc from 'openid-client';

import { startApp } from './app.mjs';
import { startWorld, tail } from './harness.mjs';
import { claimsFor } from './upstream.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const OUTPUT = join(here, 'output');
const CHROMIUM = process.env.BK_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];
const WIDE = { width: 1280, height: 800 };
const NARROW = { width: 375, height: 667 };
const TEST_TIMEOUT = 60_000;
const DEBUG = !!process.env.BK_INTEROP_DEBUG;

const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium)`;
// Loaded only when it will be used, so that a machine without the browser skips cleanly.
const { chromium } = skip ? {} : await import('playwright-core');

/** An assert.rejects validator for an OAuth error code. */
const isError = (code) => (e) => e?.error === code || assert.fail(`expected ${code}, got ${e?.error ?? e}`);

const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 120);

/**
 * What a page shows that a person or a screen reader depends on. Returns a list of problems (empty when fine):
 * language, title, one h1, an accessible name for every link, button and field, text contrast (WCAG 1.4.3 AA)
 * and, when `narrow`, no sideways scrolling (WCAG 1.4.10 reflow).
 */
function pageProblems(narrow) {
  const problems = [];
  if (!document.documentElement.lang) problems.push('<html> has no lang');
  if (!document.title.trim()) problems.push('no <title>');
  const h1s = document.querySelectorAll('h1').length;
  if (h1s !== 1) problems.push(`${h1s} <h1> elements`);
  const describe = (el) => el.outerHTML.slice(0, 120);
  const nameOf = (el) => {
    const label = el.getAttribute('aria-label')
      ?? (el.getAttribute('aria-labelledby') ?? '').split(/\s+/).filter(Boolean)
        .map((id) => document.getElementById(id)?.textContent ?? '').join(' ');
    if (label.trim()) return label.trim();
    if (el.labels?.length) return [...el.labels].map((l) => l.textContent).join(' ').trim();
    const alts = [...el.querySelectorAll('img[alt]')].map((i) => i.alt).join(' ');
    return `${el.innerText ?? ''} ${alts} ${el.getAttribute('title') ?? ''}`.trim();
  };
  for (const el of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')) {
    if (!nameOf(el)) problems.push(`no accessible name: ${describe(el)}`);
  }
  for (const img of document.querySelectorAll('img')) {
    if (!img.hasAttribute('alt')) problems.push(`image without alt: ${describe(img)}`);
  }
  // Contrast of every visible text node's element against the first opaque background behind it.
  const rgb = (c) => (c.match(/[\d.]+/g) ?? []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0.99)) return c;
    }
    return [255, 255, 255];
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || seen.has(el)) continue;
    seen.add(el);
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none' || el.getClientRects().length === 0) continue;
    const fg = rgb(st.color);
    const [l1, l2] = [lum(fg), lum(background(el))].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`contrast ${ratio.toFixed(2)}:1 for "${n.textContent.trim().slice(0, 40)}" (${st.color} on `
        + `rgb(${background(el).join(', ')}), ${size}px)`);
    }
  }
  if (narrow && document.documentElement.scrollWidth > window.innerWidth) {
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).map(describe).slice(0, 3);
    problems.push(`page scrolls sideways at ${window.innerWidth}px (${document.documentElement.scrollWidth}px wide): `
      + wide.join(' | '));
  }
  return problems;
}

/**
 * The element that has keyboard focus must show it (WCAG 2.4.7) with an outline or ring that contrasts at least
 * 3:1 with the background around it (WCAG 1.4.11). Returns { problem, element } or null (also when nothing has
 * focus).
 */
function focusProblem() {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const rgb = (c) => (c.match(/[\d.]+/g) ?? []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const around = () => {
    for (let e = el.parentElement; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0.99)) return c;
    }
    return [255, 255, 255];
  };
  const st = getComputedStyle(el);
  const what = `${el.tagName.toLowerCase()} "${(el.innerText || el.getAttribute('aria-label') || el.name || '').trim()
    .slice(0, 40)}"`;
  if (st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0) {
    const [l1, l2] = [lum(rgb(st.outlineColor)), lum(around())].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    return ratio >= 3 ? null : {
      problem: `the keyboard focus outline has contrast ${ratio.toFixed(2)}:1 (${st.outlineColor} on `
        + `rgb(${around().join(', ')})); WCAG 1.4.11 needs 3:1`,
      element: what,
    };
  }
  if (st.boxShadow && st.boxShadow !== 'none') return null; // a focus ring drawn as a shadow: not measured here
  return { problem: 'no visible keyboard focus indicator (WCAG 2.4.7)', element: what };
}

/** One person at one Chromium with a fresh user-data dir; records the pages shown and the navigation trail. */
class Tab {
  static async open(outDir, world, apps) {
    const tab = new Tab(outDir, world, apps);
    tab.userDataDir = mkdtempSync(join(tmpdir(), 'bk-chromium-'));
    tab.context = await chromium.launchPersistentContext(tab.userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: WIDE,
      timeout: 30_000,
    });
    tab.page = tab.context.pages()[0] ?? await tab.context.newPage();
    tab.page.setDefaultTimeout(10_000);
    tab.page.setDefaultNavigationTimeout(15_000);
    tab.page.on('request', (r) => {
      if (r.isNavigationRequest() && r.frame() === tab.page.mainFrame()) tab.trail.push(`${r.method()} ${r.url()}`);
    });
    tab.page.on('response', (r) => {
      const rq = r.request();
      if (!rq.isNavigationRequest() || rq.frame() !== tab.page.mainFrame()) return;
      tab.trail.push(`  -> ${r.status()}${r.headers().location ? ` ${r.headers().location}` : ''}`);
      if (r.status() < 300 || r.status() >= 400) tab.shown.push(tab.where(r.url()));
    });
    if (DEBUG) tab.page.on('console', (m) => console.error(`[chromium console] ${m.text()}`));
    return tab;
  }

  constructor(outDir, world, apps) {
    this.outDir = outDir;
    this.world = world;
    this.apps = apps;
    /** Pages shown to the person (navigations that were not redirects), e.g. 'broker /consent'. */
    this.shown = [];
    /** Every main-frame navigation request and its answer. */
    this.trail = [];
    this.problems = [];
    this.snaps = 0;
  }

  /** A short name for where a URL is: 'broker /login', 'upstream-a /interaction', 'app-one /cb'. */
  where(href) {
    const u = new URL(href);
    const path = u.pathname.replace(/^\/interaction\/.*/, '/interaction');
    if (u.origin === this.world.broker.issuer) return `broker ${path}`;
    for (const [id, up] of Object.entries(this.world.upstreams)) if (u.origin === up.issuer) return `${id} ${path}`;
    for (const app of this.apps) if (u.origin === app.origin) return `${app.clientId} ${path}`;
    return href;
  }

  /** Waits until the browser shows `place` (as named by `where`), after redirects and the load event. */
  async waitFor(place) {
    await this.page.waitForURL((u) => this.where(u.href) === place);
  }

  /**
   * Saves `<label>.png` (wide), `<label>-375px.png`, `<label>.html` and `<label>.aria.yml` of the current page,
   * walks it with the Tab key (`<label>-keyboard-focus.png`: the first stop), and collects what pageProblems and
   * focusProblem find into this.problems (judged by the accessibility test at the end, so that an interop
   * scenario fails only for interop reasons).
   */
  async snap(label) {
    const { page } = this;
    this.snaps += 1;
    await page.waitForLoadState('load');
    await page.screenshot({ path: join(this.outDir, `${label}.png`), fullPage: true });
    writeFileSync(join(this.outDir, `${label}.html`), await page.content());
    writeFileSync(join(this.outDir, `${label}.aria.yml`), await page.locator('body').ariaSnapshot());
    for (const p of await page.evaluate(pageProblems, false)) this.problems.push({ page: label, problem: p });
    // Walk the page with the keyboard as a person without a mouse would: every stop must show where focus is.
    await page.evaluate(() => document.activeElement?.blur?.());
    const stops = new Set();
    for (let i = 0; i < 25; i += 1) {
      await page.keyboard.press('Tab');
      const at = await page.evaluate(() => {
        const el = document.activeElement;
        return el && el !== document.body ? [...document.querySelectorAll('*')].indexOf(el) : null;
      });
      if (at === null || stops.has(at)) break;
      stops.add(at);
      if (stops.size === 1) await page.screenshot({ path: join(this.outDir, `${label}-keyboard-focus.png`) });
      const p = await page.evaluate(focusProblem);
      if (p) this.problems.push({ page: label, ...p });
    }
    if (stops.size === 0) {
      this.problems.push({ page: label, problem: 'nothing on the page can be reached with the Tab key (WCAG 2.1.1)' });
    }
    await page.evaluate(() => document.activeElement?.blur?.());
    await page.setViewportSize(NARROW);
    try {
      await page.screenshot({ path: join(this.outDir, `${label}-375px.png`), fullPage: true });
      for (const p of await page.evaluate(pageProblems, true)) {
        if (p.startsWith('page scrolls sideways')) this.problems.push({ page: `${label} at 375px`, problem: p });
      }
    } finally {
      await page.setViewportSize(WIDE);
    }
  }

  async saveFailure() {
    writeFileSync(join(this.outDir, 'failure-trail.txt'), `${this.trail.join('\n')}\n`);
    try {
      await this.page.screenshot({ path: join(this.outDir, 'failure.png'), fullPage: true, timeout: 5000 });
      writeFileSync(join(this.outDir, 'failure.html'), await this.page.content());
    } catch (e) {
      writeFileSync(join(this.outDir, 'failure.txt'), `could not capture the page: ${e.message}\n`);
    }
  }

  async close() {
    await this.context?.close().catch(() => {});
    rmSync(this.userDataDir, { recursive: true, force: true });
  }
}

// Each test carries the skip (not the suite), so that the runner counts them as skipped.
describe('Chromium -> Bridgekeeper -> oidc-provider, apps on openid-client', { timeout: 150_000 }, () => {
  /** @type {Awaited<ReturnType<typeof startWorld>>} */
  let world;
  /** @type {Awaited<ReturnType<typeof startApp>>} */
  let appOne;
  /** @type {Awaited<ReturnType<typeof startApp>>} */
  let appTwo;
  /** An app that registered a front-channel logout URI (scenario 5b only). @type {Awaited<ReturnType<typeof startApp>>} */
  let appFc;

  before(async () => {
    if (skip) return;
    // Two apps with their own redirect URIs. Neither is first-party (no skip_consent): the broker asks once per
    // app, which is what scenario 2 expects of a second app under SSO.
    appOne = await startApp({ clientId: 'browser-app-one', name: 'Browser App One' });
    appTwo = await startApp({ clientId: 'browser-app-two', name: 'Browser App Two' });
    appFc = await startApp({ clientId: 'browser-app-fc', name: 'Browser App FC' });
    world = await startWorld({
      upstreams: ['upstream-a', 'upstream-b'],
      clients: [appOne.client(), appTwo.client(),
        appFc.client({ frontchannelLogoutUri: `${appFc.origin}/fc`, frontchannelLogoutSessionRequired: true })],
    });
    await appOne.connect(world.broker.issuer);
    await appTwo.connect(world.broker.issuer);
    await appFc.connect(world.broker.issuer);
  }, { timeout: 60_000 });

  /** Broker pages snapped by the scenarios and the accessibility problems found on them. */
  const a11y = { pages: 0, problems: [] };

  after(async () => {
    await world?.stop();
    await appOne?.close();
    await appTwo?.close();
    await appFc?.close();
  }, { timeout: 30_000 });

  /**
   * A test with a fresh Chromium; its output folder is emptied first. On failure it saves the page and adds the
   * navigation trail and the broker log to the message. What `snap` finds goes to the accessibility test.
   */
  const scenario = (name, fn) => test(name, { skip, timeout: TEST_TIMEOUT }, async () => {
    const outDir = join(OUTPUT, slug(name));
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    let tab;
    try {
      tab = await Tab.open(outDir, world, [appOne, appTwo, appFc]);
      try {
        await fn(tab);
      } finally {
        a11y.pages += tab.snaps;
        a11y.problems.push(...tab.problems.map((p) => ({ ...p, page: `${slug(name)}/${p.page}` })));
      }
    } catch (e) {
      await tab?.saveFailure();
      e.message += `\n--- pages (saved in ${outDir}) ---\n${tab?.trail.join('\n') ?? '(no browser)'}`
        + `\n--- broker log (tail) ---\n${tail(world?.logFile ?? '', 30)}`;
      throw e;
    } finally {
      await tab?.close();
    }
  });

  const broker = (path) => `broker ${path}`;

  /** On the upstream's development pages: type a login and any password, then confirm its consent. */
  async function atUpstream(tab, provider, login) {
    const { page } = tab;
    await tab.waitFor(`${provider} /interaction`);
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    // oidc-provider's consent page (a new interaction): its form carries prompt=consent.
    await page.locator('form:has(input[name="prompt"][value="consent"])').waitFor();
    await page.getByRole('button', { name: 'Continue' }).click();
  }

  /** Reads the subject the app shows and checks it against what the app's library validated. */
  async function subShownBy(tab, app) {
    const sub = (await tab.page.locator('#sub').textContent()).trim();
    assert.equal(sub, app.lastSignIn?.claims.sub, 'the app shows the subject of the ID token it validated');
    return sub;
  }

  /**
   * A first sign-in at `app` in a browser that knows nobody: the app's "Sign in", the broker's chooser, the
   * upstream's login and consent, the broker's consent ("Allow"), back at the app. Returns the subject.
   */
  async function firstSignIn(tab, app, { provider = 'upstream-a', login, snap = false }) {
    const { page } = tab;
    await page.goto(`${app.origin}/`);
    tab.shown.length = 0;
    await page.getByRole('link', { name: 'Sign in' }).click();

    await tab.waitFor(broker('/login'));
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), `Sign in to ${app.name}`);
    if (snap) await tab.snap('broker-login-chooser');
    await page.getByRole('link', { name: `Continue with Upstream ${provider}` }).click();

    await atUpstream(tab, provider, login);

    await tab.waitFor(broker('/consent'));
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), `${app.name} would like to`);
    if (snap) await tab.snap('broker-consent');
    await page.getByRole('button', { name: 'Allow' }).click();

    await tab.waitFor(`${app.clientId} /cb`);
    assert.deepEqual(tab.shown, [
      broker('/login'), `${provider} /interaction`, `${provider} /interaction`, broker('/consent'),
      `${app.clientId} /cb`,
    ]);
    return subShownBy(tab, app);
  }

  /** The app's "Sign in" when the broker already knows the person; returns the pages shown on the way. */
  async function signInAgain(tab, app) {
    await tab.page.goto(`${app.origin}/`);
    tab.shown.length = 0;
    await tab.page.getByRole('link', { name: /^Sign in( again)?$/ }).click();
    return tab.shown;
  }

  /** The list item on the account page that mentions `text` (a sign-in method or an app). */
  const accountItem = (tab, text) => tab.page.getByRole('listitem').filter({ hasText: text });

  scenario('1 first sign-in: login chooser, upstream login and consent, broker consent', async (tab) => {
    const alice = claimsFor('alice');
    const sub = await firstSignIn(tab, appOne, { login: 'alice', snap: true });

    const { tokens, claims } = appOne.lastSignIn;
    assert.equal(claims.iss, world.broker.issuer);
    assert.ok([claims.aud].flat().includes(appOne.clientId), `aud ${claims.aud}`);
    assert.notEqual(sub, alice.sub, 'the broker issues its own subject');
    const info = await oidc.fetchUserInfo(appOne.config, tokens.access_token, sub);
    assert.equal(info.email, alice.email);
    assert.equal(info.name, alice.name);
  });

  scenario('2 a second app signs in silently through the broker session (SSO)', async (tab) => {
    const sub = await firstSignIn(tab, appOne, { login: 'bob' });

    // A second app, never used before: no chooser and no upstream page; the broker asks once for this app.
    const shown = await signInAgain(tab, appTwo);
    await tab.waitFor(broker('/consent'));
    assert.equal(await tab.page.getByRole('heading', { level: 1 }).textContent(), `${appTwo.name} would like to`);
    await tab.snap('broker-consent-second-app');
    await tab.page.getByRole('button', { name: 'Allow' }).click();
    await tab.waitFor(`${appTwo.clientId} /cb`);
    assert.deepEqual(shown, [broker('/consent'), `${appTwo.clientId} /cb`], 'SSO: only the consent for the new app');
    assert.equal(await subShownBy(tab, appTwo), sub, 'the same person in both apps');
    assert.equal(appTwo.lastSignIn.claims.aud, appTwo.clientId);

    // Now that it is allowed, signing in to the second app shows no page of the broker's at all.
    const again = await signInAgain(tab, appTwo);
    await tab.waitFor(`${appTwo.clientId} /cb`);
    assert.deepEqual(again, [`${appTwo.clientId} /cb`], 'silent sign-in');
    assert.equal(await subShownBy(tab, appTwo), sub);
  });

  scenario('3 the account page links a second upstream and unlinks it', async (tab) => {
    const { page } = tab;
    const sub = await firstSignIn(tab, appOne, { login: 'carol' });
    const carol = claimsFor('carol');
    const dave = claimsFor('dave'); // the same person, known to upstream B under another name and email

    await page.goto(`${world.broker.issuer}/account`);
    await tab.waitFor(broker('/account'));
    assert.ok((await page.locator('main').innerText()).includes(sub), 'the account page shows the id apps see');
    await page.getByRole('button', { name: 'Link Upstream upstream-b', exact: true }).click();
    await atUpstream(tab, 'upstream-b', 'dave');
    await tab.waitFor(broker('/account'));
    await accountItem(tab, dave.email).waitFor();
    await accountItem(tab, carol.email).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Link Upstream upstream-b', exact: true }).count(), 0,
      'a linked upstream is no longer offered for linking');
    await tab.snap('broker-account-two-sign-in-methods');

    // Unlink upstream B with the button in its own row.
    await accountItem(tab, dave.email).getByRole('button', { name: 'Unlink' }).click();
    await page.getByRole('button', { name: 'Link Upstream upstream-b', exact: true }).waitFor();
    await tab.waitFor(broker('/account'));
    assert.equal(await accountItem(tab, dave.email).count(), 0, 'upstream B is gone from the sign-in methods');
    await accountItem(tab, carol.email).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Unlink' }).count(), 0, 'the last method cannot be unlinked');
    await tab.snap('broker-account-after-unlink');

    // Unlinked for real: dave at upstream B, in a browser that knows nobody, is someone else now.
    const freshDir = join(tab.outDir, 'second-browser');
    mkdirSync(freshDir);
    const fresh = await Tab.open(freshDir, world, [appOne, appTwo]);
    try {
      const other = await firstSignIn(fresh, appOne, { provider: 'upstream-b', login: 'dave' });
      assert.notEqual(other, sub, 'after unlinking, upstream B no longer signs in as carol');
    } catch (e) {
      await fresh.saveFailure();
      throw e;
    } finally {
      await fresh.close();
    }
  });

  scenario('4 revoking an app on the account page ends its refresh tokens', async (tab) => {
    const { page } = tab;
    await firstSignIn(tab, appOne, { login: 'grace' });
    const { tokens } = appOne.lastSignIn;
    assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
    const refreshed = await oidc.refreshTokenGrant(appOne.config, tokens.refresh_token);
    assert.ok(refreshed.refresh_token, 'the refresh token works before revocation');

    await page.goto(`${world.broker.issuer}/account`);
    await tab.waitFor(broker('/account'));
    const row = accountItem(tab, appOne.name);
    await row.waitFor();
    await tab.snap('broker-account-apps');
    await row.getByRole('button', { name: 'Revoke access' }).click();
    await page.getByText('None.').waitFor();
    await tab.waitFor(broker('/account'));
    assert.equal(await accountItem(tab, appOne.name).count(), 0, 'the app is gone from "Apps you allowed"');

    await assert.rejects(oidc.refreshTokenGrant(appOne.config, refreshed.refresh_token), isError('invalid_grant'));
    assert.equal((await oidc.tokenIntrospection(appOne.config, refreshed.refresh_token)).active, false);

    // The consent is gone too: the next sign-in (still one broker session, so no upstream) asks again.
    const shown = await signInAgain(tab, appOne);
    await tab.waitFor(broker('/consent'));
    assert.deepEqual(shown, [broker('/consent')], 'after revocation the broker asks for consent again');
  });

  scenario('5 RP-initiated logout, then prompt=none answers login_required', async (tab) => {
    const { page } = tab;
    const sub = await firstSignIn(tab, appOne, { login: 'judy' });

    // The app's "Sign out": openid-client's end-session URL with the ID token as hint and a state. With a valid
    // hint the broker signs out without asking and returns to the registered post-logout URI.
    tab.shown.length = 0;
    await page.getByRole('link', { name: 'Sign out' }).click();
    await tab.waitFor(`${appOne.clientId} /bye`);
    assert.deepEqual(tab.shown, [`${appOne.clientId} /bye`], 'no confirmation page with a valid id_token_hint');
    assert.equal(await page.locator('#bye').textContent(), 'Signed out', 'state came back unchanged');

    // Silent sign-in now fails with login_required, as the library reports it.
    const errorsBefore = appOne.errors.length;
    await page.goto(`${appOne.origin}/login?prompt=none`);
    await tab.waitFor(`${appOne.clientId} /cb`);
    assert.equal(await page.locator('#error').textContent(), 'login_required');
    const err = appOne.errors.at(-1);
    assert.equal(appOne.errors.length, errorsBefore + 1);
    assert.ok(err instanceof oidc.AuthorizationResponseError, `${err}`);
    assert.equal(err.error, 'login_required');
    assert.equal(appOne.lastSignIn.claims.sub, sub, 'no new sign-in happened');

    // The broker's own pages agree: the account page sends the person to sign in.
    await page.goto(`${world.broker.issuer}/account`);
    await tab.waitFor(broker('/login'));
    await tab.snap('broker-login-after-sign-out');
  });

  scenario('5b front-channel logout: the signed-out page loads the app in an iframe, then returns to it', async (tab) => {
    const { page } = tab;
    const blocked = [];
    page.on('console', (m) => { if (/Content Security Policy|Refused to frame/i.test(m.text())) blocked.push(m.text()); });
    await firstSignIn(tab, appFc, { login: 'kim' });
    const { sid } = appFc.lastSignIn.claims;
    assert.ok(sid, 'the ID token carries sid');

    // [FL-3] [FL-5] The app's "Sign out": the broker ends the session, shows its signed-out page with the app's
    // front-channel URI in a hidden iframe, and once the frame has loaded goes on to the app's post-logout URI.
    tab.shown.length = 0;
    await page.getByRole('link', { name: 'Sign out' }).click();
    await tab.waitFor(`${appFc.clientId} /bye`);
    assert.deepEqual(tab.shown, [broker('/logout'), `${appFc.clientId} /bye`], 'the frames page, then the app');
    assert.equal(await page.locator('#bye').textContent(), 'Signed out', 'state came back unchanged');
    assert.equal(appFc.frontchannel.length, 1, 'the iframe really loaded at the app, once');
    const [frame] = appFc.frontchannel;
    assert.equal(frame.iss, world.broker.issuer, '[FL-3] iss');
    assert.equal(frame.sid, sid, '[FL-3] the sid of the ID token');
    assert.ok(frame.hadSession, 'the app\'s own cookie came with the frame, so it could end its session');
    assert.ok(frame.seq < appFc.byes.at(-1).seq, '[FL-5] the frame loaded before the browser moved on');
    assert.deepEqual(blocked, [], '[FL-4] the page\'s CSP lets the app\'s frame load');
    await page.goto(`${appFc.origin}/`);
    await page.getByRole('link', { name: 'Sign in' }).waitFor();
  });

  // The broker's pages that the scenarios passed (login chooser, consent, account) as a person without a mouse,
  // with low vision or on a phone meets them: WCAG 2.1 AA basics, checked in the real browser.
  test('6 the broker pages seen above are accessible: names, contrast, keyboard focus, 375px reflow', { skip }, () => {
    assert.ok(a11y.pages >= 5, `the scenarios checked only ${a11y.pages} broker pages`);
    // One line per distinct problem, with where it was seen (pages are the screenshots' names).
    const byProblem = new Map();
    for (const { problem, page, element } of a11y.problems) {
      const seen = byProblem.get(problem) ?? { pages: new Set(), elements: new Set() };
      seen.pages.add(page);
      if (element) seen.elements.add(element);
      byProblem.set(problem, seen);
    }
    const report = [...byProblem].map(([problem, { pages, elements }]) => `${problem}\n    on ${elements.size
      ? `${[...elements].join(', ')} of ` : ''}${pages.size} page(s): ${[...pages].join(', ')}`);
    assert.deepEqual(report, [], `accessibility problems on the broker's pages (screenshots in ${OUTPUT}; pages `
      + 'come from templates/, styles from templates/static/style.css)');
  });
});
