// Sign-out that reaches everywhere, with certified peers on both ends: the person signs out at the upstream
// (oidc-provider's end-session page); oidc-provider sends the broker a back-channel Logout Token; the broker
// ends its session and sends the app its own Logout Token, which the app verifies with `jose` (panva) against the
// broker's JWKS exactly as an RP must (OpenID Back-Channel Logout 1.0 §2.6). The app is an openid-client RP.
//
// Run: bash tests/interop/run.sh   (or: cd tests/interop && node --test logout.test.mjs with BK_BIN set)

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';

import { Browser, forms } from './browser.mjs';
import { freePort, newSecret, startWorld, tail } from './harness.mjs';
import { walk } from './person.mjs';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** The app's back-channel logout endpoint: keeps every logout_token it is sent, answers 200. */
async function startReceiver(port) {
  const tokens = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const t = new URLSearchParams(body).get('logout_token');
      if (req.method === 'POST' && t) tokens.push(t);
      res.writeHead(t ? 200 : 400, { 'cache-control': 'no-store' }).end();
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { tokens, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}

async function until(ms, what, cond) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The app signs the person in through the broker at upstream-a; returns its tokens. */
async function signIn(browser, world, config, app, login) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: app.redirectUri, scope: 'openid email', state, nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const back = await walk(browser, url.href, {
    brokerIssuer: world.broker.issuer, stopAt: app.redirectUri, provider: 'upstream-a', login,
  });
  return oidc.authorizationCodeGrant(config, new URL(back.url),
    { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
}

describe('oidc-provider end-session -> Bridgekeeper -> app back-channel logout', { timeout: 120_000 }, () => {
  let world;
  let receiver;
  let config;
  const app = { clientId: 'bc-app', clientSecret: newSecret() };

  before(async () => {
    const port = await freePort();
    receiver = await startReceiver(port);
    app.redirectUri = `http://127.0.0.1:${port}/cb`;
    app.postLogoutRedirectUri = `http://127.0.0.1:${port}/bye`;
    world = await startWorld({
      backchannelLogout: true,
      logoutUpstream: 'always',
      // Upstream ID tokens are kept encrypted: the broker refuses logout_upstream without a key.
      encryptionKeys: `interop:${randomBytes(32).toString('base64')}`,
      clients: [{
        clientId: app.clientId,
        clientSecret: app.clientSecret,
        redirectUris: [app.redirectUri],
        postLogoutRedirectUris: [app.postLogoutRedirectUri],
        skipConsent: true,
        backchannelLogoutUri: `http://127.0.0.1:${port}/bc`,
      }],
      extraConfig: '[backchannel_logout]\npoll_interval_ms = 200\n',
    });
    config = await oidc.discovery(new URL(world.broker.issuer), app.clientId, app.clientSecret, undefined,
      { execute: [oidc.allowInsecureRequests] });
  }, { timeout: 60_000 });

  after(async () => {
    await world?.stop();
    await receiver?.close();
  }, { timeout: 30_000 });

  test('signing out at the upstream ends the broker session and the app receives a valid logout token',
    { timeout: 60_000 }, async () => {
      try {
        const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
        const tokens = await signIn(browser, world, config, app, 'dora');
        const idClaims = tokens.claims();
        assert.ok(idClaims.sid, 'the broker puts sid in its ID tokens');

        // The person signs out at the upstream, on its own end-session page.
        const upstream = world.upstreams['upstream-a'].issuer;
        const page = await browser.navigate(`${upstream}/session/end`);
        assert.equal(page.status, 200, browser.trail());
        const form = forms(page.body, page.url).find((f) => f.action.includes('/session/end/confirm'));
        assert.ok(form, `an end-session confirmation form at the upstream:\n${page.body}`);
        await browser.submit(form, { values: { logout: 'yes' } });

        await until(10_000, 'the app receives a logout token', () => receiver.tokens.length >= 1);
        const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
        const { payload, protectedHeader } = await jwtVerify(receiver.tokens[0], jwks, {
          issuer: world.broker.issuer, audience: app.clientId, typ: 'logout+jwt', maxTokenAge: '2 minutes',
        });
        assert.equal(protectedHeader.typ, 'logout+jwt');
        assert.deepEqual(payload.events, { [EVENT]: {} });
        assert.equal(payload.sid, idClaims.sid, 'the sid of the app\'s ID token');
        assert.equal(payload.sub, idClaims.sub);
        assert.ok(payload.jti && payload.iat && payload.exp);
        assert.equal(payload.nonce, undefined);
        assert.equal(receiver.tokens.length, 1, 'exactly one token');

        // The broker session is over: prompt=none answers login_required.
        const s2 = oidc.randomState();
        const silent = oidc.buildAuthorizationUrl(config, {
          redirect_uri: app.redirectUri, scope: 'openid', state: s2, prompt: 'none',
          code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
          code_challenge_method: 'S256',
        });
        const answer = await browser.navigate(silent.href, { stopAt: app.redirectUri });
        assert.ok(answer.stopped, browser.trail());
        assert.equal(new URL(answer.url).searchParams.get('error'), 'login_required');
      } catch (e) {
        e.message += `\n--- broker log (tail) ---\n${tail(world?.logFile ?? '', 30)}`;
        throw e;
      }
    });

  test('logout_upstream = "always": a sign-out at the broker signs the person out at oidc-provider too',
    { timeout: 60_000 }, async () => {
      try {
        const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
        const before = receiver.tokens.length;
        const tokens = await signIn(browser, world, config, app, 'erin');
        const upstream = world.upstreams['upstream-a'].issuer;
        const brokerCallback = `${world.broker.issuer}/callback/upstream-a`;
        /** prompt=none at the upstream for the broker's own client: is erin still signed in there? */
        const upstreamSilent = async () => {
          const u = new URL(`${upstream}/auth`);
          const params = {
            client_id: 'bridgekeeper', redirect_uri: brokerCallback, response_type: 'code', scope: 'openid',
            prompt: 'none', state: oidc.randomState(), code_challenge_method: 'S256',
            code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
          };
          for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
          const r = await browser.navigate(u.href, { stopAt: brokerCallback });
          assert.ok(r.stopped, browser.trail());
          return new URL(r.url).searchParams;
        };
        assert.ok((await upstreamSilent()).get('code'), 'signed in at the upstream before');

        // RP-initiated logout at the broker with the library's end-session URL.
        const logoutState = oidc.randomState();
        const endSession = oidc.buildEndSessionUrl(config, {
          id_token_hint: tokens.id_token, post_logout_redirect_uri: app.postLogoutRedirectUri, state: logoutState,
        });
        let page = await browser.navigate(endSession.href, { stopAt: app.postLogoutRedirectUri });
        assert.ok(!page.stopped && new URL(page.url).origin === new URL(upstream).origin,
          `the broker sends the browser to the upstream first:\n${browser.trail()}`);
        // oidc-provider asks the person to confirm; then it sends the browser back to the broker, on to the app.
        const form = forms(page.body, page.url).find((f) => f.action.includes('/session/end/confirm'));
        assert.ok(form, `an end-session confirmation form at the upstream:\n${page.body}`);
        page = await browser.submit(form, { values: { logout: 'yes' }, stopAt: app.postLogoutRedirectUri });
        assert.ok(page.stopped, `back at the app after the upstream:\n${browser.trail()}`);
        assert.equal(new URL(page.url).searchParams.get('state'), logoutState);

        assert.equal((await upstreamSilent()).get('error'), 'login_required', 'signed out at the upstream');
        await until(10_000, 'the app is told of the broker sign-out', () => receiver.tokens.length > before);
      } catch (e) {
        e.message += `\n--- broker log (tail) ---\n${tail(world?.logFile ?? '', 30)}`;
        throw e;
      }
    });
});
