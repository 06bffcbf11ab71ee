// Interop for the FAPI 2.0 Security Profile per client (issue 15, security.md [FA-1]..[FA-5]): openid-client 6,
// through its public API only, as a FAPI 2.0 client — PAR + PKCE S256 + DPoP (with server nonces, also at /par) +
// private_key_jwt: code flow, userinfo with a DPoP-bound token, refresh with the same key. The broker registers the
// app with `profile = "fapi2"` (nothing else: the profile requires PAR, PKCE and DPoP), so a plain authorization
// request and a token request without a proof are refused, and the refresh token is not rotated.
//
// Run: bash tests/interop/run.sh   (or: cd tests/interop && node --test fapi2.test.mjs with BK_BIN set)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as oidc from 'openid-client';

import { Browser } from './browser.mjs';
import { startWorld, tail } from './harness.mjs';
import { walk } from './person.mjs';

const SCOPE = 'openid profile email offline_access';
const CLIENT_ID = 'fapi2-rp';
// Never listened on: the walk stops when the browser is sent there; the app handles it.
const REDIRECT_URI = 'http://127.0.0.1:9/fapi2-cb';
const KID = 'fapi2-rp-key-1';

const dpopError = (e) => e.error === 'invalid_dpop_proof' || e.cause?.error === 'invalid_dpop_proof';

describe('openid-client as a FAPI 2.0 client (PAR, PKCE, DPoP, private_key_jwt) -> Bridgekeeper', { timeout: 120_000 },
  () => {
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
          profile: 'fapi2',
        }],
        // FAPI 2.0 §5.4.1: PS256, ES256 or EdDSA only, for what the broker signs too.
        extraConfig: '[dpop]\nrequire_nonce = true\n[tokens]\nsigning_alg = "ES256"\n',
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

    /** The app pushes its request with a DPoP proof; the person walks from the short URL back to the app. */
    async function pushedSignIn(browser, DPoP) {
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
      }, { DPoP });
      assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri'], url.href);
      const back = await walk(browser, url.href, {
        brokerIssuer: world.broker.issuer, stopAt: REDIRECT_URI, provider: 'upstream-a', login: 'fiona',
      });
      return { back, checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce } };
    }

    test('code flow, userinfo and refresh as a FAPI 2.0 client; the refresh token is not rotated', { timeout: 60_000 },
      withLog(async () => {
        const meta = config.serverMetadata();
        assert.ok(meta.authorization_response_iss_parameter_supported, 'RFC 9207 iss');
        assert.ok(meta.dpop_signing_alg_values_supported.includes('ES256'));
        const keyPair = await oidc.randomDPoPKeyPair('ES256');
        const DPoP = oidc.getDPoPHandle(config, keyPair);
        const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
        const { back, checks } = await pushedSignIn(browser, DPoP);
        assert.equal(new URL(back.url).searchParams.get('iss'), world.broker.issuer, 'iss in the response');
        const tokens = await oidc.authorizationCodeGrant(
          config, new URL(back.url), { ...checks, idTokenExpected: true }, undefined, { DPoP },
        );
        assert.equal(tokens.token_type, 'dpop');
        const claims = tokens.claims();
        assert.equal(claims.iss, world.broker.issuer);
        const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });
        assert.equal(info.sub, claims.sub);
        assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');

        // Sender-constrained refresh: another key is refused, and the same token works again and again.
        const other = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
        await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: other }), dpopError);
        for (let i = 0; i < 2; i += 1) {
          const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
          assert.equal(refreshed.token_type, 'dpop');
          assert.equal(refreshed.refresh_token, undefined, 'not rotated');
          const again = await oidc.fetchUserInfo(config, refreshed.access_token, claims.sub, { DPoP });
          assert.equal(again.sub, claims.sub);
        }
      }));

    test('a plain authorization request and a token request without a proof are refused', { timeout: 60_000 },
      withLog(async () => {
        const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
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

        const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
        const { back, checks } = await pushedSignIn(new Browser({ log: !!process.env.BK_INTEROP_DEBUG }), DPoP);
        await assert.rejects(
          oidc.authorizationCodeGrant(config, new URL(back.url), { ...checks, idTokenExpected: true }),
          dpopError,
        );
      }));
  });
