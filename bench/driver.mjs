// The authorization-code round-trip driver, the same for the broker and the peer (wrk cannot chain requests).
// Each virtual user is a browser with its own cookie jar: it signs in once (the broker's `dev` form, the peer's
// devInteractions form) and consents once; then every round trip is
//   GET authorize (session cookie, remembered consent) -> 302/303 to the redirect URI with a code
//   POST token (authorization_code, client_secret_basic, PKCE S256) -> 200 with access, ID and refresh tokens
// over keep-alive connections. One round trip counts as one login.
//
//   node driver.mjs --side broker|peer --base URL --client-id ID --client-secret S --redirect-uri URI
//        --mode run --duration 10 [--concurrency 16]        -> one JSON line: logins, seconds, p50/p99 (ms)
//        --mode mint --count N --out FILE [--at-out FILE]   -> N unused refresh tokens (one a line) and one live
//                                                              access token for introspection
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    side: { type: 'string' },
    base: { type: 'string' },
    'client-id': { type: 'string', default: 'bench' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
    mode: { type: 'string', default: 'run' },
    duration: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '16' },
    count: { type: 'string', default: '1000' },
    out: { type: 'string' },
    'at-out': { type: 'string' },
    'user-prefix': { type: 'string', default: 'bench-user' },
  },
});
const side = o.side;
if (side !== 'broker' && side !== 'peer') throw new Error('--side broker|peer');
const base = new URL(o.base);
const concurrency = Number(o.concurrency);
const RESOURCE = 'urn:bench:api';
const SCOPE = 'openid offline_access api';
const basic = 'Basic ' + Buffer.from(
  `${encodeURIComponent(o['client-id'])}:${encodeURIComponent(o['client-secret'])}`,
).toString('base64');
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency + 2 });

const b64url = (buf) => buf.toString('base64url');

/** One HTTP request; resolves with {status, headers, body}. Never follows redirects. */
function request(method, path, { headers = {}, body, jar } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (jar && jar.size) h.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) {
      h['content-type'] = 'application/x-www-form-urlencoded';
      h['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request({ host: base.hostname, port: base.port, method, path, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (jar) {
          for (const line of res.headers['set-cookie'] ?? []) {
            const [pair, ...attrs] = line.split(';');
            const i = pair.indexOf('=');
            const name = pair.slice(0, i).trim();
            const value = pair.slice(i + 1).trim();
            const gone = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
            if (gone) jar.delete(name);
            else jar.set(name, value);
          }
        }
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const form = (obj) => new URLSearchParams(obj).toString();
const unescape = (s) => s.replace(/&amp;/g, '&').replace(/&#x2F;/g, '/').replace(/&#x3D;/g, '=').replace(/&#x27;/g, "'")
  .replace(/&quot;/g, '"');
function hidden(html, name) {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  if (!m) throw new Error(`no hidden ${name} in page: ${html.slice(0, 400)}`);
  return unescape(m[1]);
}
function attr(html, name) {
  const m = html.match(new RegExp(`${name}="([^"]*)"`));
  if (!m) throw new Error(`no ${name} in page`);
  return unescape(m[1]);
}
/** Location header as a path on the server under test, or null when it leaves (the app's redirect URI). */
function localPath(loc) {
  const u = new URL(loc, base);
  return u.origin === base.origin ? u.pathname + u.search : null;
}

function authorizeQuery() {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const q = {
    client_id: o['client-id'],
    redirect_uri: o['redirect-uri'],
    response_type: 'code',
    scope: SCOPE,
    state: b64url(randomBytes(12)),
    nonce: b64url(randomBytes(12)),
    code_challenge: challenge,
    code_challenge_method: 'S256',
  };
  if (side === 'peer') q.resource = RESOURCE;
  return { path: `${side === 'broker' ? '/authorize' : '/auth'}?${form(q)}`, verifier, state: q.state };
}

/** Signs virtual user `n` in and consents once, following the pages like a browser. Returns its cookie jar. */
async function signIn(n) {
  const jar = new Map();
  const user = `${o['user-prefix']}-${n}`;
  const { path } = authorizeQuery();
  let r = await request('GET', path, { jar });
  for (let step = 0; step < 12; step += 1) {
    if (r.status < 300 || r.status >= 400) throw new Error(`sign-in: unexpected ${r.status} ${r.body.slice(0, 300)}`);
    const next = localPath(r.headers.location);
    if (next === null) {
      if (!new URL(r.headers.location).searchParams.get('code')) throw new Error(`sign-in ended without code: ${r.headers.location}`);
      return jar;
    }
    const page = await request('GET', next, { jar });
    if (page.status >= 300 && page.status < 400) {
      r = page;
      continue;
    }
    if (page.status !== 200) throw new Error(`sign-in page ${next}: ${page.status} ${page.body.slice(0, 300)}`);
    if (side === 'broker') {
      if (next.startsWith('/login')) {
        const f = { csrf: hidden(page.body, 'csrf'), email: `${user}@bench.test`, name: user, link: 'false' };
        if (page.body.includes('name="req"')) f.req = hidden(page.body, 'req');
        r = await request('POST', attr(page.body, 'action'), { jar, body: form(f) });
      } else if (next.startsWith('/consent')) {
        const f = { req: hidden(page.body, 'req'), csrf: hidden(page.body, 'csrf'), decision: 'allow' };
        r = await request('POST', '/consent', { jar, body: form(f) });
      } else {
        throw new Error(`unexpected broker page ${next}`);
      }
    } else {
      const uid = next.match(/^\/interaction\/([^/?]+)/)?.[1];
      if (!uid) throw new Error(`unexpected peer page ${next}`);
      const f = page.body.includes('name="login"')
        ? { prompt: 'login', login: user, password: 'x' }
        : { prompt: 'consent' };
      r = await request('POST', `/interaction/${uid}`, { jar, body: form(f) });
    }
  }
  throw new Error('sign-in did not finish');
}

/** One login: authorize with the session, exchange the code. Returns the token response. */
async function roundTrip(jar, { resource = true } = {}) {
  const { path, verifier, state } = authorizeQuery();
  const a = await request('GET', path, { jar });
  const loc = a.headers.location;
  if (a.status < 300 || a.status >= 400 || !loc || localPath(loc) !== null) {
    throw new Error(`authorize: ${a.status} ${loc ?? ''} ${a.body.slice(0, 200)}`);
  }
  const back = new URL(loc);
  const code = back.searchParams.get('code');
  if (!code || back.searchParams.get('state') !== state) throw new Error(`authorize: no code in ${loc}`);
  const body = { grant_type: 'authorization_code', code, redirect_uri: o['redirect-uri'], code_verifier: verifier };
  if (side === 'peer' && resource) body.resource = RESOURCE;
  const t = await request('POST', '/token', { headers: { authorization: basic }, body: form(body) });
  if (t.status !== 200) throw new Error(`token: ${t.status} ${t.body.slice(0, 300)}`);
  const json = JSON.parse(t.body);
  if (!json.id_token || !json.access_token) throw new Error(`token: no id_token/access_token: ${t.body.slice(0, 300)}`);
  return json;
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

async function main() {
  const jars = [];
  for (let i = 0; i < concurrency; i += 1) jars.push(await signIn(i));
  if (o.mode === 'run') {
    // Warm-up: one round trip per virtual user, not counted.
    await Promise.all(jars.map((j) => roundTrip(j)));
    const lat = [];
    let errors = 0;
    let firstError = null;
    const started = process.hrtime.bigint();
    const until = started + BigInt(Math.round(Number(o.duration) * 1e9));
    await Promise.all(jars.map(async (jar) => {
      while (process.hrtime.bigint() < until) {
        const t0 = process.hrtime.bigint();
        try {
          await roundTrip(jar);
          lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        } catch (e) {
          errors += 1;
          firstError ??= String(e.message ?? e);
          if (errors > 1000) break;
        }
      }
    }));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    lat.sort((x, y) => x - y);
    console.log(JSON.stringify({
      logins: lat.length, errors, first_error: firstError, seconds,
      rps: lat.length / seconds, p50_ms: percentile(lat, 50), p99_ms: percentile(lat, 99), concurrency,
    }));
  } else if (o.mode === 'mint') {
    const total = Number(o.count);
    const tokens = [];
    let next = 0;
    await Promise.all(jars.map(async (jar) => {
      while (next < total) {
        next += 1;
        const t = await roundTrip(jar);
        if (!t.refresh_token) throw new Error('no refresh_token issued');
        tokens.push(t.refresh_token);
      }
    }));
    writeFileSync(o.out, tokens.join('\n') + '\n');
    if (o['at-out']) {
      // The peer can only introspect an access token it stored: the opaque one (no resource at the token endpoint).
      const t = await roundTrip(jars[0], { resource: false });
      writeFileSync(o['at-out'], t.access_token);
    }
    console.log(JSON.stringify({ minted: tokens.length }));
  } else {
    throw new Error(`unknown mode ${o.mode}`);
  }
  agent.destroy();
}

main().catch((e) => {
  console.error(`driver (${side}): ${e.stack ?? e}`);
  process.exit(1);
});
