// An upstream OpenID Provider for the broker: the certified `oidc-provider` with its development login and
// consent pages (devInteractions). Any login name with any password is that person:
//   sub = <login>, email = <login>@upstream.test (verified), name = "Upstream <login>".
//
// Library:  import { startUpstream } from './upstream.mjs'
// Command:  node upstream.mjs --port 4010 --broker http://127.0.0.1:8080 --provider upstream-a
//           (or UPSTREAM_PORT, BROKER_ISSUER, PROVIDER_ID; the broker's client secret from UPSTREAM_CLIENT_SECRET)
// Several instances can run at once (different ports, so different issuers); each uses its own cookie names so
// that, like in a real browser where cookies ignore the port, they do not overwrite each other's sessions.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

/** Claims of the person who typed `login` at the dev login form. */
export function claimsFor(login) {
  return {
    sub: login,
    email: `${login}@upstream.test`.toLowerCase(),
    email_verified: true,
    name: `Upstream ${login}`,
  };
}

/**
 * Starts oidc-provider on 127.0.0.1:`port`.
 * @returns {Promise<{issuer: string, port: number, close: () => Promise<void>}>}
 */
export async function startUpstream({
  port,
  brokerIssuer,
  providerId,
  clientId = 'bridgekeeper',
  clientSecret,
  name = providerId,
  quiet = true,
  backchannelLogout = false,
  // Token exchange tests (issue 14): access tokens this short-lived, refresh tokens rotated on every use and
  // issued without offline_access.
  accessTokenTtl = 600,
  rotateRefreshTokens = false,
}) {
  if (!port || !brokerIssuer || !providerId || !clientSecret) {
    throw new Error('startUpstream needs port, brokerIssuer, providerId and clientSecret');
  }
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `${name}-rs256`, use: 'sig', alg: 'RS256' };
  const tag = name.replace(/[^A-Za-z0-9]/g, '_');

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [`${brokerIssuer.replace(/\/$/, '')}/callback/${providerId}`],
      // Where the broker asks to come back after signing the person out here (logout_upstream = "always").
      post_logout_redirect_uris: [`${brokerIssuer.replace(/\/$/, '')}/logout/upstream/${providerId}`],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
      // The broker's back-channel logout endpoint for this provider (OpenID Back-Channel Logout 1.0).
      ...(backchannelLogout ? {
        backchannel_logout_uri: `${brokerIssuer.replace(/\/$/, '')}/backchannel/${providerId}`,
        backchannel_logout_session_required: true,
      } : {}),
    }],
    jwks: { keys: [jwk] },
    cookies: {
      keys: [randomBytes(32).toString('hex')],
      names: { session: `_s_${tag}`, interaction: `_i_${tag}`, resume: `_r_${tag}` },
      // Plain-http loopback: SameSite=None would need Secure, which a browser refuses over http.
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    features: {
      devInteractions: { enabled: true },
      backchannelLogout: { enabled: backchannelLogout },
      // RFC 9207 `iss` in the authorization response is always on in v8 (advertised in discovery as
      // authorization_response_iss_parameter_supported); nothing to switch on.
    },
    pkce: { methods: ['S256'], required: () => true },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return claimsFor(id);
        },
      };
    },
    ttl: { AccessToken: accessTokenTtl, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
    ...(rotateRefreshTokens ? {
      rotateRefreshToken: () => true,
      issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    } : {}),
  });
  // Refresh-token grants answered with new tokens (counted at the upstream).
  let refreshes = 0;
  provider.on('grant.success', (ctx) => {
    if (ctx.oidc.params?.grant_type === 'refresh_token') refreshes += 1;
  });
  // Loopback plain http: oidc-provider decides on secure cookies from the request itself, so nothing to relax.
  provider.on('server_error', (ctx, err) => console.error(`[${name}] server_error`, err));
  if (!quiet) {
    provider.on('authorization.error', (ctx, err) => console.error(`[${name}] authorization.error`, err.message));
    provider.on('grant.error', (ctx, err) => console.error(`[${name}] grant.error`, err.message));
    provider.on('backchannel.error', (ctx, err) => console.error(`[${name}] backchannel.error`, err.message));
  }

  const server = createServer(provider.callback());
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    issuer,
    port,
    refreshes: () => refreshes,
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}

// Run as a command.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      broker: { type: 'string' },
      provider: { type: 'string' },
    },
  });
  const port = Number(values.port ?? process.env.UPSTREAM_PORT ?? 4010);
  const brokerIssuer = values.broker ?? process.env.BROKER_ISSUER ?? 'http://127.0.0.1:8080';
  const providerId = values.provider ?? process.env.PROVIDER_ID ?? 'upstream-a';
  const clientSecret = process.env.UPSTREAM_CLIENT_SECRET;
  if (!clientSecret) {
    console.error('set UPSTREAM_CLIENT_SECRET (the secret the broker uses as client `bridgekeeper`)');
    process.exit(2);
  }
  const up = await startUpstream({ port, brokerIssuer, providerId, clientSecret, quiet: false });
  console.log(`upstream ${providerId} listening: ${up.issuer}/.well-known/openid-configuration`);
  const stop = () => up.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
