//! [AP-2] [AP-3] `POST /callback/{provider}` for `kind = "apple"`: Apple answers with `response_mode=form_post`, a
//! cross-site POST from appleid.apple.com, which carries no SameSite=Lax cookie, so the `bk_login` binding of the
//! pending login cannot be checked on it. Such a POST is answered with the self-submitting form page of
//! `respond::form_post` that posts the same fields (code, state, error, iss, `user`) back to this URL from the
//! broker's own page: that POST is same-site, so the browser sends `bk_login`, and the callback runs with exactly
//! the checks of `GET /callback` (state taken once, browser binding, nonce, PKCE, the ID token). The fields travel
//! in the page body and the POST body only (never in a URL, so never in a log, history or `Referer`). A POST that
//! was already bounced (`bk_resubmitted`) is never bounced again: without the cookie it fails as from another
//! browser.
//!
//! [SA-9] `kind = "saml"` answers the same way: the IdP's HTTP-POST binding is the same cross-site form, carrying
//! `SAMLResponse` and `RelayState` (the pending login's state), bounced by the same page into the same callback.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::callback::answer;
use super::{LOGIN_COOKIE, limited, provider};
use crate::oauth::params::Params;
use crate::respond::PageError;
use crate::state::AppState;
use crate::upstream::config::ProviderKind;

/// Marks the POST the broker's own page made.
const RESUBMITTED: &str = "bk_resubmitted";
/// The fields of Apple's answer the page carries on; anything else is dropped. `iss` (RFC 9207) too: when the
/// upstream advertises it, the callback requires it and checks it against the issuer.
const FIELDS: [&str; 5] = ["code", "state", "error", "iss", "user"];
/// [SA-9] The fields of a SAML HTTP-POST answer carried on.
const SAML_FIELDS: [&str; 2] = ["SAMLResponse", "RelayState"];
/// Apple's `user` JSON is a name and an email: anything longer is not carried on.
const MAX_USER_JSON: usize = 4096;
/// The body of Apple's answer, as every other form here.
const MAX_BODY: usize = 64 * 1024;
/// [SA-9] The body of a SAML answer: a `SAMLResponse` at its limit form-encoded (`+`, `/` and `=` of base64 take
/// three characters each, and they are a small share of it), and the RelayState.
const MAX_SAML_BODY: usize = bridgekeeper_core::saml::MAX_RESPONSE_BASE64 * 2;

pub(super) async fn limited_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, PageError> {
    limited(&state, &req, post(state.clone(), req.clone(), path.into_inner(), body)).await
}

/// The body up to the provider kind's limit; over it, the readable 413 page (never a bare one).
async fn read_body(body: web::Payload, limit: usize) -> Result<web::Bytes, PageError> {
    match body.to_bytes_limited(limit).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(_)) => Err(PageError::new(StatusCode::BAD_REQUEST, "Sign-in failed", "The answer could not be read.")),
        Err(_) => Err(PageError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Sign-in failed",
            "The answer from the sign-in service was too large.",
        )),
    }
}

async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: String,
    body: web::Payload,
) -> Result<HttpResponse, PageError> {
    let upstreams = state.upstreams();
    let p = match provider(&upstreams, &id) {
        Ok(p) => p,
        Err(unknown) => {
            // [HR-6] A provider a reload removed: its pending login is spent if the answer names it.
            let body = read_body(body, MAX_BODY).await?;
            let params = Params::parse(std::str::from_utf8(&body).unwrap_or_default());
            return Err(super::reloaded::removed(&state, &id, &params, unknown).await);
        }
    };
    let carried: &[&str] = match p.cfg.kind {
        ProviderKind::Apple => &FIELDS,
        ProviderKind::Saml => &SAML_FIELDS,
        _ => &[],
    };
    if carried.is_empty() {
        return Err(PageError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Unknown sign-in method",
            "There is no such sign-in method here.",
        )
        .keyed("page-unknown-method"));
    }
    let body = read_body(body, if p.cfg.kind == ProviderKind::Saml { MAX_SAML_BODY } else { MAX_BODY }).await?;
    let params = Params::parse(std::str::from_utf8(&body).unwrap_or_default());
    let user =
        params.get("user").filter(|u| u.len() <= MAX_USER_JSON && p.cfg.kind == ProviderKind::Apple).map(String::from);
    if req.cookie(LOGIN_COOKIE).is_none() && !params.has(RESUBMITTED) && params.first_duplicate().is_none() {
        let action = format!("{}/callback/{}", state.settings().issuer_base(), p.cfg.id);
        let mut fields: Vec<(&str, &str)> =
            carried.iter().filter(|k| **k != "user").filter_map(|k| params.get(k).map(|v| (*k, v))).collect();
        if let Some(u) = &user {
            fields.push(("user", u));
        }
        fields.push((RESUBMITTED, "1"));
        let mut r = crate::respond::form_post(&state.templates, &state.settings(), &action, &fields)?;
        r.headers_mut().insert(
            actix_web::http::header::CACHE_CONTROL,
            actix_web::http::header::HeaderValue::from_static("no-store"),
        );
        return Ok(r);
    }
    answer(state.clone(), req, upstreams, p, params, user.as_deref()).await
}
