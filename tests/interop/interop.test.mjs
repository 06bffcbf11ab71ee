// Interop: code nobody here wrote on both sides of the broker.
//   upstream:   oidc-provider (certified OP) with its development login/consent pages, two instances
//   downstream: openid-client (certified RP), only through its public API
//   browser:    plain HTTP with a cookie jar (./browser.mjs) and a person reading the pages (./person.mjs)
//
// Run: bash tests/interop/run.sh   (or: cd tests/interop && node --test interop.test.mjs with BK_BIN set)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as oidc from 'openid-client';

import { Browser } from './browser.mjs';
import { claimsFor } from './upstream.mjs';
import { startWorld, tail } from './harness.mjs';
import { accountPage, walk } from './person.mjs';

const SCOPE = 'openid profile email offline_access';
const TEST_TIMEOUT = 60_000;

/** An assert.rejects validator for an OAuth error code (ResponseBodyError / AuthorizationResponseError). */
const isError = (code) => (e) => e?.error === code || assert.fail(`expected ${code}, got ${e?.error ?? e}`);

describe('openid-client -> Bridgekeeper -> oidc-provider', { timeout: 120_000 }, () => {
  /** @type {Awaited<ReturnType<typeof startWorld>>} */
  let world;
  /** @type {oidc.Configuration} the app as configured by default (client_secret_post) */
  let config;
  /** @type {oidc.Configuration} the same app authenticating with client_secret_basic */
  let basicConfig;

  before(async () => {
    // Strict refresh-token reuse detection (no race grace window): the lifecycle test replays a spent token at once.
    world = await startWorld({
      upstreams: ['upstream-a', 'upstream-b'],
      extraConfig: '[tokens]\nrefresh_reuse_grace_secs = 0\n',
    });
    // Discovery with the library's own API; plain http is allowed only because everything is on loopback.
    config = await oidc.discovery(
      new URL(world.broker.issuer),
      world.rp.clientId,
      world.rp.clientSecret,
      undefined,
      { execute: [oidc.allowInsecureRequests] },
    );
    basicConfig = await oidc.discovery(
      new URL(world.broker.issuer),
      world.rp.clientId,
      undefined,
      oidc.ClientSecretBasic(world.rp.clientSecret),
      { execute: [oidc.allowInsecureRequests] },
    );
  }, { timeout: 60_000 });

  after(async () => {
    await world?.stop();
  }, { timeout: 30_000 });

  /** Wraps a test body so that a failure shows the broker's log. */
  const withLog = (fn) => async (t) => {
    try {
      await fn(t);
    } catch (e) {
      e.message += `\n--- broker log (tail) ---\n${tail(world?.logFile ?? '', 30)}`;
      throw e;
    }
  };

  /**
   * The app starts a sign-in and the person walks through the pages until the browser is sent back to the app.
   * Returns what the app needs to redeem the answer.
   */
  async function appStart(browser, { provider, login, params = {}, consent = 'allow', cfg = config }) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(cfg, {
      redirect_uri: world.rp.redirectUri,
      scope: SCOPE,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...params,
    });
    const back = await walk(browser, url.href, {
      brokerIssuer: world.broker.issuer,
      stopAt: world.rp.redirectUri,
      provider,
      login,
      consent,
    });
    const checks = { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true };
    if (params.max_age !== undefined) checks.maxAge = Number(params.max_age); // the library then checks auth_time
    return { callback: new URL(back.url), checks, seen: back.seen };
  }

  /** The app starts a sign-in, the person walks through the pages, the app redeems the code. */
  async function appSignIn(browser, opts) {
    const cfg = opts.cfg ?? config;
    const { callback, checks, seen } = await appStart(browser, opts);
    const tokens = await oidc.authorizationCodeGrant(cfg, callback, checks);
    return { tokens, claims: tokens.claims(), seen, callback, checks };
  }

  test('sign-in, userinfo, refresh, introspection, revocation, SSO, RP-initiated logout', { timeout: TEST_TIMEOUT },
    withLog(async () => {
      const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      const alice = claimsFor('alice');

      // 1. First sign-in: chooser -> oidc-provider login and consent -> broker consent -> code -> tokens.
      const first = await appSignIn(browser, { provider: 'upstream-a', login: 'alice' });
      assert.deepEqual(first.seen, ['broker-chooser', 'upstream-login', 'upstream-consent', 'broker-consent']);
      const { tokens, claims } = first;
      assert.equal(claims.iss, world.broker.issuer);
      assert.ok([claims.aud].flat().includes(world.rp.clientId), `aud ${claims.aud}`);
      assert.ok(claims.sub, 'ID token has a sub');
      assert.notEqual(claims.sub, alice.sub, 'the broker issues its own subject, not the upstream one');
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      assert.ok(tokens.access_token, 'access token');
      assert.ok(tokens.refresh_token, 'refresh token (offline_access)');

      // 2. UserInfo: same subject (the library also enforces it), the upstream's claims passed through.
      const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      assert.equal(info.sub, claims.sub);
      assert.equal(info.email, alice.email);
      assert.equal(info.email_verified, true);
      assert.equal(info.name, alice.name);

      // 3. Refresh: new tokens, rotated refresh token, same subject.
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
      assert.ok(refreshed.access_token);
      assert.notEqual(refreshed.access_token, tokens.access_token);
      assert.ok(refreshed.refresh_token, 'a refresh token comes back');
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'refresh token rotated');
      if (refreshed.id_token) assert.equal(refreshed.claims().sub, claims.sub);
      assert.equal((await oidc.fetchUserInfo(config, refreshed.access_token, claims.sub)).sub, claims.sub);

      // 4. Introspection says active; revoking the access token ends it (introspection and userinfo agree).
      const atInfo = await oidc.tokenIntrospection(config, refreshed.access_token);
      assert.equal(atInfo.active, true);
      assert.equal(atInfo.sub, claims.sub);
      assert.equal(atInfo.client_id, world.rp.clientId);
      const rtInfo = await oidc.tokenIntrospection(config, refreshed.refresh_token);
      assert.equal(rtInfo.active, true);
      assert.equal(rtInfo.sub, claims.sub);
      await oidc.tokenRevocation(config, refreshed.access_token);
      assert.equal((await oidc.tokenIntrospection(config, refreshed.access_token)).active, false);
      await assert.rejects(oidc.fetchUserInfo(config, refreshed.access_token, claims.sub),
        'a revoked access token is refused at userinfo');

      // 5. Replaying the spent refresh token is refused and ends the whole family (RFC 9700 §4.14.2).
      await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token), isError('invalid_grant'));
      assert.equal((await oidc.tokenIntrospection(config, refreshed.refresh_token)).active, false);
      await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token), isError('invalid_grant'));

      // 6. SSO: the same browser signs in again silently (prompt=none): no page, a fresh code, same subject.
      //    This app instance authenticates with client_secret_basic instead of client_secret_post.
      const again = await appSignIn(browser, {
        provider: 'upstream-a', login: 'alice', params: { prompt: 'none' }, cfg: basicConfig,
      });
      assert.deepEqual(again.seen, []);
      assert.equal(again.claims.sub, claims.sub);
      assert.equal((await oidc.fetchUserInfo(basicConfig, again.tokens.access_token, claims.sub)).sub, claims.sub);

      // 7. Revoking a refresh token (RFC 7009) ends it.
      assert.equal((await oidc.tokenIntrospection(basicConfig, again.tokens.refresh_token)).active, true);
      await oidc.tokenRevocation(basicConfig, again.tokens.refresh_token);
      assert.equal((await oidc.tokenIntrospection(basicConfig, again.tokens.refresh_token)).active, false);
      await assert.rejects(oidc.refreshTokenGrant(basicConfig, again.tokens.refresh_token), isError('invalid_grant'));

      // 8. RP-initiated logout with the library's end-session URL, back to the registered address with state.
      const logoutState = oidc.randomState();
      const endSession = oidc.buildEndSessionUrl(config, {
        id_token_hint: again.tokens.id_token,
        post_logout_redirect_uri: world.rp.postLogoutRedirectUri,
        state: logoutState,
      });
      const out = await browser.navigate(endSession.href, { stopAt: world.rp.postLogoutRedirectUri });
      assert.ok(out.stopped, `logout ends at the post-logout redirect URI, got ${out.status} at ${out.url}`);
      assert.equal(new URL(out.url).searchParams.get('state'), logoutState);

      // 9. Signed out: prompt=none now answers login_required, which the library reports as such.
      const state = oidc.randomState();
      const silent = oidc.buildAuthorizationUrl(config, {
        redirect_uri: world.rp.redirectUri,
        scope: SCOPE,
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        state,
        nonce: oidc.randomNonce(),
        prompt: 'none',
      });
      const answer = await browser.navigate(silent.href, { stopAt: world.rp.redirectUri });
      assert.ok(answer.stopped, `prompt=none redirects back to the app, got ${answer.status} at ${answer.url}`);
      await assert.rejects(
        oidc.authorizationCodeGrant(config, new URL(answer.url), {
          pkceCodeVerifier: oidc.randomPKCECodeVerifier(),
          expectedState: state,
        }),
        (e) => (e instanceof oidc.AuthorizationResponseError && isError('login_required')(e)),
      );
    }));

  test('link a second upstream from the account page; signing in with it alone gives the same sub',
    { timeout: TEST_TIMEOUT }, withLog(async () => {
      // Sign in to the app with upstream A.
      const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      const viaA = await appSignIn(browser, { provider: 'upstream-a', login: 'carol' });
      const sub = viaA.claims.sub;

      // The account page offers to link upstream B; the person does it (B knows them under another name and
      // email, so nothing could be linked by email).
      const before = await accountPage(browser, world.broker.issuer);
      assert.ok(before.text.includes(sub), 'the account page shows the id apps see');
      // Linking starts with the account page's form (a POST carrying its CSRF token), never with a plain link.
      const linkB = before.forms.find((f) => new URL(f.action).pathname === '/account/link'
        && f.fields.provider === 'upstream-b');
      assert.ok(linkB, `a "link upstream-b" form on the account page: ${JSON.stringify(before.forms)}`);
      const started = await browser.submit(linkB, {});
      const linked = await walk(browser, null, {
        from: started,
        brokerIssuer: world.broker.issuer,
        untilPage: (p) => p.status === 200 && new URL(p.url).pathname === '/account',
        provider: 'upstream-b',
        login: 'dave',
      });
      assert.deepEqual(linked.seen, ['upstream-login', 'upstream-consent']);
      const afterLink = await accountPage(browser, world.broker.issuer);
      assert.ok(afterLink.text.includes(claimsFor('carol').email), afterLink.text);
      assert.ok(afterLink.text.includes(claimsFor('dave').email), afterLink.text);
      assert.ok(afterLink.text.includes(sub));

      // A new browser (nothing remembered) signs in to the app with upstream B alone: the same person.
      const fresh = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      const viaB = await appSignIn(fresh, { provider: 'upstream-b', login: 'dave' });
      assert.equal(viaB.claims.sub, sub, 'same subject through the linked upstream');
      assert.deepEqual(viaB.seen, ['broker-chooser', 'upstream-login', 'upstream-consent'],
        'consent given through upstream A still covers the app');
      assert.equal((await oidc.fetchUserInfo(config, viaB.tokens.access_token, sub)).sub, sub);

      // Someone else at upstream B is someone else here.
      const other = await appSignIn(new Browser(), { provider: 'upstream-b', login: 'erin' });
      assert.notEqual(other.claims.sub, sub);
    }));

  test('refusals reach the app as OAuth errors: consent denied, code replayed', { timeout: TEST_TIMEOUT },
    withLog(async () => {
      // The person denies the app at the broker's consent page: the library reports access_denied.
      const denied = await appStart(new Browser(), { provider: 'upstream-a', login: 'frank', consent: 'deny' });
      assert.deepEqual(denied.seen, ['broker-chooser', 'upstream-login', 'upstream-consent', 'broker-consent']);
      await assert.rejects(oidc.authorizationCodeGrant(config, denied.callback, denied.checks),
        (e) => e instanceof oidc.AuthorizationResponseError && isError('access_denied')(e));

      // A code is good once; a replay is refused and revokes what the first redemption produced.
      const ok = await appSignIn(new Browser(), { provider: 'upstream-a', login: 'grace' });
      assert.equal((await oidc.tokenIntrospection(config, ok.tokens.refresh_token)).active, true);
      await assert.rejects(oidc.authorizationCodeGrant(config, ok.callback, ok.checks), isError('invalid_grant'));
      assert.equal((await oidc.tokenIntrospection(config, ok.tokens.refresh_token)).active, false);
      assert.equal((await oidc.tokenIntrospection(config, ok.tokens.access_token)).active, false);
    }));

  // A demand for re-authentication must reach the upstream, and the broker's auth_time must be the upstream's.
  test('prompt=login makes the person authenticate again at the upstream', { timeout: TEST_TIMEOUT },
    withLog(async () => {
      const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      const first = await appSignIn(browser, { provider: 'upstream-a', login: 'heidi' });
      await new Promise((r) => setTimeout(r, 1100)); // auth_time has a one-second resolution
      const again = await appSignIn(browser, { provider: 'upstream-a', login: 'heidi', params: { prompt: 'login' } });
      assert.ok(again.claims.auth_time > first.claims.auth_time, 'auth_time moves on');
      assert.ok(again.seen.includes('upstream-login'),
        `a new auth_time needs a new authentication at the upstream, but the person saw only [${again.seen}]`);
    }));

  test('max_age=0 (equivalent to prompt=login) makes the person authenticate again',
    { timeout: TEST_TIMEOUT }, withLog(async () => {
      const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      await appSignIn(browser, { provider: 'upstream-a', login: 'ivan' });
      const again = await appSignIn(browser, { provider: 'upstream-a', login: 'ivan', params: { max_age: '0' } });
      assert.ok(again.seen.includes('upstream-login'),
        `OIDC Core 3.1.2.1: max_age=0 is prompt=login, but the person saw only [${again.seen}]`);
    }));
});
