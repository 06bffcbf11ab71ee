//! `/admin/api/users`: list and search, show with linked identities, disable/enable (disabling revokes every
//! session and grant), revoke all sessions and tokens, unlink an identity.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::{Paging, no_store};
use crate::accounts::{linking, users as svc};
use crate::state::AppState;
use crate::store::audit::AuditKind;
use crate::store::{audit, identities, users};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users").route(web::get().to(list)))
        .service(web::resource("/users/{user_id}").route(web::get().to(show)))
        .service(web::resource("/users/{user_id}/disable").route(web::post().to(disable)))
        .service(web::resource("/users/{user_id}/enable").route(web::post().to(enable)))
        .service(web::resource("/users/{user_id}/revoke").route(web::post().to(revoke)))
        .service(web::resource("/users/{user_id}/identities/{identity_id}").route(web::delete().to(unlink)));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    pub groups: Vec<String>,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<users::User> for UserView {
    fn from(u: users::User) -> Self {
        UserView {
            groups: u.groups(),
            id: u.id,
            email: u.email,
            email_verified: u.email_verified,
            name: u.name,
            preferred_username: u.preferred_username,
            disabled: u.disabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A federated identity linked to a user (claims and upstream tokens are not shown).
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    pub id: String,
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub created_at: i64,
    pub last_used_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDetail {
    pub user: UserView,
    pub identities: Vec<IdentityView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserView>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Substring of the id, email or name (case-insensitive).
    pub q: Option<String>,
    pub disabled: Option<bool>,
}

/// What a revocation ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub user_id: String,
    pub sessions_revoked: i64,
    pub grants_revoked: i64,
}

#[utoipa::path(get, path = "/admin/api/users", tag = "users", params(Paging, UserQuery),
    responses((status = 200, body = UserList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _: Admin,
    page: web::Query<Paging>,
    q: web::Query<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = page.checked()?;
    let UserQuery { q, disabled } = q.into_inner();
    let (items, total) = state.db.run(move |c| users::search(c, q.as_deref(), disabled, limit, offset)).await?;
    Ok(no_store(&UserList { items: items.into_iter().map(Into::into).collect(), total, limit, offset }))
}

async fn load(state: &AppState, id: &str) -> Result<users::User, ApiError> {
    let id = id.to_string();
    state.db.run(move |c| users::find(c, &id)).await?.ok_or_else(|| ApiError::not_found("no such user"))
}

#[utoipa::path(get, path = "/admin/api/users/{user_id}", tag = "users", params(("user_id" = String, Path)),
    responses((status = 200, body = UserDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn show(state: web::Data<AppState>, _: Admin, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let user = load(&state, &id).await?;
    let uid = user.id.clone();
    let idents = state.db.run(move |c| identities::list_for_user(c, &uid)).await?;
    let identities = idents
        .into_iter()
        .map(|i| IdentityView {
            id: i.id,
            provider: i.provider,
            issuer: i.issuer,
            subject: i.subject,
            email: i.email,
            email_verified: i.email_verified,
            created_at: i.created_at,
            last_used_at: i.last_used_at,
        })
        .collect();
    Ok(no_store(&UserDetail { user: user.into(), identities }))
}

async fn set_disabled(state: &AppState, admin: &Admin, id: &str, disabled: bool) -> Result<HttpResponse, ApiError> {
    let (uid, now, actor) = (id.to_string(), state.clock.now(), admin.actor());
    if !state.db.write(move |c| svc::set_disabled(c, &uid, disabled, now, &actor)).await? {
        return Err(ApiError::not_found("no such user"));
    }
    Ok(no_store(&UserView::from(load(state, id).await?)))
}

#[utoipa::path(post, path = "/admin/api/users/{user_id}/disable", tag = "users", params(("user_id" = String, Path)),
    description = "Disables the account and revokes its sessions and grants: refresh tokens fail and its access tokens are inactive at introspection and userinfo.",
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn disable(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(&state, &admin, &id, true).await
}

#[utoipa::path(post, path = "/admin/api/users/{user_id}/enable", tag = "users", params(("user_id" = String, Path)),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn enable(state: web::Data<AppState>, admin: Admin, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    set_disabled(&state, &admin, &id, false).await
}

#[utoipa::path(post, path = "/admin/api/users/{user_id}/revoke", tag = "users", params(("user_id" = String, Path)),
    description = "Ends every browser session and every grant (refresh and access tokens) of the user.",
    responses((status = 200, body = Revoked), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn revoke(state: web::Data<AppState>, admin: Admin, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let user = load(&state, &id).await?;
    let (uid, now, actor) = (user.id.clone(), state.clock.now(), admin.actor());
    let (s, g) = state
        .db
        .write(move |c| {
            let n = svc::revoke_everything(c, &uid, now)?;
            let mut e = audit::AuditEvent::new(now, AuditKind::UserTokensRevoked).user(&uid);
            e.detail = serde_json::json!({ "actor": actor }).to_string();
            audit::record(c, &e)?;
            Ok(n)
        })
        .await?;
    Ok(no_store(&Revoked { user_id: user.id, sessions_revoked: s as i64, grants_revoked: g as i64 }))
}

#[utoipa::path(delete, path = "/admin/api/users/{user_id}/identities/{identity_id}", tag = "users",
    params(("user_id" = String, Path), ("identity_id" = String, Path)),
    responses((status = 204, description = "Unlinked"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The user's only identity cannot be unlinked")))]
pub async fn unlink(
    state: web::Data<AppState>,
    _: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (uid, iid) = path.into_inner();
    let (u2, i2) = (uid.clone(), iid.clone());
    let mine = state.db.run(move |c| identities::list_for_user(c, &u2)).await?;
    if !mine.iter().any(|i| i.id == iid) {
        return Err(ApiError::not_found("no such identity for this user"));
    }
    let now = state.clock.now();
    if !state.db.write(move |c| linking::unlink_and_end_sessions(c, &uid, &i2, now)).await? {
        return Err(ApiError::conflict("the only identity of a user cannot be unlinked"));
    }
    Ok(HttpResponse::NoContent().finish())
}
