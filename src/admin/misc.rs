//! `/admin/api/providers` (read-only, with health), `/admin/api/consents`, `/admin/api/audit`, `/admin/api/keys`,
//! `/admin/api/reload`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::{Paging, no_store};
use crate::state::AppState;
use crate::store::audit::AuditKind;
use crate::store::{audit, consents, grants};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/providers").route(web::get().to(providers)))
        .service(web::resource("/consents").route(web::get().to(list_consents)))
        .service(web::resource("/consents/{user_id}/{client_id}").route(web::delete().to(delete_consent)))
        .service(web::resource("/audit").route(web::get().to(audit_events)))
        .service(web::resource("/keys").route(web::get().to(keys)))
        .service(web::resource("/keys/rotate").route(web::post().to(rotate_keys)))
        .service(web::resource("/reload").route(web::post().to(reload)));
}

/// A loaded upstream provider (its secret is never shown).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    pub id: String,
    /// oidc, oauth2, github or dev.
    pub kind: String,
    pub display_name: String,
    pub issuer: Option<String>,
    pub scopes: Vec<String>,
    /// never or verified.
    pub link_by_email: String,
    pub refresh_upstream: bool,
    /// "up", "down" (its last discovery failed) or, with `check=true`, the result of a fresh check.
    pub health: String,
    pub health_detail: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProviderQuery {
    /// Contact each provider now (OIDC discovery) instead of reporting the last known state.
    pub check: Option<bool>,
}

fn lower_debug(v: &impl std::fmt::Debug) -> String {
    format!("{v:?}").to_lowercase()
}

#[utoipa::path(get, path = "/admin/api/providers", tag = "providers", params(ProviderQuery),
    responses((status = 200, body = Vec<ProviderView>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn providers(
    state: web::Data<AppState>,
    _: Admin,
    q: web::Query<ProviderQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut out = Vec::new();
    let upstreams = state.upstreams();
    for p in upstreams.list() {
        let (health, detail) = if q.check == Some(true) {
            match upstreams.check(&p.cfg.id).await {
                Ok(()) => ("up".to_string(), None),
                Err(e) => ("down".to_string(), Some(crate::oauth::error::sanitize(&e.detail))),
            }
        } else {
            (if p.is_down() { "down" } else { "up" }.to_string(), None)
        };
        out.push(ProviderView {
            id: p.cfg.id.clone(),
            kind: lower_debug(&p.cfg.kind),
            display_name: p.cfg.display_name.clone(),
            issuer: p.cfg.issuer.clone(),
            scopes: p.cfg.scopes.clone(),
            link_by_email: lower_debug(&p.cfg.link_by_email),
            refresh_upstream: p.cfg.refresh_upstream,
            health,
            health_detail: detail,
        });
    }
    Ok(no_store(&out))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub user_id: String,
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    pub granted_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentList {
    pub items: Vec<ConsentView>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsentQuery {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
}

#[utoipa::path(get, path = "/admin/api/consents", tag = "consents", params(Paging, ConsentQuery),
    responses((status = 200, body = ConsentList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_consents(
    state: web::Data<AppState>,
    _: Admin,
    page: web::Query<Paging>,
    q: web::Query<ConsentQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = page.checked()?;
    let ConsentQuery { user_id, client_id } = q.into_inner();
    let (items, total) =
        state.db.run(move |c| consents::page(c, user_id.as_deref(), client_id.as_deref(), limit, offset)).await?;
    let items = items
        .into_iter()
        .map(|c| ConsentView { user_id: c.user_id, client_id: c.client_id, scope: c.scope, granted_at: c.granted_at })
        .collect();
    Ok(no_store(&ConsentList { items, total, limit, offset }))
}

#[utoipa::path(delete, path = "/admin/api/consents/{user_id}/{client_id}", tag = "consents",
    params(("user_id" = String, Path), ("client_id" = String, Path)),
    description = "Withdraws the consent and revokes the user's grants for that client (refresh and access tokens).",
    responses((status = 204, description = "Withdrawn"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_consent(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (uid, cid) = path.into_inner();
    let (now, actor) = (state.clock.now(), admin.actor());
    let found = state
        .db
        .write(move |c| {
            // [TX-3] "may act for you at …" goes with the app's consent.
            let exchanges = crate::store::vault::revoke_exchange(c, &uid, &cid, None)?;
            if !consents::delete(c, &uid, &cid)? && exchanges == 0 {
                return Ok(false);
            }
            grants::revoke_for_user_client(c, &uid, &cid, now)?;
            let mut e = audit::AuditEvent::new(now, AuditKind::ConsentRevoked).user(&uid).client(&cid);
            e.detail = serde_json::json!({ "actor": actor }).to_string();
            audit::record(c, &e)?;
            Ok(true)
        })
        .await?;
    if !found {
        return Err(ApiError::not_found("no such consent"));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    pub at: i64,
    pub event: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub provider: Option<String>,
    /// Event-specific JSON object.
    pub detail: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditView>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Event name, e.g. login, consent, client_added, user_disabled.
    pub event: Option<String>,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// Only events at or after this Unix time.
    pub since: Option<i64>,
}

#[utoipa::path(get, path = "/admin/api/audit", tag = "audit", params(Paging, AuditQuery),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn audit_events(
    state: web::Data<AppState>,
    _: Admin,
    page: web::Query<Paging>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = page.checked()?;
    let q = q.into_inner();
    let f = audit::Filter { event: q.event, user_id: q.user_id, client_id: q.client_id, since: q.since };
    let (items, total) = state.db.run(move |c| audit::page(c, &f, limit, offset)).await?;
    let items = items
        .into_iter()
        .map(|e| AuditView {
            detail: serde_json::from_str(&e.detail).unwrap_or_else(|_| serde_json::json!({})),
            id: e.id,
            at: e.at,
            event: e.event,
            user_id: e.user_id,
            client_id: e.client_id,
            provider: e.provider,
        })
        .collect();
    Ok(no_store(&AuditList { items, total, limit, offset }))
}

/// A signing key (public facts only).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    /// next, current or retired.
    pub state: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyRotated {
    /// The key now signing.
    pub kid: String,
}

#[utoipa::path(get, path = "/admin/api/keys", tag = "keys",
    responses((status = 200, body = Vec<KeyView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn keys(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, ApiError> {
    let rows = state.db.run(crate::store::keys::list).await?;
    let out: Vec<KeyView> = rows
        .into_iter()
        .map(|k| KeyView {
            kid: k.kid,
            alg: k.alg,
            state: k.state,
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
        })
        .collect();
    Ok(no_store(&out))
}

#[utoipa::path(post, path = "/admin/api/keys/rotate", tag = "keys",
    description = "Promotes the published next key to signing, retires the current one and publishes a new next key (as `bridgekeeper keys rotate`).",
    responses((status = 200, body = KeyRotated), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn rotate_keys(state: web::Data<AppState>, admin: Admin) -> Result<HttpResponse, ApiError> {
    let s = &state.settings();
    let (now, algs) = (state.clock.now(), s.tokens.algs());
    let keep = s.tokens.access_token_ttl_secs.max(s.tokens.id_token_ttl_secs) + 60;
    let (sealer, actor) = (state.sealer.clone(), admin.actor());
    let kid = state
        .db
        .run(move |c| {
            let kid = crate::tokens::keyring::rotate_all(c, &algs, now, keep, &sealer)?;
            let mut e = audit::AuditEvent::new(now, AuditKind::KeysRotated);
            e.detail = serde_json::json!({ "actor": actor }).to_string();
            audit::record(c, &e)?;
            Ok(kid)
        })
        .await?;
    state.reload_keys().await?;
    Ok(no_store(&KeyRotated { kid }))
}

/// [HR-1] What a reload did: what it put in force, what needs a restart, and the problems that refused it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadView {
    pub reloaded: bool,
    pub applied: Vec<String>,
    pub needs_restart: Vec<String>,
    pub problems: Vec<String>,
    /// [HR-4] The providers put in force by this reload, by id.
    pub providers: ReloadedProviders,
    /// Put in force but not well (a new provider whose discovery failed: shown as down, tried again at login).
    pub warnings: Vec<String>,
}

/// [HR-4] The providers a reload added, changed (new settings; logins begun before keep theirs) and removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadedProviders {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

/// Re-reads and validates this instance's files (as SIGHUP does); 422 when refused, the old configuration staying.
#[utoipa::path(post, path = "/admin/api/reload", tag = "reload",
    responses((status = 200, body = ReloadView), (status = 422, body = ReloadView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn reload(state: web::Data<AppState>, admin: Admin) -> Result<HttpResponse, ApiError> {
    let r = crate::reload::reload(&state).await;
    let view = ReloadView {
        reloaded: r.problems.is_empty(),
        applied: r.applied.iter().map(|s| s.to_string()).collect(),
        needs_restart: r.needs_restart,
        problems: r.problems,
        providers: ReloadedProviders {
            added: r.providers.added,
            changed: r.providers.changed,
            removed: r.providers.removed,
        },
        warnings: r.warnings,
    };
    let (now, actor, ok) = (state.clock.now(), admin.actor(), view.reloaded);
    state
        .db
        .run(move |c| {
            let mut e = audit::AuditEvent::new(now, audit::AuditKind::ConfigReloaded);
            e.detail = serde_json::json!({ "actor": actor, "ok": ok }).to_string();
            audit::record(c, &e)
        })
        .await?;
    if view.reloaded {
        return Ok(no_store(&view));
    }
    Ok(HttpResponse::UnprocessableEntity().json(&view))
}
