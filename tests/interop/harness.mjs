// Processes and configuration for the interop suite: free loopback ports, a throw-away directory with a broker
// config and provider files, the broker binary (started, awaited on /readyz, stopped), the upstream OPs.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startUpstream } from './upstream.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '..', '..');
export const BROKER_BIN = process.env.BK_BIN
  ?? join(process.env.CARGO_TARGET_DIR ?? '/root/.cache/bridgekeeper-target', 'debug', 'bridgekeeper');

export const RP_CLIENT_ID = 'interop-rp';
export const UPSTREAM_CLIENT_ID = 'bridgekeeper';

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

// Secrets carry characters that must be form-urlencoded for client_secret_basic (RFC 6749 §2.3.1) and
// escaped in a form body, so that both ends' encoders and decoders are exercised.
const secret = () => `${randomBytes(18).toString('base64url')}:+% &=/~"`;
/** A fresh client secret of that kind (for extra clients). */
export const newSecret = secret;
const toml = (v) => JSON.stringify(v); // JSON strings and arrays of strings are valid TOML

async function waitReady(url, child, logFile, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`broker exited (${child.exitCode ?? child.signalCode}) before ready:\n${tail(logFile)}`);
    }
    try {
      const r = await fetch(url);
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`broker not ready at ${url} after ${timeoutMs} ms (${last}):\n${tail(logFile)}`);
}

export function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The `[[clients]]` block of one extra static client (see `startWorld({ clients })`). */
function clientBlock(c) {
  if (!c.clientId || !c.redirectUris?.length) throw new Error('an extra client needs clientId and redirectUris');
  return [
    '[[clients]]',
    `client_id = ${toml(c.clientId)}`,
    ...(c.clientSecret !== undefined ? [`client_secret = ${toml(c.clientSecret)}`] : []),
    ...(c.name !== undefined ? [`name = ${toml(c.name)}`] : []),
    `redirect_uris = ${toml(c.redirectUris)}`,
    ...(c.postLogoutRedirectUris ? [`post_logout_redirect_uris = ${toml(c.postLogoutRedirectUris)}`] : []),
    `allowed_scopes = ${toml(c.allowedScopes ?? ['openid', 'profile', 'email', 'offline_access'])}`,
    `grant_types = ${toml(c.grantTypes ?? ['authorization_code', 'refresh_token'])}`,
    ...(c.skipConsent !== undefined ? [`skip_consent = ${c.skipConsent ? 'true' : 'false'}`] : []),
    ...(c.backchannelLogoutUri ? [`backchannel_logout_uri = ${toml(c.backchannelLogoutUri)}`] : []),
    ...(c.tokenEndpointAuthMethod ? [`token_endpoint_auth_method = ${toml(c.tokenEndpointAuthMethod)}`] : []),
    ...(c.jwks ? [`jwks = ${toml(JSON.stringify(c.jwks))}`] : []),
    ...(c.requirePar ? ['require_pushed_authorization_requests = true'] : []),
    ...(c.dpopBound ? ['dpop_bound_access_tokens = true'] : []),
    ...(c.profile ? [`profile = ${toml(c.profile)}`] : []),
    ...(c.frontchannelLogoutUri ? [`frontchannel_logout_uri = ${toml(c.frontchannelLogoutUri)}`,
      `frontchannel_logout_session_required = ${c.frontchannelLogoutSessionRequired ? 'true' : 'false'}`] : []),
    '',
  ];
}

/**
 * Everything one suite needs: upstream OPs `ids` (e.g. ['upstream-a', 'upstream-b']), one broker with a provider
 * file per upstream, the `interop-rp` client and any extra static `clients` (each `{ clientId, clientSecret?,
 * name?, redirectUris, postLogoutRedirectUris?, allowedScopes?, grantTypes?, skipConsent?, tokenEndpointAuthMethod?,
 * jwks? (a JWK Set object), requirePar?, dpopBound?, profile? }`, written as
 * `[[clients]]` blocks) and `extraConfig`, TOML appended to the broker config (e.g. '[tokens]\nttl = 1');
 * `providerExtra` is appended to every provider file, `upstreamOptions` passed to every `startUpstream`.
 * Call `stop()` when done (also safe after a failed start).
 */
export async function startWorld({
  upstreams: ids = ['upstream-a'], linkByEmail = 'never', clients = [], extraConfig = '', backchannelLogout = false,
  logoutUpstream = 'never', encryptionKeys = '', providerExtra = '', upstreamOptions = {},
} = {}) {
  const world = {
    dir: mkdtempSync(join(tmpdir(), 'bk-interop-')),
    upstreams: {},
    broker: null,
    child: null,
  };
  // Never leave a broker behind: on exit, and on Ctrl-C / SIGTERM (which skip the 'exit' event).
  const killOnExit = () => world.child?.kill('SIGKILL');
  const killOnSignal = (sig) => {
    killOnExit();
    if (!process.env.BK_INTEROP_KEEP) rmSync(world.dir, { recursive: true, force: true });
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', killOnExit);
  process.once('SIGINT', killOnSignal);
  process.once('SIGTERM', killOnSignal);

  world.stop = async () => {
    process.off('exit', killOnExit);
    process.off('SIGINT', killOnSignal);
    process.off('SIGTERM', killOnSignal);
    const child = world.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await Promise.all(Object.values(world.upstreams).map((u) => u.close()));
    if (!process.env.BK_INTEROP_KEEP) rmSync(world.dir, { recursive: true, force: true });
  };

  try {
    const brokerPort = await freePort();
    const rpPort = await freePort();
    const issuer = `http://127.0.0.1:${brokerPort}`;
    world.rp = {
      clientId: RP_CLIENT_ID,
      clientSecret: secret(),
      redirectUri: `http://127.0.0.1:${rpPort}/cb`,
      postLogoutRedirectUri: `http://127.0.0.1:${rpPort}/bye`,
    };

    const providersDir = join(world.dir, 'providers');
    mkdirSync(providersDir);
    for (const id of ids) {
      const upstreamSecret = secret();
      const up = await startUpstream({
        port: await freePort(),
        brokerIssuer: issuer,
        providerId: id,
        clientId: UPSTREAM_CLIENT_ID,
        clientSecret: upstreamSecret,
        quiet: !process.env.BK_INTEROP_DEBUG,
        backchannelLogout,
        ...upstreamOptions,
      });
      world.upstreams[id] = up;
      writeFileSync(join(providersDir, `${id}.toml`), [
        'kind = "oidc"',
        `display_name = ${toml(`Upstream ${id}`)}`,
        `issuer = ${toml(up.issuer)}`,
        `client_id = ${toml(UPSTREAM_CLIENT_ID)}`,
        `client_secret = ${toml(upstreamSecret)}`,
        'scopes = ["openid", "email", "profile"]',
        `link_by_email = ${toml(linkByEmail)}`,
        // oidc-provider asserts email_verified as its accounts say; the tests trust it (released as verified).
        'trust_email = true',
        ...(backchannelLogout ? ['backchannel_logout = true'] : []),
        `logout_upstream = ${toml(logoutUpstream)}`,
        providerExtra,
        '',
      ].join('\n'));
    }

    const configFile = join(world.dir, 'broker.toml');
    writeFileSync(configFile, [
      `issuer = ${toml(issuer)}`,
      `bind = ${toml(`127.0.0.1:${brokerPort}`)}`,
      `database_url = ${toml(`sqlite://${join(world.dir, 'bk.db')}`)}`,
      `providers_dir = ${toml(providersDir)}`,
      `templates_dir = ${toml(join(REPO, 'templates'))}`,
      'dev_mode = false',
      ...(encryptionKeys ? [`encryption_keys = ${toml(encryptionKeys)}`] : []),
      'log_level = "info"',
      '',
      '[[clients]]',
      `client_id = ${toml(world.rp.clientId)}`,
      `client_secret = ${toml(world.rp.clientSecret)}`,
      'name = "Interop RP (openid-client)"',
      `redirect_uris = ${toml([world.rp.redirectUri])}`,
      `post_logout_redirect_uris = ${toml([world.rp.postLogoutRedirectUri])}`,
      'allowed_scopes = ["openid", "profile", "email", "offline_access"]',
      'grant_types = ["authorization_code", "refresh_token"]',
      '',
      ...clients.flatMap(clientBlock),
      extraConfig,
    ].join('\n'));

    world.logFile = join(world.dir, 'broker.log');
    const log = createWriteStream(world.logFile);
    const env = { ...process.env, NO_COLOR: '1' };
    for (const k of Object.keys(env)) if (k.startsWith('BRIDGEKEEPER__')) delete env[k];
    const child = spawn(BROKER_BIN, ['--config', configFile, 'serve'], {
      cwd: world.dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    world.child = child;
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.once('error', (e) => log.write(`spawn error: ${e.message}\n`));
    world.broker = { issuer, port: brokerPort };
    await waitReady(`${issuer}/readyz`, child, world.logFile);
    return world;
  } catch (e) {
    await world.stop().catch(() => {});
    throw e;
  }
}
