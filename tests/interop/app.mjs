// A tiny downstream web app for the browser tests: openid-client (the certified RP library, public API only)
// behind a few pages on 127.0.0.1. A person clicks "Sign in", the app sends the browser to the broker with PKCE
// S256, state and nonce bound to the app's own session cookie, redeems the code at /cb, validates the ID token,
// and shows the subject. "Sign out" is RP-initiated logout with the library's end-session URL.
//
//   const app = await startApp({ clientId: 'app-one', name: 'App One' });   // listening, URIs known
//   startWorld({ clients: [app.client()] })                                   // register it with the broker
//   await app.connect(world.broker.issuer);                                   // discovery
//
// Pages: /  (home: "Sign in" or who is signed in), /login[?prompt=...]  (starts a sign-in), /cb  (redirect URI),
// /logout  (RP-initiated logout), /bye  (post-logout redirect URI), /fc  (front-channel logout URI: the broker's
// signed-out page loads it in an iframe; it ends the app's session). The test reads `app.signIns` (tokens and
// claims of each successful sign-in), `app.errors` (what the library raised at /cb), `app.frontchannel` (each
// /fc request: iss, sid, whether the app's session cookie came with it) and `app.byes` (each /bye request), the
// last two numbered in one sequence so that their order can be checked.

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import * as oidc from 'openid-client';

import { newSecret } from './harness.mjs';

export const APP_SCOPE = 'openid profile email offline_access';

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title></head>
<body><main>${body}</main></body></html>`);
}

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/**
 * Starts the app on 127.0.0.1 (a free port). Call `connect(issuer)` once the broker runs.
 * @param {{clientId: string, name: string, clientSecret?: string}} opts
 */
export async function startApp({ clientId, name, clientSecret = newSecret() }) {
  // Browsers keep cookies per host, not per port: each app on 127.0.0.1 needs its own cookie name.
  const cookieName = `app_${clientId.replace(/[^A-Za-z0-9]/g, '_')}`;
  /** @type {Map<string, {pending?: object, tokens?: object, claims?: object, logoutState?: string}>} */
  const sessions = new Map();
  const app = {
    clientId,
    clientSecret,
    name,
    /** @type {oidc.Configuration | null} */
    config: null,
    /** Each successful sign-in: { tokens, claims }. */
    signIns: [],
    /** Each error the library raised at the redirect URI. */
    errors: [],
    /** Each front-channel logout request: { seq, iss, sid, hadSession }. */
    frontchannel: [],
    /** Each post-logout return: { seq }. */
    byes: [],
    seq: 0,
    get lastSignIn() {
      return this.signIns.at(-1);
    },
  };

  const handle = async (req, res) => {
    const url = new URL(req.url, app.origin);
    let sid = cookies(req)[cookieName];
    let session = sid && sessions.get(sid);
    const hadSession = !!session;
    const setCookie = {};
    if (!session) {
      sid = randomBytes(16).toString('hex');
      session = {};
      sessions.set(sid, session);
      setCookie['set-cookie'] = `${cookieName}=${sid}; Path=/; HttpOnly; SameSite=Lax`;
    }

    if (req.method !== 'GET') return page(res, 405, 'Not allowed', '<h1>Not allowed</h1>');
    switch (url.pathname) {
      case '/': {
        const body = session.claims
          ? `<h1>${esc(name)}</h1><p>Signed in as <output id="sub">${esc(session.claims.sub)}</output></p>
             <p><a href="/login">Sign in again</a> <a href="/logout">Sign out</a></p>`
          : `<h1>${esc(name)}</h1><p><a href="/login">Sign in</a></p>`;
        return page(res, 200, name, body, setCookie);
      }
      case '/login': {
        const verifier = oidc.randomPKCECodeVerifier();
        const pending = { verifier, state: oidc.randomState(), nonce: oidc.randomNonce() };
        session.pending = pending;
        const extra = {};
        for (const k of ['prompt', 'max_age', 'login_hint', 'idp_hint']) {
          if (url.searchParams.has(k)) extra[k] = url.searchParams.get(k);
        }
        const to = oidc.buildAuthorizationUrl(app.config, {
          redirect_uri: app.redirectUri,
          scope: APP_SCOPE,
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state: pending.state,
          nonce: pending.nonce,
          ...extra,
        });
        res.writeHead(302, { location: to.href, 'cache-control': 'no-store', ...setCookie });
        return res.end();
      }
      case '/cb': {
        const pending = session.pending;
        delete session.pending;
        if (!pending) return page(res, 400, 'No sign-in', '<h1>No sign-in in progress</h1>', setCookie);
        try {
          const tokens = await oidc.authorizationCodeGrant(app.config, url, {
            pkceCodeVerifier: pending.verifier,
            expectedState: pending.state,
            expectedNonce: pending.nonce,
            idTokenExpected: true,
          });
          session.tokens = tokens;
          session.claims = tokens.claims();
          app.signIns.push({ tokens, claims: session.claims });
          return page(res, 200, `${name}: signed in`,
            `<h1>${esc(name)}</h1><p>Signed in as <output id="sub">${esc(session.claims.sub)}</output></p>
             <p><a href="/logout">Sign out</a></p>`, setCookie);
        } catch (e) {
          app.errors.push(e);
          const code = e instanceof oidc.AuthorizationResponseError ? e.error : `${e.name}: ${e.message}`;
          return page(res, 200, `${name}: sign-in failed`,
            `<h1>${esc(name)}</h1><p>Sign-in failed: <code id="error">${esc(code)}</code></p>
             <p><a href="/login">Try again</a></p>`, setCookie);
        }
      }
      case '/logout': {
        const idToken = session.tokens?.id_token;
        session.logoutState = oidc.randomState();
        delete session.tokens;
        delete session.claims;
        const to = oidc.buildEndSessionUrl(app.config, {
          ...(idToken ? { id_token_hint: idToken } : { client_id: clientId }),
          post_logout_redirect_uri: app.postLogoutRedirectUri,
          state: session.logoutState,
        });
        res.writeHead(302, { location: to.href, 'cache-control': 'no-store', ...setCookie });
        return res.end();
      }
      case '/fc': {
        // OpenID Connect Front-Channel Logout 1.0: the OP renders this in an iframe; the app ends its session.
        app.frontchannel.push({
          seq: (app.seq += 1), iss: url.searchParams.get('iss'), sid: url.searchParams.get('sid'), hadSession,
        });
        delete session.tokens;
        delete session.claims;
        return page(res, 200, `${name}: front-channel logout`, '<h1>Signed out</h1>', setCookie);
      }
      case '/bye': {
        app.byes.push({ seq: (app.seq += 1) });
        const ok = session.logoutState && url.searchParams.get('state') === session.logoutState;
        delete session.logoutState;
        return page(res, 200, `${name}: signed out`,
          `<h1>${esc(name)}</h1><p id="bye">${ok ? 'Signed out' : 'Signed out, but the state does not match'}</p>
           <p><a href="/login">Sign in</a></p>`, setCookie);
      }
      default:
        return page(res, 404, 'Not found', '<h1>Not found</h1>', setCookie);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      app.errors.push(e);
      if (!res.headersSent) page(res, 500, 'App error', `<h1>App error</h1><pre>${esc(e.stack ?? e)}</pre>`);
      else res.end();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  app.origin = `http://127.0.0.1:${server.address().port}`;
  app.redirectUri = `${app.origin}/cb`;
  app.postLogoutRedirectUri = `${app.origin}/bye`;

  /** The broker config entry for this app (`startWorld({ clients: [...] })`). */
  app.client = (extra = {}) => ({
    clientId,
    clientSecret,
    name,
    redirectUris: [app.redirectUri],
    postLogoutRedirectUris: [app.postLogoutRedirectUri],
    ...extra,
  });
  /** Discovery with the library's own API; plain http only because everything is on loopback. */
  app.connect = async (issuer) => {
    app.config = await oidc.discovery(new URL(issuer), clientId, clientSecret, undefined,
      { execute: [oidc.allowInsecureRequests] });
  };
  app.close = () => new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
  return app;
}
