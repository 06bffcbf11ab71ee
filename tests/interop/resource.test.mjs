// Resource indicators (RFC 8707) and per-API settings ([[apis]], issue 15): openid-client, through its public API
// only, as an app that asks for two APIs at /authorize (and through PAR), picks one audience per access token at
// /token, refreshes for the other one, and gets a client_credentials token for one API. Each token's `aud`, scope
// and lifetime are the API's; a token for an API does not open userinfo; unknown resources are invalid_target.
//
// Run: bash tests/interop/run.sh   (or: cd tests/interop && node --test resource.test.mjs with BK_BIN set)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as oidc from 'openid-client';

import { Browser } from './browser.mjs';
import { freePort, newSecret, startWorld, tail } from './harness.mjs';
import { walk } from './person.mjs';

const ORDERS = 'https://orders.example';
const BILLING = 'https://billing.example/api';
const SCOPE = 'openid email offline_access orders.read billing.read';
const isError = (code) => (e) => e?.error === code || assert.fail(`expected ${code}, got ${e?.error ?? e}`);

/** The claims of a JWT (its signature is the broker's; the tests of the broker check it). */
const payload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

describe('openid-client (resource indicators) -> Bridgekeeper [[apis]]', { timeout: 120_000 }, () => {
  let world;
  /** @type {oidc.Configuration} */
  let config;
  const app = { clientId: 'ri-app', clientSecret: newSecret() };

  before(async () => {
    app.redirectUri = `http://127.0.0.1:${await freePort()}/cb`;
    world = await startWorld({
      clients: [{
        clientId: app.clientId,
        clientSecret: app.clientSecret,
        redirectUris: [app.redirectUri],
        skipConsent: true,
        allowedScopes: ['openid', 'email', 'offline_access', 'orders.read', 'billing.read'],
        grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
      }],
      extraConfig: [
        '[scopes]',
        '"orders.read" = "Read your orders"',
        '"billing.read" = "Read your invoices"',
        '',
        '[[apis]]',
        `identifier = "${ORDERS}"`,
        'scopes = ["orders.read"]',
        'access_token_ttl_secs = 120',
        `clients = ["${app.clientId}"]`,
        '',
        '[[apis]]',
        `identifier = "${BILLING}"`,
        'scopes = ["billing.read"]',
        `clients = ["${app.clientId}"]`,
        '',
      ].join('\n'),
    });
    config = await oidc.discovery(new URL(world.broker.issuer), app.clientId, app.clientSecret, undefined,
      { execute: [oidc.allowInsecureRequests] });
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

  /** The authorization parameters for these resources (`resource` repeated, RFC 8707 §2). */
  async function params(resources) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const p = new URLSearchParams({
      redirect_uri: app.redirectUri,
      scope: SCOPE,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    for (const r of resources) p.append('resource', r);
    return { p, checks: { pkceCodeVerifier: verifier, expectedState: state } };
  }

  async function signIn(browser, url) {
    return walk(browser, url.href, {
      brokerIssuer: world.broker.issuer, stopAt: app.redirectUri, provider: 'upstream-a', login: 'rita',
    });
  }

  test('two resources at /authorize: one audience per token at /token, the refresh family keeps both',
    { timeout: 60_000 }, withLog(async () => {
      const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      const { p, checks } = await params([ORDERS, BILLING]);
      const back = await signIn(browser, oidc.buildAuthorizationUrl(config, p));
      // Several resources were granted: the app names the one this access token is for.
      const tokens = await oidc.authorizationCodeGrant(config, new URL(back.url), { ...checks, idTokenExpected: true },
        { resource: ORDERS });
      const at = payload(tokens.access_token);
      assert.equal(at.aud, ORDERS);
      assert.equal(at.scope, 'orders.read');
      assert.equal(tokens.scope, 'orders.read');
      assert.equal(tokens.expires_in, 120, "the API's own lifetime");
      assert.equal(at.exp - at.iat, 120);
      const id = tokens.claims();
      assert.equal(id.iss, world.broker.issuer);
      assert.ok([id.aud].flat().includes(app.clientId), 'the ID token is the app\'s');
      assert.ok(tokens.refresh_token);
      // An API's token is not for the broker's userinfo.
      await assert.rejects(oidc.fetchUserInfo(config, tokens.access_token, id.sub));
      const info = await oidc.tokenIntrospection(config, tokens.access_token);
      assert.equal(info.active, true);
      assert.equal(info.aud, ORDERS);

      const billing = await oidc.refreshTokenGrant(config, tokens.refresh_token, { resource: BILLING });
      assert.equal(payload(billing.access_token).aud, BILLING);
      assert.equal(billing.scope, 'billing.read');
      assert.equal(billing.expires_in, 600, 'tokens.access_token_ttl_secs');
      // None named while several are granted, or one not granted: invalid_target, and the token is not spent.
      await assert.rejects(oidc.refreshTokenGrant(config, billing.refresh_token), isError('invalid_target'));
      await assert.rejects(oidc.refreshTokenGrant(config, billing.refresh_token, { resource: 'https://evil.example' }),
        isError('invalid_target'));
      const orders = await oidc.refreshTokenGrant(config, billing.refresh_token, { resource: ORDERS });
      assert.equal(payload(orders.access_token).aud, ORDERS);
    }));

  test('one resource through PAR: the token is for it without naming it again', { timeout: 60_000 },
    withLog(async () => {
      const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      const { p, checks } = await params([BILLING]);
      const url = await oidc.buildAuthorizationUrlWithPAR(config, p);
      assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
      const back = await signIn(browser, url);
      const tokens = await oidc.authorizationCodeGrant(config, new URL(back.url), checks);
      assert.equal(payload(tokens.access_token).aud, BILLING);
      assert.equal(tokens.scope, 'billing.read');
      // Without a resource the token is the broker's own, for userinfo, carrying no API's scope.
      const { p: plain, checks: plainChecks } = await params([]);
      const again = await signIn(browser, oidc.buildAuthorizationUrl(config, plain));
      const own = await oidc.authorizationCodeGrant(config, new URL(again.url), plainChecks);
      assert.equal(payload(own.access_token).aud, world.broker.issuer);
      assert.equal(own.scope, 'email offline_access openid');
      const info = await oidc.fetchUserInfo(config, own.access_token, own.claims().sub);
      assert.equal(info.sub, own.claims().sub);
    }));

  test('unknown resources are invalid_target at /authorize, /par and /token; client_credentials for an API',
    { timeout: 60_000 }, withLog(async () => {
      const browser = new Browser({ log: !!process.env.BK_INTEROP_DEBUG });
      const { p, checks } = await params([ORDERS, 'https://unknown.example']);
      const refused = await browser.navigate(oidc.buildAuthorizationUrl(config, p).href, { stopAt: app.redirectUri });
      assert.ok(refused.stopped, 'redirected to the app');
      await assert.rejects(oidc.authorizationCodeGrant(config, new URL(refused.url), checks),
        isError('invalid_target'));
      await assert.rejects(oidc.buildAuthorizationUrlWithPAR(config, p), isError('invalid_target'));

      const cc = await oidc.clientCredentialsGrant(config, { resource: ORDERS });
      const at = payload(cc.access_token);
      assert.equal(at.aud, ORDERS);
      assert.equal(at.sub, app.clientId);
      assert.equal(cc.scope, 'orders.read');
      await assert.rejects(oidc.clientCredentialsGrant(config, { resource: 'https://unknown.example' }),
        isError('invalid_target'));
    }));
});
