// The benchmark's peer: the Node.js `oidc-provider` (pinned in bench/package.json) configured like the broker
// under test: the same confidential client and grants, JWT access tokens (RFC 9068, `typ: at+jwt`) signed with the
// same algorithm, rotating refresh tokens, introspection, its default in-memory adapter (nothing persisted; its
// 1,000-entry LRU replaced by an unbounded Map, see below).
//
//   node bench/peer.mjs --port 4100 --alg ES256 --client-id bench --client-secret S --redirect-uri URI
//
// Access tokens are JWTs for the resource `urn:bench:api` (scope `api`), asked for with the RFC 8707 `resource`
// parameter. oidc-provider keeps no record of JWT access tokens, so it cannot introspect them: the introspection
// case introspects an opaque (stored) access token, the one oidc-provider issues for its userinfo endpoint when no
// resource is asked for at the token endpoint.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

// oidc-provider's default adapter (MemoryAdapter) keeps everything in one LRU of 1,000 entries: the refresh tokens
// pre-issued for the refresh case would be evicted before they are used. Same adapter, same code, but its storage
// swapped for an unbounded Map through the adapter module's own setStorage().
const { setStorage } = await import(new URL('./adapters/memory_adapter.js', import.meta.resolve('oidc-provider')).href);
setStorage(new Map());

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4100' },
    alg: { type: 'string', default: 'ES256' },
    // access tokens' algorithm when it differs from the ID tokens' (the broker's tokens.access_token_alg)
    'at-alg': { type: 'string' },
    'client-id': { type: 'string', default: 'bench' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', default: 'http://127.0.0.1:9/cb' },
  },
});
const port = Number(values.port);
const alg = values.alg;
const atAlg = values['at-alg'] || alg;
const issuer = `http://127.0.0.1:${port}`;
const RESOURCE = 'urn:bench:api';

/** Two signing keys per algorithm in use (the broker publishes a current and a next key per algorithm). */
function keys() {
  const make = (alg, i) => {
    let pair;
    if (alg === 'RS256') pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    else if (alg === 'ES256') pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    else if (alg === 'EdDSA') pair = generateKeyPairSync('ed25519');
    else throw new Error(`unsupported alg ${alg}`);
    return { ...pair.privateKey.export({ format: 'jwk' }), kid: `peer-${alg}-${i}`, use: 'sig', alg };
  };
  const out = [make(alg, 1), make(alg, 2)];
  if (atAlg !== alg) out.push(make(atAlg, 1), make(atAlg, 2));
  return out;
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: values['client-id'],
    client_secret: values['client-secret'],
    redirect_uris: [values['redirect-uri']],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: alg,
    scope: 'openid offline_access api',
  }],
  jwks: { keys: keys() },
  cookies: {
    keys: [randomBytes(32).toString('hex')],
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  scopes: ['openid', 'offline_access', 'api'],
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => oneOf,
      // An explicit `resource` at the token endpoint gives a JWT for the API; none gives the opaque userinfo token.
      useGrantedResource: () => false,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) throw new Error(`unknown resource ${resourceIndicator}`);
        return {
          scope: 'api',
          audience: issuer,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 600,
          jwt: { sign: { alg: atAlg } },
        };
      },
    },
  },
  pkce: { methods: ['S256'], required: () => false },
  // The broker issues a refresh token when the scope has offline_access and the client may refresh, without a
  // consent prompt on every authorization; oidc-provider drops offline_access unless prompt=consent, so issue the
  // refresh token from the client's grant types instead (the same outcome), and like the broker keep it alive
  // after the browser session ends.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  rotateRefreshToken: true,
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@bench.test`, email_verified: true, name: `Bench ${id}` };
      },
    };
  },
  ttl: {
    AccessToken: 600,
    ClientCredentials: 600,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 14 * 24 * 3600,
    Interaction: 600,
    Session: 86400,
    Grant: 90 * 24 * 3600,
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = createServer(provider.callback());
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.error(`peer ${alg} (access tokens ${atAlg}) listening on ${issuer}`));
const stop = () => {
  server.closeAllConnections?.();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
