//! Signing in through an upstream: the provider chooser, the redirect out (state, nonce, PKCE stored
//! server-side, bound to this browser), the callback (verified before believed), linking, the session.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::accounts::linking::{self, Outcome};
use crate::accounts::session;
use crate::accounts::users::FederatedIdentity;
use crate::respond::html;
use bridgekeeper_core::freshness::Freshness;

use crate::oauth::authorize::{self, found, see_other};
use crate::respond::PageError;
use crate::secret::{hash_token, random_token};
use crate::state::AppState;
use crate::store::upstream_logins::{self, UpstreamLogin};
use crate::upstream::{CallbackConnector, LoginRequest, Provider, Registry, UpstreamErrorKind};
use std::sync::Arc;

/// Cookie binding a pending upstream login to the browser that started it.
const LOGIN_COOKIE: &str = "bk_login";
/// How long the person has to finish at the upstream (as long as a changed provider's old generation is kept).
const UPSTREAM_TTL_SECS: i64 = crate::upstream::PENDING_LOGIN_SECS;

mod apple;
mod callback;
mod form;
mod password;
mod reloaded;
mod saml;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(chooser))
        .route("/login/{provider}", web::get().to(start))
        .route("/login/{provider}", web::post().to(form::limited_submit))
        .route("/callback/{provider}", web::get().to(callback::limited_callback))
        .route("/callback/{provider}", web::post().to(apple::limited_post))
        .route("/saml/{provider}/metadata", web::get().to(saml::sp_metadata));
}

#[derive(serde::Deserialize)]
struct LoginQuery {
    req: Option<String>,
}

fn query_suffix(req: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(r) = req {
        q.append_pair("req", r);
    }
    let s = q.finish();
    if s.is_empty() { s } else { format!("?{s}") }
}

/// One button per enabled provider; straight to the upstream with `idp_hint` or when only one exists.
async fn chooser(
    state: web::Data<AppState>,
    http: HttpRequest,
    q: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let upstreams = state.upstreams();
    let providers: Vec<&Arc<Provider>> = upstreams.list().collect();
    let mut hint = None;
    let mut client_name = None;
    if let Some(req) = &q.req {
        let pending = authorize::load(&state, &http, req).await?;
        hint = pending.request.idp_hint;
        client_name = Some(pending.client.name);
    }
    let suffix = query_suffix(q.req.as_deref());
    if let Some(h) = hint.filter(|h| upstreams.get(h).is_some()) {
        return Ok(found(&format!("/login/{h}{suffix}")));
    }
    if providers.len() == 1 {
        return Ok(found(&format!("/login/{}{suffix}", providers[0].cfg.id)));
    }
    let list: Vec<serde_json::Value> = providers
        .iter()
        .map(|p| serde_json::json!({"id": p.cfg.id, "name": p.cfg.display_name, "icon": p.cfg.icon, "href": format!("/login/{}{suffix}", p.cfg.id), "down": p.is_down()}))
        .collect();
    let mut ctx = super::context(&state);
    ctx.insert("providers", &list);
    ctx.insert("client_name", &client_name);
    Ok(html(state.templates.render("login.html", &ctx)?, None))
}

/// The provider `id` in `upstreams`, the registry snapshot the request took ([HR-4]: the set of the latest reload).
pub(super) fn provider(upstreams: &Registry, id: &str) -> Result<Arc<Provider>, PageError> {
    upstreams.get(id).cloned().ok_or_else(|| {
        PageError::new(StatusCode::NOT_FOUND, "Unknown sign-in method", "There is no such sign-in method here.")
            .keyed("page-unknown-method")
    })
}

/// [TB-1d] The user who may link another sign-in method now: signed in, at most `linking.max_auth_age_secs` ago.
pub async fn link_target(state: &AppState, req: &HttpRequest) -> Result<String, PageError> {
    let Some(s) = session::current(state, req).await? else {
        return Err(PageError::new(
            StatusCode::UNAUTHORIZED,
            "Sign in first",
            "Sign in before linking another account.",
        )
        .keyed("page-sign-in-first"));
    };
    if s.auth_time + state.settings().linking.max_auth_age_secs < state.clock.now() {
        return Err(PageError::new(
            StatusCode::UNAUTHORIZED,
            "Sign in again",
            "For your safety, sign in again (from the sign-in page) before linking another account, then come back to your account page.",
        )
        .keyed("page-sign-in-again"));
    }
    Ok(s.user_id)
}

/// Sends the browser to the upstream (or shows the dev form). Never links: that starts from the account page.
async fn start(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    begin(&state, &req, &path, q.req.as_deref(), None).await
}

/// Starts a sign-in at `provider_id` for a pending authorization request, or to link the identity to `link_to`.
pub async fn begin(
    state: &AppState,
    req: &HttpRequest,
    provider_id: &str,
    auth_request: Option<&str>,
    link_to: Option<String>,
) -> Result<HttpResponse, PageError> {
    let upstreams = state.upstreams();
    let p = provider(&upstreams, provider_id)?;
    let link = link_to.is_some();
    let mut downstream_scopes = Vec::new();
    let mut freshness = Freshness::default();
    if let Some(r) = auth_request {
        let pending = authorize::load(state, req, r).await?;
        freshness = pending.request.freshness();
        downstream_scopes = pending.request.scopes;
    }
    if super::confirm_link::offered(req) {
        // [TB-1g] Proving ownership of an account needs a real sign-in, not a silent single sign-on.
        freshness.prompt_login = true;
    }
    if p.is_dev() {
        let (csrf, cookie) = session::csrf_token(state, req);
        let mut ctx = super::context(state);
        ctx.insert("action", &format!("/login/{}", p.cfg.id));
        ctx.insert("req", &auth_request);
        ctx.insert("link", &link);
        ctx.insert("csrf", &csrf);
        return Ok(html(state.templates.render("dev_login.html", &ctx)?, cookie));
    }
    if p.password().is_some() {
        // [LD-2] A username and password form on our page, posted back to `/login/{provider}`.
        let (csrf, cookie) = session::csrf_token(state, req);
        let mut ctx = super::context(state);
        ctx.insert("action", &format!("/login/{}", p.cfg.id));
        ctx.insert("provider_name", &p.cfg.display_name);
        ctx.insert("req", &auth_request);
        ctx.insert("link", &link);
        ctx.insert("csrf", &csrf);
        return Ok(html(state.templates.render("password_login.html", &ctx)?, cookie));
    }
    let (st, nonce, verifier, browser) = (random_token(), random_token(), random_token(), random_token());
    let scopes = crate::upstream::mapping::upstream_scopes(&p.cfg, &downstream_scopes);
    let base = state.settings().issuer_base().to_string();
    let redirect = format!("{base}/callback/{}", p.cfg.id);
    let login = LoginRequest {
        issuer: &base,
        redirect: &redirect,
        scopes: &scopes,
        state: &st,
        nonce: &nonce,
        verifier: &verifier,
        freshness,
    };
    let http = upstreams.http.clone();
    let url = no_callback(state, &p)?.begin(&http, &login).await.map_err(|e| upstream_page(state, e))?;
    let now = state.clock.now();
    let row = UpstreamLogin {
        state_hash: hash_token(&st),
        provider: p.cfg.id.clone(),
        browser_hash: hash_token(&browser),
        nonce,
        pkce_verifier: verifier,
        auth_request_id: auth_request.map(String::from),
        link_user_id: link_to,
        created_at: now,
        expires_at: now + UPSTREAM_TTL_SECS,
        used_at: None,
        provider_generation: Some(p.generation.clone()),
    };
    state.db.run(move |c| upstream_logins::insert(c, &row)).await?;
    let mut r = found(&url);
    let _ = r.add_cookie(&session::cookie(state, LOGIN_COOKIE, browser, UPSTREAM_TTL_SECS));
    Ok(r)
}

/// [MT-2] Counts one sign-in outcome at a configured provider (a provider id, never a path the caller made up).
pub(super) fn count_login(state: &AppState, provider: &str, outcome: &str) {
    state.metrics.login(provider, outcome, None);
}

/// The redirect-and-callback capability; a kind that signs in another way has no `/callback` and no redirect.
pub(super) fn no_callback<'a>(state: &AppState, p: &'a Provider) -> Result<&'a dyn CallbackConnector, PageError> {
    p.callback().ok_or_else(|| {
        upstream_page(
            state,
            crate::upstream::UpstreamError::new(
                &p.cfg.id,
                UpstreamErrorKind::Rejected,
                "this provider does not sign in by redirect",
            ),
        )
    })
}

pub(super) fn upstream_page(state: &AppState, e: crate::upstream::UpstreamError) -> PageError {
    tracing::warn!(provider = %e.provider, kind = ?e.kind, detail = %e.detail, "upstream sign-in failed");
    // [MT-4] A rejected answer is counted with the check it failed (a fixed word, never the detail's text).
    match e.kind {
        UpstreamErrorKind::Unavailable | UpstreamErrorKind::Busy => count_login(state, &e.provider, "unavailable"),
        UpstreamErrorKind::Rejected => state.metrics.login(&e.provider, "rejected", Some(e.reason.label())),
        UpstreamErrorKind::Denied => count_login(state, &e.provider, "cancelled"),
    }
    match e.kind {
        UpstreamErrorKind::Unavailable | UpstreamErrorKind::Busy => PageError::new(
            StatusCode::BAD_GATEWAY,
            "Sign-in provider unavailable",
            "The sign-in provider did not answer properly. Please try again later or choose another one.",
        )
        .keyed("page-upstream-down"),
        UpstreamErrorKind::Rejected => PageError::bad_request(
            "Sign-in failed",
            "The answer from the sign-in provider could not be verified. Nothing was changed. Please start again.",
        )
        .keyed("page-upstream-rejected"),
        UpstreamErrorKind::Denied => {
            PageError::new(StatusCode::FORBIDDEN, "Sign-in cancelled", "The sign-in was cancelled at the provider.")
                .keyed("page-upstream-cancelled")
        }
    }
}

/// Login answers are charged to the address when they fail (forged, replayed, rejected), and refused while the
/// address is over its failure budget.
pub(super) async fn limited<F>(state: &AppState, req: &HttpRequest, handler: F) -> Result<HttpResponse, PageError>
where
    F: std::future::Future<Output = Result<HttpResponse, PageError>>,
{
    let ip = crate::ratelimit::client_ip(req);
    if let Err(wait) = state.limits().admit(ip, None) {
        state.metrics.rate_limited.with_label_values(&["failures"]).inc();
        let mut e =
            PageError::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", "Please wait a moment and try again.")
                .keyed("page-too-many");
        e.retry_after = Some(wait);
        return Err(e);
    }
    let result = handler.await;
    if result.as_ref().is_err_and(|e| e.status.is_client_error()) {
        state.failed(ip, None).await;
    }
    result
}

/// Links the verified identity, starts the session, and goes back to the authorization request (or the
/// account page). `p` is the provider in force ([HR-5a]: what is trusted of the answer), `asked_with` the settings
/// the login was begun with (the upstream scopes it asked).
pub(super) async fn complete(
    state: &AppState,
    req: &HttpRequest,
    p: &Provider,
    asked_with: &crate::upstream::config::ProviderConfig,
    mut fed: FederatedIdentity,
    auth_request: Option<&str>,
    link_to: Option<&str>,
) -> Result<HttpResponse, PageError> {
    // [TB-1a] [TB-1c] What the admin's config says about this provider's answers.
    fed.email_trusted = bridgekeeper_core::linking::email_trusted(fed.email_verified, p.cfg.trust_email);
    fed.keyed_by_issuer = matches!(
        p.cfg.kind,
        crate::upstream::config::ProviderKind::Oidc | crate::upstream::config::ProviderKind::Apple
    );
    let (policy, now, auth_time) = (p.cfg.link_by_email, state.clock.now(), fed.auth_time);
    let keep_id_token = p.cfg.logout_upstream != crate::upstream::config::LogoutUpstream::Never;
    let upstream = session::UpstreamSignIn {
        sub: fed.upstream_sub.clone().unwrap_or_else(|| fed.subject.clone()),
        sid: fed.upstream_sid.clone(),
        id_token: fed.upstream_id_token.clone().filter(|_| keep_id_token),
    };
    let upstream_token = fed.upstream_refresh_token.clone();
    let vault_tokens = fed.upstream_tokens.clone().filter(|_| p.cfg.store_tokens);
    let (link_owned, offered) = (link_to.map(String::from), fed.clone());
    let outcome = state.db.run(move |c| linking::link(c, &fed, policy, link_owned.as_deref(), now)).await?;
    count_login(
        state,
        &p.cfg.id,
        match &outcome {
            Outcome::Existing(_) => "success",
            Outcome::Linked(_) => "success_linked",
            Outcome::Created(_) => "success_created",
            Outcome::Confirm(_) => "confirm_offered",
            Outcome::EmailTaken => "email_taken",
            Outcome::LinkedElsewhere => "linked_elsewhere",
            Outcome::Disabled => "disabled",
        },
    );
    let user = match outcome {
        Outcome::Confirm(holder) => return super::confirm_link::offer(state, &holder, &offered, auth_request).await,
        other => user_or_page(other)?,
    };
    if p.cfg.refresh_upstream
        && !p.cfg.store_tokens
        && let Some(token) = upstream_token
    {
        let (sealer, fed, uid) = (state.sealer.clone(), offered.clone(), user.id.clone());
        state
            .db
            .run(move |c| match crate::accounts::vault::signed_in_identity(c, &fed, &uid)? {
                Some(iid) => crate::accounts::upstream_tokens::store(c, &sealer, &iid, token.expose()),
                None => Ok(()),
            })
            .await?;
    }
    if let Some(mut t) = vault_tokens {
        // [TX-9] An answer naming no scope granted the scopes asked (RFC 6749 §5.1): those of this sign-in.
        if t.scope.is_none()
            && let Some(r) = auth_request
        {
            let asked = authorize::load(state, req, r).await?.request.scopes;
            t.scope = Some(crate::upstream::mapping::upstream_scopes(asked_with, &asked).join(" "));
        }
        crate::accounts::vault::keep_at_sign_in(state, p.cfg.clone(), &offered, &user.id, t, now).await?;
    }
    if link_to.is_some() {
        return Ok(see_other("/account"));
    }
    let (cookie, started) = session::start(state, &user.id, &p.cfg.id, auth_time, upstream).await?;
    if let Some(req) = auth_request {
        // [TB-5b] This sign-in was for that request: only it satisfies the request's prompt=login / max_age=0.
        let (id, hash) = (req.to_string(), started.id_hash.clone());
        state.db.run(move |c| crate::store::auth_requests::set_login_session(c, &id, &hash)).await?;
    }
    // [TB-1g] This browser was offered to link an identity to the user who just proved they own the account.
    let next = match (super::confirm_link::after_sign_in(state, req, &started, auth_request).await?, auth_request) {
        (Some(confirm), _) => confirm,
        (None, Some(r)) => format!("/authorize/resume?req={r}"),
        // [DV-3] A sign-in that began at the device page goes back there.
        (None, None) => super::device::after_sign_in(state, req).unwrap_or_else(|| "/account".to_string()),
    };
    let mut r = see_other(&next);
    let _ = r.add_cookie(&cookie);
    super::device::forget_return(state, req, &mut r);
    Ok(r)
}

/// The signed-in user, or the page that says why there is none.
fn user_or_page(outcome: Outcome) -> Result<crate::store::users::User, PageError> {
    match outcome {
        Outcome::Existing(u) | Outcome::Linked(u) | Outcome::Created(u) => Ok(u),
        Outcome::EmailTaken | Outcome::Confirm(_) => Err(PageError::new(
            StatusCode::CONFLICT,
            "You already have an account",
            "An account with this email address already exists. Sign in with the provider you used before, then link this one from your account page.",
        )
        .keyed("page-email-taken")),
        Outcome::LinkedElsewhere => Err(PageError::new(
            StatusCode::CONFLICT,
            "Account already linked",
            "This sign-in is already linked to another account here.",
        )
        .keyed("page-linked-elsewhere")),
        Outcome::Disabled => {
            Err(PageError::new(StatusCode::FORBIDDEN, "Account disabled", "This account is disabled.").keyed("page-disabled"))
        }
    }
}
