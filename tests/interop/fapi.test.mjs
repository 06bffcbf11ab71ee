// Interop for the FAPI 2.0 building blocks (issue 15): openid-client, through its public API only, as an app that
// pushes its authorization requests (PAR, RFC 9126), uses PKCE and authenticates with private_key_jwt (RFC 7523),
// and receives an answer by response_mode=form_post. The broker requires PAR for this app.
//
// Run: bash tests/interop/run.sh   (or: cd tests/interop && node --test fapi.test.mjs with BK_BIN set)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as oidc from 'openid-client';

import { Browser } from './browser.mjs';
import { startWorld, tail } from './harness.mjs';
import { walk } from './person.mjs';

const SCOPE = 'openid profile email offline_access';
const CLIENT_ID = 'fapi-rp';
// Never listened on: the walk stops when the browser is sent (or would post) there; the app handles it.
const REDIRECT_URI = 'http://127.0.0.1:9/fapi-cb';
const KID = 'fapi-rp-key-1';

describe('openid-client (PAR + PKCE + private_key_jwt, form_post) -> Bridgekeeper', { timeout: 120_000 }, () => {
  let world;
  /** @type {oidc.Configuration} */
  let config;

  before(async () => {
    const { publicKey, privateKey } = await crypto.subtle.generateKey(
      { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'],
    );
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
    world = await startWorld({
      upstreams: ['upstream-a'],
      clients: [{
        clientId: CLIENT_ID,
        redirectUris: [REDIRECT_URI],
        tokenEndpointAuthMethod: 'private_key_jwt',
        jwks: { keys: [{ kty, crv, x, y, kid: KID, alg: 'ES256', use: 'sig' }] },
        requirePar: true,
      }],
    });
    config = await oidc.discovery(
      new URL(world.broker.issuer),
      CLIENT_ID,
      undefined,
      oidc.PrivateKeyJwt({ key: privateKey, kid: KID }),
      { execute: [oidc.allowInsecureRequests] },
    );
  }, { timeout: 60_000 });

  after(async () => {
    await world?.stop();
  }, { timeout: 30_000 });

  const withLog = (fn) => async (t) => {
    try {
      await fn(t);
    } catch (e) {
      e.message += `\n--- broker log (tail) ---\n${tail(world?.logFile ?? '', 30)}`;
      throw e;
    }
  };

  /** The app pushes its request; the person walks from the short authorization URL back to the app. */
  async function pushedSignIn(browser, params = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = await oidc.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT_URI,
      scope: SCOPE,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...params,
    });
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri'], url.href);
    assert.match(url.searchParams.get('request_uri'), /^urn:ietf:params:oauth:request_uri:/);
    const back = await walk(browser, url.href, {
      brokerIssuer: world.broker.issuer, stopAt: REDIRECT_URI, provider: 'upstream-a', login: 'fiona',
    });
    return { back, url, checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce } };
  }

  test('PAR + PKCE + private_key_jwt: discovery, code flow, userinfo, refresh; plain requests refused',
    { timeout: 60_000 }, withLog(async () => {
      const meta = config.serverMetadata();
      assert.equal(meta.pushed_authorization_request_endpoint, `${world.broker.issuer}/par`);
      assert.ok(meta.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
      assert.ok(meta.token_endpoint_auth_signing_alg_values_supported.includes('ES256'));
      assert.ok(meta.response_modes_supported.includes('form_post'));

      const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      const { back, url, checks } = await pushedSignIn(browser);
      assert.deepEqual(back.seen, ['upstream-login', 'upstream-consent', 'broker-consent'], 'one upstream: no chooser');
      const tokens = await oidc.authorizationCodeGrant(config, new URL(back.url), { ...checks, idTokenExpected: true });
      const claims = tokens.claims();
      assert.equal(claims.iss, world.broker.issuer);
      assert.ok([claims.aud].flat().includes(CLIENT_ID));
      const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      assert.equal(info.sub, claims.sub);
      assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
      assert.ok(refreshed.access_token && refreshed.access_token !== tokens.access_token);

      // The request_uri was single use.
      const again = await browser.navigate(url.href, { stopAt: REDIRECT_URI });
      assert.equal(again.status, 400, 'a spent request_uri is a page, not a redirect');

      // This app must push: a plain authorization request comes back as invalid_request.
      const plain = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT_URI,
        scope: SCOPE,
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        state: 'plain',
      });
      const refused = await browser.navigate(plain.href, { stopAt: REDIRECT_URI });
      assert.ok(refused.stopped, 'redirected to the app');
      assert.equal(new URL(refused.url).searchParams.get('error'), 'invalid_request');
      assert.equal(new URL(refused.url).searchParams.get('state'), 'plain');
    }));

  test('response_mode=form_post: the app receives the POST and redeems the code', { timeout: 60_000 },
    withLog(async () => {
      const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      const { back, checks } = await pushedSignIn(browser, { response_mode: 'form_post' });
      assert.equal(back.seen.at(-1), 'broker-form-post');
      assert.ok(back.formPost.code && back.formPost.state && back.formPost.iss, JSON.stringify(back.formPost));
      const csp = back.page.headers.get('content-security-policy');
      assert.match(csp, /script-src 'nonce-[A-Za-z0-9_-]+'/);
      assert.ok(!csp.includes('unsafe-inline'), csp);
      assert.ok(csp.includes("form-action http://127.0.0.1:9"), csp);
      // What the browser would POST to the app, as the app's web server receives it.
      const callback = new Request(back.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(back.formPost).toString(),
      });
      const tokens = await oidc.authorizationCodeGrant(config, callback, { ...checks, idTokenExpected: true });
      assert.equal(tokens.claims().iss, world.broker.issuer);
    }));
});
