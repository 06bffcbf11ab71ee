// A minimal "browser" over plain HTTP: fetch without automatic redirects, a cookie jar that behaves like a
// browser's (cookies belong to the host, not host:port; Path, Max-Age and Expires are honoured), and just
// enough HTML reading to find forms, hidden inputs and links. Nothing here knows the broker's internals: it
// reads the pages the broker and oidc-provider serve to people.

const MAX_HOPS = 30;

/** Decodes the HTML character references tera and eta emit (`&#x2F;`, `&#x3D;`, `&amp;`, `&quot;`, ...). */
export function unescapeHtml(s) {
  const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, ent) => {
    if (ent[0] === '#') {
      const code = ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : m;
    }
    return named[ent] ?? m;
  });
}

function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    const name = m[1].toLowerCase();
    if (name in out) continue;
    out[name] = unescapeHtml(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

/** Every form of a page: action (absolute), method, fields (inputs with a name), buttons (name/value). */
export function forms(html, baseUrl) {
  const out = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const a = attrs(m[1]);
    const fields = {};
    const buttons = [];
    for (const i of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const ia = attrs(i[1]);
      if (!ia.name) continue;
      if ((ia.type ?? '').toLowerCase() === 'submit') buttons.push({ name: ia.name, value: ia.value ?? '' });
      else fields[ia.name] = ia.value ?? '';
    }
    for (const b of m[2].matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)) {
      const ba = attrs(b[1]);
      buttons.push({ name: ba.name, value: ba.value ?? '', text: b[2].replace(/<[^>]*>/g, '').trim() });
    }
    out.push({
      action: new URL(a.action || baseUrl, baseUrl).href,
      method: (a.method || 'get').toLowerCase(),
      fields,
      buttons,
      html: m[0],
    });
  }
  return out;
}

/** Every link of a page: href (absolute) and text. */
export function links(html, baseUrl) {
  const out = [];
  for (const m of html.matchAll(/<a\b([^>]*)>([\s\S]*?)<\/a>/gi)) {
    const a = attrs(m[1]);
    if (a.href === undefined) continue;
    out.push({ href: new URL(a.href, baseUrl).href, text: unescapeHtml(m[2].replace(/<[^>]*>/g, '')).trim() });
  }
  return out;
}

export class CookieJar {
  constructor() {
    /** @type {Map<string, {name: string, value: string, host: string, path: string, expires: number|null}>} */
    this.cookies = new Map();
  }

  store(url, setCookieHeaders) {
    const u = new URL(url);
    for (const line of setCookieHeaders) {
      const [pair, ...rest] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = u.pathname.replace(/\/[^/]*$/, '') || '/';
      let expires = null;
      let maxAgeSeen = false;
      for (const attr of rest) {
        const [k, ...v] = attr.split('=');
        const key = k.trim().toLowerCase();
        const val = v.join('=').trim();
        if (key === 'path' && val.startsWith('/')) path = val;
        else if (key === 'max-age') {
          maxAgeSeen = true;
          const n = Number(val);
          expires = Number.isFinite(n) ? Date.now() + n * 1000 : expires;
        } else if (key === 'expires' && !maxAgeSeen) {
          const t = Date.parse(val);
          if (!Number.isNaN(t)) expires = t;
        }
      }
      const id = `${u.hostname};${path};${name}`;
      if (expires !== null && expires <= Date.now()) this.cookies.delete(id);
      else this.cookies.set(id, { name, value, host: u.hostname, path, expires });
    }
  }

  header(url) {
    const u = new URL(url);
    const now = Date.now();
    const matching = [];
    for (const [id, c] of this.cookies) {
      if (c.expires !== null && c.expires <= now) {
        this.cookies.delete(id);
        continue;
      }
      const pathOk = u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`);
      if (c.host === u.hostname && pathOk) matching.push(c);
    }
    matching.sort((a, b) => b.path.length - a.path.length);
    return matching.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  names(url) {
    return this.header(url).split('; ').filter(Boolean).map((p) => p.split('=')[0]);
  }
}

export class Browser {
  constructor({ log = false } = {}) {
    this.jar = new CookieJar();
    this.log = log;
    /** The pages and redirects seen, for failure messages. */
    this.history = [];
  }

  /** One request, no redirect following. Returns {url, status, location, body}. */
  async request(url, { method = 'GET', form } = {}) {
    const headers = { 'user-agent': 'bridgekeeper-interop/1', accept: 'text/html,*/*' };
    const cookie = this.jar.header(url);
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, { method, headers, body, redirect: 'manual' });
    this.jar.store(url, res.headers.getSetCookie());
    const text = await res.text();
    const loc = res.headers.get('location');
    const location = loc ? new URL(loc, url).href : null;
    this.history.push(`${method} ${url} -> ${res.status}${location ? ` ${location}` : ''}`);
    if (this.log) console.error(this.history.at(-1));
    return { url, status: res.status, location, body: text, headers: res.headers };
  }

  /**
   * Navigates like a browser: follows redirects (a POST answered by 302/303 continues as GET) until a page that
   * is not a redirect, or until a redirect whose target starts with `stopAt` (the app's redirect URI: the app,
   * not the browser, handles it). Returns {url, status, body} of the page, or {url: target, stopped: true}.
   */
  async navigate(url, { method = 'GET', form, stopAt } = {}) {
    let res = await this.request(url, { method, form });
    for (let hop = 0; hop < MAX_HOPS; hop += 1) {
      if (res.status < 300 || res.status >= 400 || !res.location) return res;
      if (stopAt && res.location.startsWith(stopAt)) return { url: res.location, stopped: true, status: res.status };
      res = await this.request(res.location);
    }
    throw new Error(`too many redirects:\n${this.trail()}`);
  }

  /** Submits a form as a person would: its fields plus the chosen button (and any extra typed values). */
  async submit(form, { button, values = {}, stopAt } = {}) {
    const data = { ...form.fields, ...values };
    if (button?.name) data[button.name] = button.value ?? '';
    if (form.method === 'post') return this.navigate(form.action, { method: 'POST', form: data, stopAt });
    const u = new URL(form.action);
    for (const [k, v] of Object.entries(data)) u.searchParams.set(k, v);
    return this.navigate(u.href, { stopAt });
  }

  trail(n = 25) {
    return this.history.slice(-n).join('\n');
  }
}
