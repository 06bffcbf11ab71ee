//! The upstream's answer at `/callback/{provider}` (and Apple's form post, through [`answer`]): state, browser
//! binding, the provider's verification, the [TB-5] freshness, then the sign-in is completed.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use bridgekeeper_core::freshness::{UpstreamFreshness, upstream_verdict};

use super::{LOGIN_COOKIE, complete, count_login, limited, no_callback, provider, reloaded, saml, upstream_page};
use crate::accounts::session;
use crate::oauth::authorize;
use crate::oauth::params::Params;
use crate::respond::PageError;
use crate::secret::{ct_eq, hash_token};
use crate::state::AppState;
use crate::store::upstream_logins::{self, UpstreamLogin};
use crate::upstream::rejection::Rejection;
use crate::upstream::{Callback, Provider, Registry, UpstreamErrorKind};

pub(super) async fn limited_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    limited(&state, &req, callback(state.clone(), req.clone(), path)).await
}

/// The upstream's answer. Nothing is believed before state, browser binding, iss, and the token are verified.
async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let params = Params::parse(req.query_string());
    // [HR-5] One registry snapshot for the whole request: the provider in force and the generations kept with it.
    let upstreams = state.upstreams();
    let p = match provider(&upstreams, &path) {
        Ok(p) => p,
        Err(unknown) => return Err(reloaded::removed(&state, &path, &params, unknown).await),
    };
    saml::no_get(&p)?;
    answer(state.clone(), req.clone(), upstreams, p, params, None).await
}

/// The upstream's answer (the callback's query, or the form Apple posted): verified before believed. `form_user`
/// is Apple's first-sign-in `user` JSON ([AP-1]); `p` is the provider in force in `upstreams`.
pub(super) async fn answer(
    state: web::Data<AppState>,
    req: HttpRequest,
    upstreams: Arc<Registry>,
    p: Arc<Provider>,
    params: Params,
    form_user: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let forged = || {
        // [MT-4] Unknown, used, expired or cross-browser state, or a malformed answer.
        state.metrics.login(&p.cfg.id, "rejected", Some(Rejection::State.label()));
        PageError::bad_request(
            "Sign-in failed",
            "This sign-in answer is unknown, expired, already used or from another browser. Nothing was changed. Please start again.",
        )
        .keyed("page-forged")
    };
    if params.first_duplicate().is_some() {
        return Err(forged());
    }
    let fields = saml::AnswerFields::of(&p);
    let st = params.get(fields.state).ok_or_else(forged)?;
    let (hash, id, now) = (hash_token(st), p.cfg.id.clone(), state.clock.now());
    let pending = state.db.run(move |c| upstream_logins::take(c, &hash, &id, now)).await?.ok_or_else(forged)?;
    let browser = req.cookie(LOGIN_COOKIE).map(|c| hash_token(c.value())).unwrap_or_default();
    if !ct_eq(browser.as_bytes(), pending.browser_hash.as_bytes()) {
        return Err(forged());
    }
    // [HR-5] The generation the login began with, used only when it differs from the one in force in nothing but
    // the [HR-5b] allow-list. [HR-5a] What the broker trusts of the answer (email trust, linking, token storage) is
    // the current generation's.
    let current = Arc::clone(&p);
    let p = reloaded::begun_with(&state, &upstreams, &p, &pending)?;
    if params.has("error") {
        return Err(upstream_page(
            &state,
            crate::upstream::UpstreamError::new(&p.cfg.id, UpstreamErrorKind::Denied, "upstream returned an error"),
        ));
    }
    let code = params.get(fields.code).ok_or_else(forged)?;
    let base = state.settings().issuer_base().to_string();
    let redirect = format!("{base}/callback/{}", p.cfg.id);
    let cb = Callback {
        issuer: &base,
        redirect: &redirect,
        code,
        iss: params.get("iss"),
        nonce: &pending.nonce,
        verifier: &pending.pkce_verifier,
        now,
        form_user,
    };
    let http = upstreams.http.clone();
    let fed = no_callback(&state, &p)?.finish(&http, &cb).await.map_err(|e| upstream_page(&state, e))?;
    saml::spend_assertion(&state, &p, &fed).await?;
    if let Some(early) = freshness(&state, &req, &p, &pending, fed.auth_time, now).await? {
        return Ok(early);
    }
    let (auth_request, link_to) = (pending.auth_request_id.as_deref(), pending.link_user_id.as_deref());
    let mut r = complete(&state, &req, &current, &p.cfg, fed, auth_request, link_to).await?;
    let mut gone = session::cookie(&state, LOGIN_COOKIE, String::new(), 0);
    gone.make_removal();
    let _ = r.add_cookie(&gone);
    Ok(r)
}

/// [TB-5] A fresh login asked downstream: the upstream's auth_time must show it happened, or the admin must trust
/// the provider to honour prompt=login; otherwise the app hears login_required (`Some`: that answer).
async fn freshness(
    state: &AppState,
    req: &HttpRequest,
    p: &Provider,
    pending: &UpstreamLogin,
    auth_time: Option<i64>,
    now: i64,
) -> Result<Option<HttpResponse>, PageError> {
    let Some(r) = &pending.auth_request_id else { return Ok(None) };
    let pending_req = authorize::load(state, req, r).await?;
    let honours = p.cfg.honours_prompt_login();
    match upstream_verdict(pending_req.request.freshness(), auth_time, honours, pending.created_at, now) {
        UpstreamFreshness::Fresh => Ok(None),
        UpstreamFreshness::Stale => Err(upstream_page(
            state,
            crate::upstream::UpstreamError::new(
                &p.cfg.id,
                UpstreamErrorKind::Rejected,
                "the upstream did not re-authenticate as asked (auth_time too old)",
            )
            .because(Rejection::Stale),
        )),
        UpstreamFreshness::Unverifiable => {
            count_login(state, &p.cfg.id, "login_required");
            let e = crate::oauth::OAuthError::new(
                crate::oauth::ErrorCode::LoginRequired,
                "the chosen sign-in provider cannot confirm a fresh login",
            );
            let id = pending_req.id.clone();
            state.db.run(move |c| crate::store::auth_requests::delete(c, &id)).await?;
            crate::oauth::par::spend(state, &pending_req.request).await?;
            Ok(Some(authorize::error_to(state, &pending_req.request, &e, false)))
        }
    }
}
