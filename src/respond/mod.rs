//! The responders: one per surface a request can leave by. HTML pages ([`PageError`], [`html`], the templates),
//! redirects ([`found`], [`see_other`]), OAuth JSON (`oauth::OAuthJson`, with `no-store` set in one
//! place). Handlers return their values; nothing else builds these responses by hand.

mod form_post;
mod page;
mod redirect;
mod templates;

pub use form_post::form_post;
pub use page::PageError;
pub use redirect::{found, see_other};
pub use templates::Templates;

use actix_web::HttpResponse;
use actix_web::cookie::Cookie;

/// The Content-Security-Policy of every page (`server::build_app` sends it unless a page set its own, as the
/// signed-out page does to add its `frame-src`).
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; \
     frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// A page, never cached, with an optional cookie to set.
pub fn html(body: String, cookie: Option<Cookie<'static>>) -> HttpResponse {
    let mut r = HttpResponse::Ok();
    if let Some(c) = cookie {
        r.cookie(c);
    }
    r.content_type("text/html; charset=utf-8").body(body)
}

/// The context every page starts from.
pub fn page_context(settings: &crate::settings::Settings) -> tera::Context {
    let mut ctx = tera::Context::new();
    ctx.insert("dev_mode", &settings.dev_mode);
    ctx
}

/// Minimal HTML escaping for the fallback error body (templates escape on their own).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
