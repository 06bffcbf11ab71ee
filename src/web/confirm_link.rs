//! [TB-1g] `link_by_email = "confirm"`: an unknown identity whose (upstream-verified) email matches one existing
//! user is linked only after the person proves they own that user, by signing in, in the same browser, with a
//! provider already linked to it, and then confirms on a page of ours (so that someone else's offer left in a
//! shared browser is never linked silently).

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::accounts::linking::{self, Outcome};
use crate::accounts::session;
use crate::oauth::authorize::see_other;
use crate::respond::{PageError, html};
use crate::secret::{hash_token, random_token};
use crate::state::AppState;
use crate::store::pending_links::{self, PendingLink};
use crate::store::sessions::Session;
use crate::upstream::FederatedIdentity;
use bridgekeeper_core::freshness::SKEW_SECS;

/// Cookie binding a pending link to the browser that was offered it.
const CONFIRM_COOKIE: &str = "bk_confirm";
/// How long the person has to prove they own the account.
const CONFIRM_TTL_SECS: i64 = 600;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/link/confirm", web::get().to(page)).route("/link/confirm", web::post().to(decide));
}

/// The offer: remembers the identity, bound to this browser, and asks the person to sign in the way they did before.
pub async fn offer(
    state: &AppState,
    user_id: &str,
    fed: &FederatedIdentity,
    auth_request: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let (secret, now) = (random_token(), state.clock.now());
    let row = PendingLink {
        id_hash: hash_token(&secret),
        user_id: user_id.to_string(),
        provider: fed.provider.clone(),
        identity_json: serde_json::to_string(fed)
            .map_err(|_| PageError::bad_request("Sign-in failed", "Please start again.").keyed("page-start-again"))?,
        auth_request_id: auth_request.map(String::from),
        created_at: now,
        expires_at: now + CONFIRM_TTL_SECS,
    };
    state.db.run(move |c| pending_links::insert(c, &row)).await?;
    // [TB-1g] The generic chooser, not the account's providers: an anonymous person learns nothing about it.
    let chooser = match auth_request {
        Some(r) => format!("/login?req={r}"),
        None => "/login".to_string(),
    };
    let mut ctx = super::context(state);
    ctx.insert("email", &fed.email);
    ctx.insert("chooser", &chooser);
    let body = state.templates.render("link_offer.html", &ctx)?;
    let mut r = html(body, Some(session::cookie(state, CONFIRM_COOKIE, secret, CONFIRM_TTL_SECS)));
    r.head_mut().status = StatusCode::CONFLICT;
    Ok(r)
}

/// Does this browser hold an offer? Its sign-ins then ask the upstream for a fresh login (`prompt=login`).
pub fn offered(req: &HttpRequest) -> bool {
    req.cookie(CONFIRM_COOKIE).is_some()
}

/// The pending link of this browser, if the session `s` proves ownership of the offered account: its user, signed
/// in after the offer (by the upstream's own `auth_time` where it reports one) at a provider trusted to
/// re-authenticate on `prompt=login` (a silent single sign-on proves nothing).
async fn pending_for(state: &AppState, req: &HttpRequest, s: &Session) -> Result<Option<PendingLink>, PageError> {
    let Some(c) = req.cookie(CONFIRM_COOKIE) else { return Ok(None) };
    let (hash, now) = (hash_token(c.value()), state.clock.now());
    let row = state.db.run(move |conn| pending_links::find(conn, &hash, now)).await?;
    let honours = state.upstreams().get(&s.provider).is_some_and(|p| p.cfg.honours_prompt_login());
    let fresh = |p: &PendingLink| s.created_at >= p.created_at && s.auth_time + SKEW_SECS >= p.created_at;
    Ok(row.filter(|p| p.user_id == s.user_id && honours && fresh(p)))
}

/// After a sign-in: where to go when this browser has an offer for the user who just signed in. The sign-in's own
/// authorization request (not the offer's) is the one resumed afterwards.
pub async fn after_sign_in(
    state: &AppState,
    req: &HttpRequest,
    s: &Session,
    auth_request: Option<&str>,
) -> Result<Option<String>, PageError> {
    let suffix = auth_request.map(|r| format!("?req={r}")).unwrap_or_default();
    Ok(pending_for(state, req, s).await?.map(|_| format!("/link/confirm{suffix}")))
}

fn cleared(state: &AppState) -> Cookie<'static> {
    let mut gone = session::cookie(state, CONFIRM_COOKIE, String::new(), 0);
    gone.make_removal();
    gone
}

async fn signed_in_with_offer(state: &AppState, req: &HttpRequest) -> Result<(Session, PendingLink), PageError> {
    let expired = || {
        PageError::bad_request("Nothing to link", "This offer to link a sign-in method is unknown or has expired.")
            .keyed("page-offer-expired")
    };
    let s = session::current(state, req).await?.ok_or_else(expired)?;
    let p = pending_for(state, req, &s).await?.ok_or_else(expired)?;
    Ok((s, p))
}

#[derive(serde::Deserialize)]
struct ReqQuery {
    req: Option<String>,
}

async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ReqQuery>,
) -> Result<HttpResponse, PageError> {
    let (_, p) = signed_in_with_offer(&state, &req).await?;
    let fed: FederatedIdentity = serde_json::from_str(&p.identity_json).unwrap_or_default();
    let (csrf, cookie) = session::csrf_token(&state, &req);
    let name = state.upstreams().get(&p.provider).map(|x| x.cfg.display_name.clone()).unwrap_or(p.provider.clone());
    let mut ctx = super::context(&state);
    ctx.insert("provider", &name);
    ctx.insert("email", &fed.email);
    ctx.insert("csrf", &csrf);
    ctx.insert("req", &q.req);
    Ok(html(state.templates.render("link_confirm.html", &ctx)?, cookie))
}

#[derive(serde::Deserialize)]
struct Decision {
    csrf: Option<String>,
    decision: String,
    /// The authorization request of the sign-in that proved ownership, resumed afterwards.
    req: Option<String>,
}

async fn decide(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Decision>,
) -> Result<HttpResponse, PageError> {
    if !session::csrf_ok(&req, form.csrf.as_deref()) {
        return Err(PageError::bad_request("Form expired", "Please go back and try again.").keyed("page-form-expired"));
    }
    let (s, p) = signed_in_with_offer(&state, &req).await?;
    let (hash, now) = (p.id_hash.clone(), state.clock.now());
    if !state.db.run(move |c| pending_links::take(c, &hash)).await? {
        return Err(
            PageError::bad_request("Nothing to link", "This offer was already answered.").keyed("page-offer-answered")
        );
    }
    if form.decision == "link" {
        let fed: FederatedIdentity = serde_json::from_str(&p.identity_json).map_err(|_| {
            PageError::bad_request("Nothing to link", "This offer cannot be read. Please start again.")
                .keyed("page-offer-unreadable")
        })?;
        let uid = s.user_id.clone();
        match state.db.run(move |c| linking::link_confirmed(c, &fed, &uid, now)).await? {
            Outcome::Linked(_) => {}
            _ => {
                return Err(PageError::new(
                    StatusCode::CONFLICT,
                    "Account already linked",
                    "This sign-in is already linked to another account here.",
                )
                .keyed("page-linked-elsewhere"));
            }
        }
    }
    let mut r = match &form.req {
        Some(req_id) => see_other(&format!("/authorize/resume?req={req_id}")),
        None => see_other("/account"),
    };
    let _ = r.add_cookie(&cleared(&state));
    Ok(r)
}
