//! The account page: linked identities (link another, unlink one but never the last), apps consented to
//! (revoke one: its consent and refresh tokens end).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::accounts::{linking, session};
use crate::oauth::authorize::see_other;
use crate::respond::PageError;
use crate::respond::html;
use crate::state::AppState;
use crate::store::audit::AuditKind;
use crate::store::{audit, clients, consents, grants, identities, users};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(page))
        .route("/account/link", web::post().to(link))
        .route("/account/unlink", web::post().to(unlink))
        .route("/account/revoke", web::post().to(revoke))
        .route("/account/revoke-exchange", web::post().to(revoke_exchange));
}

async fn page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let Some(s) = session::current(&state, &req).await? else {
        return Ok(see_other("/login"));
    };
    let uid = s.user_id.clone();
    let (user, idents, apps) = state
        .db
        .run(move |c| {
            let user = users::find(c, &uid)?;
            let idents = identities::list_for_user(c, &uid)?;
            let mut apps = Vec::new();
            let exchanges = crate::store::vault::exchange_consents_of(c, &uid)?;
            for consent in consents::list_for_user(c, &uid)? {
                let name = clients::find(c, &consent.client_id)?
                    .map(|cl| cl.name)
                    .unwrap_or_else(|| consent.client_id.clone());
                let acts: Vec<String> =
                    exchanges.iter().filter(|(cl, _)| cl == &consent.client_id).map(|(_, p)| p.clone()).collect();
                apps.push(serde_json::json!({"client_id": consent.client_id, "name": name, "scope": consent.scope, "acts_for": acts}));
            }
            Ok((user, idents, apps))
        })
        .await?;
    let user = user.ok_or_else(|| {
        PageError::new(StatusCode::UNAUTHORIZED, "Signed out", "Please sign in again.").keyed("page-signed-out")
    })?;
    let linked: Vec<&str> = idents.iter().map(|i| i.provider.as_str()).collect();
    let name_of =
        |id: &str| state.upstreams().get(id).map(|p| p.cfg.display_name.clone()).unwrap_or_else(|| id.to_string());
    let identities: Vec<serde_json::Value> = idents
        .iter()
        .map(|i| serde_json::json!({"id": i.id, "provider": name_of(&i.provider), "email": i.email, "last_used_at": i.last_used_at}))
        .collect();
    let linkable: Vec<serde_json::Value> = state
        .upstreams()
        .list()
        .filter(|p| !linked.contains(&p.cfg.id.as_str()) || p.is_dev())
        .map(|p| serde_json::json!({"name": p.cfg.display_name, "id": p.cfg.id}))
        .collect();
    // [TX-3] Each "may act for you at <provider>" by the provider's display name.
    let apps: Vec<serde_json::Value> = apps
        .into_iter()
        .map(|mut a| {
            let acts: Vec<serde_json::Value> = a["acts_for"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str())
                .map(|p| serde_json::json!({"id": p, "name": name_of(p)}))
                .collect();
            a["acts_for"] = acts.into();
            a
        })
        .collect();
    let (csrf, cookie) = session::csrf_token(&state, &req);
    let mut ctx = super::context(&state);
    ctx.insert("user", &serde_json::json!({"id": user.id, "name": user.name, "email": user.email}));
    ctx.insert("identities", &identities);
    ctx.insert("can_unlink", &(identities.len() > 1));
    ctx.insert("linkable", &linkable);
    ctx.insert("apps", &apps);
    ctx.insert("csrf", &csrf);
    Ok(html(state.templates.render("account.html", &ctx)?, cookie))
}

#[derive(serde::Deserialize)]
struct UnlinkForm {
    csrf: Option<String>,
    identity_id: String,
}

async fn signed_in(state: &AppState, req: &HttpRequest, csrf: Option<&str>) -> Result<String, PageError> {
    if !session::csrf_ok(req, csrf) {
        return Err(PageError::bad_request("Form expired", "Please go back and try again.").keyed("page-form-expired"));
    }
    session::current(state, req).await?.map(|s| s.user_id).ok_or_else(|| {
        PageError::new(StatusCode::UNAUTHORIZED, "Signed out", "Please sign in again.").keyed("page-signed-out")
    })
}

async fn unlink(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<UnlinkForm>,
) -> Result<HttpResponse, PageError> {
    let uid = signed_in(&state, &req, form.csrf.as_deref()).await?;
    let (iid, now) = (form.identity_id.clone(), state.clock.now());
    if !state.db.write(move |c| linking::unlink_and_end_sessions(c, &uid, &iid, now)).await? {
        return Err(PageError::bad_request("Cannot unlink", "You cannot remove your only sign-in method.")
            .keyed("page-only-method"));
    }
    state.logout_wake.notify_one();
    Ok(see_other("/account"))
}

#[derive(serde::Deserialize)]
struct RevokeForm {
    csrf: Option<String>,
    client_id: String,
}

/// Withdraws consent for one app: the consent and every grant (refresh tokens, access tokens) end.
async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<RevokeForm>,
) -> Result<HttpResponse, PageError> {
    let uid = signed_in(&state, &req, form.csrf.as_deref()).await?;
    let (cid, now) = (form.client_id.clone(), state.clock.now());
    state
        .db
        .write(move |c| {
            consents::delete(c, &uid, &cid)?;
            crate::store::vault::revoke_exchange(c, &uid, &cid, None)?;
            grants::revoke_for_user_client(c, &uid, &cid, now)?;
            audit::record(c, &audit::AuditEvent::new(now, AuditKind::ConsentRevoked).user(&uid).client(&cid))
        })
        .await?;
    Ok(see_other("/account"))
}

#[derive(serde::Deserialize)]
struct RevokeExchangeForm {
    csrf: Option<String>,
    client_id: String,
    provider: String,
}

/// [TX-3] Withdraws "may act for you at <provider>" from one app (its other access stays).
async fn revoke_exchange(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<RevokeExchangeForm>,
) -> Result<HttpResponse, PageError> {
    let uid = signed_in(&state, &req, form.csrf.as_deref()).await?;
    let (cid, pid, now) = (form.client_id.clone(), form.provider.clone(), state.clock.now());
    state
        .db
        .run(move |c| {
            if crate::store::vault::revoke_exchange(c, &uid, &cid, Some(&pid))? > 0 {
                let e = audit::AuditEvent::new(now, AuditKind::ConsentRevoked).user(&uid).client(&cid).provider(&pid);
                audit::record(c, &e)?;
            }
            Ok(())
        })
        .await?;
    Ok(see_other("/account"))
}

#[derive(serde::Deserialize)]
struct LinkForm {
    csrf: Option<String>,
    provider: String,
}

/// [TB-1d] Linking another sign-in method: a POST with the CSRF token, from a recent sign-in. A link started any
/// other way (a GET a third-party page can trigger) would attach the attacker's upstream account to the victim's.
async fn link(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LinkForm>,
) -> Result<HttpResponse, PageError> {
    if !session::csrf_ok(&req, form.csrf.as_deref()) {
        return Err(PageError::bad_request("Form expired", "Please go back to your account page and try again.")
            .keyed("page-account-form-expired"));
    }
    let user_id = super::login::link_target(&state, &req).await?;
    super::login::begin(&state, &req, &form.provider, None, Some(user_id)).await
}
