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
use crate::store::{identities, sessions::Session};
use crate::upstream::FederatedIdentity;

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
            .map_err(|_| PageError::bad_request("Sign-in failed", "Please start again."))?,
        auth_request_id: auth_request.map(String::from),
        created_at: now,
        expires_at: now + CONFIRM_TTL_SECS,
    };
    let uid = user_id.to_string();
    let linked = state
        .db
        .run(move |c| {
            pending_links::insert(c, &row)?;
            identities::list_for_user(c, &uid)
        })
        .await?;
    let suffix = auth_request.map(|r| format!("?req={r}")).unwrap_or_default();
    let mut seen = Vec::new();
    let choices: Vec<serde_json::Value> = linked
        .iter()
        .filter_map(|i| state.upstreams.get(&i.provider))
        .filter(|p| {
            !seen.contains(&p.cfg.id) && {
                seen.push(p.cfg.id.clone());
                true
            }
        })
        .map(|p| serde_json::json!({"name": p.cfg.display_name, "href": format!("/login/{}{suffix}", p.cfg.id)}))
        .collect();
    let mut ctx = super::context(state);
    ctx.insert("email", &fed.email);
    ctx.insert("choices", &choices);
    let body = state.templates.render("link_offer.html", &ctx)?;
    let mut r = html(body, Some(session::cookie(state, CONFIRM_COOKIE, secret, CONFIRM_TTL_SECS)));
    r.head_mut().status = StatusCode::CONFLICT;
    Ok(r)
}

/// The pending link of this browser, if it was offered for `user_id` before `signed_in` began.
async fn pending_for(state: &AppState, req: &HttpRequest, s: &Session) -> Result<Option<PendingLink>, PageError> {
    let Some(c) = req.cookie(CONFIRM_COOKIE) else { return Ok(None) };
    let (hash, now) = (hash_token(c.value()), state.clock.now());
    let row = state.db.run(move |conn| pending_links::find(conn, &hash, now)).await?;
    // Only a sign-in made after the offer proves ownership, and only of the offered account.
    Ok(row.filter(|p| p.user_id == s.user_id && s.created_at >= p.created_at))
}

/// After a sign-in: where to go when this browser has an offer for the user who just signed in.
pub async fn after_sign_in(state: &AppState, req: &HttpRequest, s: &Session) -> Result<Option<String>, PageError> {
    Ok(pending_for(state, req, s).await?.map(|_| "/link/confirm".to_string()))
}

fn cleared(state: &AppState) -> Cookie<'static> {
    let mut gone = session::cookie(state, CONFIRM_COOKIE, String::new(), 0);
    gone.make_removal();
    gone
}

async fn signed_in_with_offer(state: &AppState, req: &HttpRequest) -> Result<(Session, PendingLink), PageError> {
    let expired =
        || PageError::bad_request("Nothing to link", "This offer to link a sign-in method is unknown or has expired.");
    let s = session::current(state, req).await?.ok_or_else(expired)?;
    let p = pending_for(state, req, &s).await?.ok_or_else(expired)?;
    Ok((s, p))
}

async fn page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let (_, p) = signed_in_with_offer(&state, &req).await?;
    let fed: FederatedIdentity = serde_json::from_str(&p.identity_json).unwrap_or_default();
    let (csrf, cookie) = session::csrf_token(&state, &req);
    let name = state.upstreams.get(&p.provider).map(|x| x.cfg.display_name.clone()).unwrap_or(p.provider.clone());
    let mut ctx = super::context(&state);
    ctx.insert("provider", &name);
    ctx.insert("email", &fed.email);
    ctx.insert("csrf", &csrf);
    Ok(html(state.templates.render("link_confirm.html", &ctx)?, cookie))
}

#[derive(serde::Deserialize)]
struct Decision {
    csrf: Option<String>,
    decision: String,
}

async fn decide(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Decision>,
) -> Result<HttpResponse, PageError> {
    if !session::csrf_ok(&req, form.csrf.as_deref()) {
        return Err(PageError::bad_request("Form expired", "Please go back and try again."));
    }
    let (s, p) = signed_in_with_offer(&state, &req).await?;
    let (hash, now) = (p.id_hash.clone(), state.clock.now());
    if !state.db.run(move |c| pending_links::take(c, &hash)).await? {
        return Err(PageError::bad_request("Nothing to link", "This offer was already answered."));
    }
    if form.decision == "link" {
        let fed: FederatedIdentity = serde_json::from_str(&p.identity_json)
            .map_err(|_| PageError::bad_request("Nothing to link", "This offer cannot be read. Please start again."))?;
        let uid = s.user_id.clone();
        match state.db.run(move |c| linking::link_confirmed(c, &fed, &uid, now)).await? {
            Outcome::Linked(_) => {}
            _ => {
                return Err(PageError::new(
                    StatusCode::CONFLICT,
                    "Account already linked",
                    "This sign-in is already linked to another account here.",
                ));
            }
        }
    }
    let mut r = match p.auth_request_id {
        Some(req_id) => see_other(&format!("/authorize/resume?req={req_id}")),
        None => see_other("/account"),
    };
    let _ = r.add_cookie(&cleared(&state));
    Ok(r)
}
