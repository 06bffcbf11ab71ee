// RFC 8693 token exchange (issue 14) with the certified oidc-provider as the upstream: short-lived access tokens
// (4 s) and refresh tokens rotated on every use. The app (an openid-client RP) signs in through the broker, then
// exchanges its broker access token for the person's upstream access token; the upstream's own userinfo
// endpoint accepts every token handed out. Refreshes are counted at oidc-provider.
//
// Run: bash tests/interop/run.sh   (or: cd tests/interop && node --test exchange.test.mjs with BK_BIN set)

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import * as oidc from 'openid-client';

import { Browser } from './browser.mjs';
import { freePort, newSecret, startWorld, tail } from './harness.mjs';
import { walk } from './person.mjs';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

describe('token exchange: oidc-provider (rotating refresh tokens) -> Bridgekeeper vault -> app', { timeout: 120_000 }, () => {
  let world;
  let config;
  const app = { clientId: 'tx-app', clientSecret: newSecret() };

  before(async () => {
    app.redirectUri = `http://127.0.0.1:${await freePort()}/cb`;
    world = await startWorld({
      encryptionKeys: `interop:${randomBytes(32).toString('base64')}`,
      providerExtra: `store_tokens = true\ntoken_exchange_clients = ["${app.clientId}"]\nrefresh_skew_secs = 0\n`,
      upstreamOptions: { accessTokenTtl: 4, rotateRefreshTokens: true },
      clients: [{
        clientId: app.clientId,
        clientSecret: app.clientSecret,
        redirectUris: [app.redirectUri],
        skipConsent: true,
        grantTypes: ['authorization_code', 'refresh_token', GRANT],
      }],
    });
    config = await oidc.discovery(new URL(world.broker.issuer), app.clientId, app.clientSecret, undefined,
      { execute: [oidc.allowInsecureRequests] });
  }, { timeout: 60_000 });

  after(async () => {
    await world?.stop();
  }, { timeout: 30_000 });

  async function exchange(subject) {
    const r = await fetch(`${world.broker.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: GRANT, subject_token: subject, subject_token_type: AT_TYPE, requested_token_type: AT_TYPE,
        resource: 'urn:bridgekeeper:provider:upstream-a', client_id: app.clientId, client_secret: app.clientSecret,
      }),
    });
    return { status: r.status, body: await r.json() };
  }

  async function upstreamUserinfo(token) {
    const meta = await (await fetch(`${world.upstreams['upstream-a'].issuer}/.well-known/openid-configuration`)).json();
    const r = await fetch(meta.userinfo_endpoint, { headers: { authorization: `Bearer ${token}` } });
    return { status: r.status, body: r.status === 200 ? await r.json() : null };
  }

  test('fresh from the vault, then one upstream refresh for 20 concurrent exchanges, rotation kept', { timeout: 60_000 }, async () => {
    try {
      const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: app.redirectUri, scope: 'openid email', state,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      const back = await walk(browser, url.href, {
        brokerIssuer: world.broker.issuer, stopAt: app.redirectUri, provider: 'upstream-a', login: 'erin',
      });
      const tokens = await oidc.authorizationCodeGrant(config, new URL(back.url),
        { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: true });
      const upstream = world.upstreams['upstream-a'];

      const first = await exchange(tokens.access_token);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.issued_token_type, AT_TYPE);
      assert.equal(first.body.refresh_token, undefined, 'never an upstream refresh token');
      assert.equal(upstream.refreshes(), 0, 'fresh from the vault');
      assert.equal((await upstreamUserinfo(first.body.access_token)).body?.sub, 'erin', 'oidc-provider accepts it');

      // Wait out the upstream token's lifetime (4 s), then 20 exchanges at once.
      await new Promise((r) => setTimeout(r, (first.body.expires_in + 1) * 1000));
      const many = await Promise.all(Array.from({ length: 20 }, () => exchange(tokens.access_token)));
      for (const m of many) assert.equal(m.status, 200, JSON.stringify(m.body));
      const fresh = many[0].body.access_token;
      assert.ok(many.every((m) => m.body.access_token === fresh), '20 identical successes');
      assert.notEqual(fresh, first.body.access_token, 'a new upstream token');
      assert.equal(upstream.refreshes(), 1, 'exactly one refresh at oidc-provider');
      assert.equal((await upstreamUserinfo(fresh)).body?.sub, 'erin');

      // The rotated refresh token was committed: after the next expiry it refreshes again (oidc-provider would
      // revoke the grant had the broker used a spent one).
      await new Promise((r) => setTimeout(r, (many[0].body.expires_in + 1) * 1000));
      const again = await exchange(tokens.access_token);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(upstream.refreshes(), 2);
      assert.equal((await upstreamUserinfo(again.body.access_token)).body?.sub, 'erin');
    } catch (e) {
      e.message += `\n--- broker log ---\n${tail(world.logFile)}`;
      throw e;
    }
  });
});
