// A person in front of the browser: reads each page and does what a person would (pick a sign-in method, type
// a login and password at the upstream, confirm consent there, allow the app at the broker). Pages are
// recognised by what a person sees (forms, fields, buttons, links), never by broker internals.

import { forms, links } from './browser.mjs';

function visibleText(html, max = 600) {
  return html.replace(/<script[\s\S]*?<\/script>|<style[\s\S]*?<\/style>/gi, '')
    .replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, max);
}

export class StuckError extends Error {}

/**
 * Drives from `url` until the browser is sent to `stopAt` (the app's redirect URI); returns that URL and the
 * pages seen on the way (e.g. ['broker-chooser', 'upstream-login', 'upstream-consent', 'broker-consent']); for a
 * `response_mode=form_post` answer also `formPost`, the fields the page would POST to the app.
 * `untilPage(page)` may end the walk on a page (e.g. the broker's account page after linking). `from` starts the
 * walk on a page already reached (e.g. the answer to a form the person submitted) instead of at `url`.
 *
 * @param {import('./browser.mjs').Browser} browser
 * @param {{brokerIssuer: string, stopAt?: string, untilPage?: Function, provider: string, login: string,
 *   consent?: 'allow'|'deny'}} who
 */
export async function walk(browser, url, { brokerIssuer, stopAt, untilPage, provider, login, consent = 'allow', from }) {
  const seen = [];
  const broker = new URL(brokerIssuer).origin;
  let page = from ?? await browser.navigate(url, { stopAt });
  for (let step = 0; step < 12; step += 1) {
    if (page.stopped) return { url: page.url, seen };
    if (untilPage?.(page)) return { url: page.url, page, seen };
    const here = new URL(page.url);
    const fail = (why) => new StuckError(
      `${why} at ${page.url} (status ${page.status}): ${visibleText(page.body ?? '')}\n--- trail ---\n${browser.trail()}`,
    );
    if (page.status !== 200) throw fail('unexpected answer');
    const fs = forms(page.body, page.url);

    // A form_post answer: a form that posts to the app. Without JavaScript the person presses its button; the app
    // (not the browser) receives the POST, so the walk ends with what would be posted.
    const toApp = stopAt && fs.find((f) => f.method === 'post' && f.action.startsWith(stopAt));
    if (toApp && here.origin === broker) {
      seen.push('broker-form-post');
      return { url: toApp.action, formPost: toApp.fields, page, seen };
    }

    if (here.origin === broker && here.pathname === '/login') {
      // The broker's login chooser: one button (link) per sign-in method.
      const choice = links(page.body, page.url)
        .find((l) => new URL(l.href).origin === broker && new URL(l.href).pathname === `/login/${provider}`);
      if (!choice) throw fail(`no sign-in choice for ${provider}`);
      seen.push('broker-chooser');
      page = await browser.navigate(choice.href, { stopAt });
      continue;
    }
    const upLogin = fs.find((f) => f.fields.prompt === 'login' && 'login' in f.fields);
    if (upLogin && here.origin !== broker) {
      seen.push('upstream-login');
      page = await browser.submit(upLogin, { values: { login, password: 'any password' }, stopAt });
      continue;
    }
    const upConsent = fs.find((f) => f.fields.prompt === 'consent');
    if (upConsent && here.origin !== broker) {
      seen.push('upstream-consent');
      page = await browser.submit(upConsent, { stopAt });
      continue;
    }
    const bkConsent = fs.find((f) => new URL(f.action).origin === broker
      && f.buttons.some((b) => b.name === 'decision' && b.value === consent));
    if (bkConsent && here.origin === broker) {
      seen.push('broker-consent');
      const button = bkConsent.buttons.find((b) => b.name === 'decision' && b.value === consent);
      page = await browser.submit(bkConsent, { button, stopAt });
      continue;
    }
    throw fail('do not know what to do on this page');
  }
  throw new StuckError(`sign-in did not finish:\n${browser.trail()}`);
}

/** The broker's account page: who is signed in, the linked sign-in methods, the "link another" links. */
export async function accountPage(browser, brokerIssuer) {
  const page = await browser.navigate(`${brokerIssuer}/account`);
  if (page.status !== 200) throw new Error(`account page: status ${page.status}\n${browser.trail()}`);
  return {
    page,
    text: visibleText(page.body, Infinity),
    links: links(page.body, page.url),
    forms: forms(page.body, page.url),
  };
}
