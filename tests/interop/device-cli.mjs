// A terminal program for the device grant (RFC 8628) on openid-client 6, public API only: it asks the broker for
// a device code, prints where to go and the code to enter on stdout (as a TV or a CLI would show them), polls
// until the person has answered, and prints one last line: `TOKENS {json}` (the validated ID token's claims, the
// scope and token type) or `ERROR <code>`. The interop test starts it as a child process and reads its stdout.
//
//   node device-cli.mjs ISSUER CLIENT_ID [SCOPE]

import * as oidc from 'openid-client';

const [issuer, clientId, scope = 'openid profile email'] = process.argv.slice(2);
if (!issuer || !clientId) {
  console.error('usage: node device-cli.mjs ISSUER CLIENT_ID [SCOPE]');
  process.exit(2);
}

try {
  const config = await oidc.discovery(new URL(issuer), clientId, undefined, oidc.None(),
    { execute: [oidc.allowInsecureRequests] });
  const started = await oidc.initiateDeviceAuthorization(config, { scope });
  console.log(`To sign in, open ${started.verification_uri} and enter the code ${started.user_code}`);
  console.log(`Or open ${started.verification_uri_complete}`);
  const tokens = await oidc.pollDeviceAuthorizationGrant(config, started);
  const claims = tokens.claims();
  console.log(`TOKENS ${JSON.stringify({
    sub: claims?.sub, aud: claims?.aud, email: claims?.email, scope: tokens.scope, token_type: tokens.token_type,
    refresh: typeof tokens.refresh_token === 'string',
  })}`);
} catch (e) {
  console.log(`ERROR ${e?.error ?? e?.code ?? e?.message ?? e}`);
  process.exitCode = 1;
}
