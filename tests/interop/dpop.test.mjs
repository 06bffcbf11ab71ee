// Interop for DPoP (RFC 9449, issue 15): openid-client, through its public API only, as a public app (PKCE, no
// secret) that binds its tokens to a DPoP key: code flow, userinfo and refresh with proofs, the broker requiring
// server nonces (openid-client retries with the DPoP-Nonce it is given). The broker registers the app with
// dpop_bound_access_tokens = true, so a token request without a proof is refused.
//
// Run: bash tests/interop/run.sh   (or: cd tests/interop && node --test dpop.test.mjs with BK_BIN set)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as oidc from 'openid-client';

import { Browser } from './browser.mjs';
import { startWorld, tail } from './harness.mjs';
import { walk } from './person.mjs';

const SCOPE = 'openid profile email offline_access';
const CLIENT_ID = 'dpop-rp';
// Never listened on: the walk stops when the browser is sent there; the app handles it.
const REDIRECT_URI = 'http://127.0.0.1:9/dpop-cb';

describe('openid-client (public client, PKCE, DPoP with server nonces) -> Bridgekeeper', { timeout: 120_000 }, () => {
  let world;
  /** @type {oidc.Configuration} */
  let config;

  before(async () => {
    world = await startWorld({
      upstreams: ['upstream-a'],
      clients: [{
        clientId: CLIENT_ID,
        redirectUris: [REDIRECT_URI],
        tokenEndpointAuthMethod: 'none',
        dpopBound: true,
      }],
      extraConfig: '[dpop]\nrequire_nonce = true\n',
    });
    config = await oidc.discovery(
      new URL(world.broker.issuer), CLIENT_ID, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] },
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

  async function signIn(browser, params = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: SCOPE,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...params,
    });
    const back = await walk(browser, url.href, {
      brokerIssuer: world.broker.issuer, stopAt: REDIRECT_URI, provider: 'upstream-a', login: 'fiona',
    });
    return { back, checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce } };
  }

  test('code flow, userinfo and refresh with DPoP; the refresh token is bound to the key', { timeout: 60_000 },
    withLog(async () => {
      const meta = config.serverMetadata();
      assert.deepEqual(meta.dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'PS256', 'RS256']);

      const keyPair = await oidc.randomDPoPKeyPair('ES256');
      const DPoP = oidc.getDPoPHandle(config, keyPair);
      const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      const { back, checks } = await signIn(browser);
      const tokens = await oidc.authorizationCodeGrant(
        config, new URL(back.url), { ...checks, idTokenExpected: true }, undefined, { DPoP },
      );
      assert.equal(tokens.token_type, 'dpop');
      const claims = tokens.claims();
      assert.equal(claims.iss, world.broker.issuer);
      const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });
      assert.equal(info.sub, claims.sub);

      // The token is bound: as a bearer token it is refused.
      const bearer = await fetch(`${world.broker.issuer}/userinfo`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      });
      assert.equal(bearer.status, 401);
      assert.match(bearer.headers.get('www-authenticate'), /^DPoP .*error="invalid_token"/);

      // The refresh token of a public client is bound to the key: another key is refused.
      const other = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
      await assert.rejects(
        oidc.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: other }),
        (e) => e.error === 'invalid_dpop_proof' || e.cause?.error === 'invalid_dpop_proof',
      );
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
      assert.equal(refreshed.token_type, 'dpop');
      assert.ok(refreshed.access_token !== tokens.access_token && refreshed.refresh_token);
      const again = await oidc.fetchUserInfo(config, refreshed.access_token, claims.sub, { DPoP });
      assert.equal(again.sub, claims.sub);
    }));

  test('dpop_bound_access_tokens: a token request without a proof is refused', { timeout: 60_000 },
    withLog(async () => {
      const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      const { back, checks } = await signIn(browser);
      await assert.rejects(
        oidc.authorizationCodeGrant(config, new URL(back.url), { ...checks, idTokenExpected: true }),
        (e) => e.error === 'invalid_dpop_proof' || e.cause?.error === 'invalid_dpop_proof',
      );
    }));
});
