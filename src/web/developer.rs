//! The developer portal: signed-in developers (a configured group, or allow-listed emails/domains) register
//! their own apps, see the secret once, rotate it (the old one works for a grace period), edit redirect URIs,
//! disable or delete apps and see recent sign-in counts. Plain forms, CSRF on every one, no JavaScript.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::accounts::clients::{self as svc, ClientError, ClientUpdate, NewClient};
use crate::accounts::{session, users::is_developer};
use crate::oauth::authorize::see_other;
use crate::respond::PageError;
use crate::respond::html;
use crate::state::AppState;
use crate::store::audit::AuditKind;
use crate::store::clients::{self as repo, Client, Filter};
use crate::store::users::{self, User};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/developer", web::get().to(index))
        .route("/developer/apps", web::post().to(create))
        .route("/developer/apps/{id}", web::get().to(app_page))
        .route("/developer/apps/{id}/edit", web::post().to(edit))
        .route("/developer/apps/{id}/rotate", web::post().to(rotate))
        .route("/developer/apps/{id}/disable", web::post().to(disable))
        .route("/developer/apps/{id}/delete", web::post().to(delete));
}

/// A form body with repeatable fields (checkboxes).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Self {
        Form(url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    fn lines(&self, name: &str) -> Vec<String> {
        self.get(name).unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
    }
}

fn forbidden() -> PageError {
    PageError::new(StatusCode::FORBIDDEN, "Not a developer", "Your account may not register apps here. Ask an admin.")
        .keyed("page-not-developer")
}

/// The signed-in developer; `Ok(None)` when nobody is signed in.
async fn developer(state: &AppState, req: &HttpRequest) -> Result<Option<User>, PageError> {
    let Some(s) = session::current(state, req).await? else { return Ok(None) };
    let user = state.db.run(move |c| users::find(c, &s.user_id)).await?;
    match user {
        Some(u) if is_developer(&state.settings().developers, &u) => Ok(Some(u)),
        _ => Err(forbidden()),
    }
}

/// For form posts: CSRF first, then a developer session.
async fn posting_developer(state: &AppState, req: &HttpRequest, form: &Form) -> Result<User, PageError> {
    if !session::csrf_ok(req, form.get("csrf")) {
        return Err(PageError::bad_request("Form expired", "Please go back and try again.").keyed("page-form-expired"));
    }
    developer(state, req).await?.ok_or_else(|| {
        PageError::new(StatusCode::UNAUTHORIZED, "Signed out", "Please sign in again.").keyed("page-signed-out")
    })
}

/// The developer's own app (someone else's is "not found").
async fn owned(state: &AppState, user: &User, id: &str) -> Result<Client, PageError> {
    match svc::get(&state.db, id).await {
        Ok(c) if c.owner_id.as_deref() == Some(user.id.as_str()) => Ok(c),
        Ok(_) | Err(ClientError::NotFound) => {
            Err(PageError::new(StatusCode::NOT_FOUND, "No such app", "This app does not exist or is not yours.")
                .keyed("page-not-your-app"))
        }
        Err(e) => Err(page_error(e)),
    }
}

fn page_error(e: ClientError) -> PageError {
    match e {
        ClientError::Invalid(m) | ClientError::InvalidRedirect(m) | ClientError::Conflict(m) => {
            PageError::bad_request("Cannot save the app", m)
        }
        ClientError::NotFound => {
            PageError::new(StatusCode::NOT_FOUND, "No such app", "This app does not exist.").keyed("page-no-app")
        }
        ClientError::Store(s) => s.into(),
    }
}

async fn index(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let Some(user) = developer(&state, &req).await? else { return Ok(see_other("/login")) };
    let f = Filter { owner_id: Some(user.id.clone()), ..Default::default() };
    let (apps, _) = state.db.run(move |c| repo::page(c, &f, 200, 0)).await?;
    let apps: Vec<_> =
        apps.iter().map(|a| json!({"client_id": a.client_id, "name": a.name, "disabled": a.disabled})).collect();
    let d = &state.settings().developers;
    let scopes: Vec<_> = d
        .scopes
        .iter()
        .map(|s| (s, false))
        .chain(d.approval_scopes.iter().map(|s| (s, true)))
        .map(|(s, approval)| {
            json!({"name": s, "description": state.settings().scopes.get(s).cloned().unwrap_or_default(), "approval": approval})
        })
        .collect();
    let (csrf, cookie) = session::csrf_token(&state, &req);
    let mut ctx = super::context(&state);
    ctx.insert("apps", &apps);
    ctx.insert("scopes", &scopes);
    ctx.insert("csrf", &csrf);
    Ok(html(state.templates.render("developer.html", &ctx)?, cookie))
}

fn secret_page(
    state: &AppState,
    c: &Client,
    secret: Option<&str>,
    grace_until: Option<i64>,
) -> Result<HttpResponse, PageError> {
    let mut ctx = super::context(state);
    ctx.insert("name", &c.name);
    ctx.insert("client_id", &c.client_id);
    ctx.insert("secret", &secret);
    ctx.insert("grace_until", &grace_until);
    ctx.insert("pending", &c.pending_scopes.join(" "));
    Ok(html(state.templates.render("developer_secret.html", &ctx)?, None))
}

async fn create(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, PageError> {
    let form = Form::parse(&body);
    let user = posting_developer(&state, &req, &form).await?;
    let owner = user.id.clone();
    let f = Filter { owner_id: Some(owner.clone()), ..Default::default() };
    let (_, count) = state.db.run(move |c| repo::page(c, &f, 1, 0)).await?;
    if count >= state.settings().developers.max_apps_per_developer {
        return Err(PageError::bad_request("Too many apps", "Delete an app before registering another.")
            .keyed("page-too-many-apps"));
    }
    let (allowed, pending) = svc::self_service_scopes(&state.settings(), &form.all("scope"))
        .map_err(|m| PageError::bad_request("Cannot save the app", m))?;
    let public = form.get("client_type") == Some("public");
    let req = NewClient {
        name: form.get("name").unwrap_or("").trim().to_string(),
        redirect_uris: form.lines("redirect_uris"),
        post_logout_redirect_uris: form.lines("post_logout_redirect_uris"),
        allowed_scopes: allowed,
        pending_scopes: pending,
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        public,
        logo_uri: form.get("logo_uri").map(str::trim).filter(|l| !l.is_empty()).map(String::from),
        owner_id: Some(owner.clone()),
        source: "portal".into(),
        token_endpoint_auth_method: (!public)
            .then(|| form.get("auth_method").unwrap_or("client_secret_basic").to_string()),
        ..Default::default()
    };
    let now = state.clock.now();
    let created = svc::create(&state.db, &state.settings(), req, now).await.map_err(page_error)?;
    svc::audit_action(&state.db, now, AuditKind::ClientAdded, &created.client.client_id, &format!("portal:{owner}"))
        .await?;
    secret_page(&state, &created.client, created.secret.as_ref().map(|s| s.expose()), None)
}

async fn app_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let Some(user) = developer(&state, &req).await? else { return Ok(see_other("/login")) };
    let c = owned(&state, &user, &id).await?;
    let (cid, now) = (c.client_id.clone(), state.clock.now());
    let (day, week, month) = state
        .db
        .run(move |conn| {
            Ok((
                repo::sign_ins_since(conn, &cid, now - 86_400)?,
                repo::sign_ins_since(conn, &cid, now - 7 * 86_400)?,
                repo::sign_ins_since(conn, &cid, now - 30 * 86_400)?,
            ))
        })
        .await?;
    let (csrf, cookie) = session::csrf_token(&state, &req);
    let mut ctx = super::context(&state);
    ctx.insert(
        "app",
        &json!({
            "client_id": c.client_id, "name": c.name, "logo_uri": c.logo_uri, "disabled": c.disabled,
            "client_type": if c.is_public() { "public" } else { "confidential" },
            "auth_method": c.token_endpoint_auth_method,
            "redirect_uris": c.redirect_uris.join("\n"),
            "post_logout_redirect_uris": c.post_logout_redirect_uris.join("\n"),
            "allowed_scopes": c.allowed_scopes.join(" "), "pending_scopes": c.pending_scopes.join(" "),
            "previous_secret_expires_at": c.previous_secret_expires_at.filter(|t| *t > now),
        }),
    );
    ctx.insert("counts", &json!({"day": day, "week": week, "month": month}));
    ctx.insert("issuer", state.settings().issuer_base());
    ctx.insert("grace_secs", &state.settings().developers.secret_grace_secs);
    ctx.insert("csrf", &csrf);
    Ok(html(state.templates.render("developer_app.html", &ctx)?, cookie))
}

async fn change(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
    body: &[u8],
    event: AuditKind,
    make: impl FnOnce(&Form) -> ClientUpdate,
) -> Result<HttpResponse, PageError> {
    let form = Form::parse(body);
    let user = posting_developer(state, req, &form).await?;
    let c = owned(state, &user, id).await?;
    let now = state.clock.now();
    svc::update(&state.db, &state.settings(), &c.client_id, make(&form), now).await.map_err(page_error)?;
    svc::audit_action(&state.db, now, event, &c.client_id, &format!("portal:{}", user.id)).await?;
    Ok(see_other(&format!("/developer/apps/{}", c.client_id)))
}

async fn edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    change(&state, &req, &id, &body, AuditKind::ClientUpdated, |f| ClientUpdate {
        name: f.get("name").map(|n| n.trim().to_string()),
        redirect_uris: Some(f.lines("redirect_uris")),
        post_logout_redirect_uris: Some(f.lines("post_logout_redirect_uris")),
        logo_uri: Some(f.get("logo_uri").map(|l| l.trim().to_string())),
        ..Default::default()
    })
    .await
}

async fn disable(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    change(&state, &req, &id, &body, AuditKind::ClientUpdated, |f| ClientUpdate {
        disabled: Some(f.get("disabled") != Some("false")),
        ..Default::default()
    })
    .await
}

async fn rotate(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = Form::parse(&body);
    let user = posting_developer(&state, &req, &form).await?;
    let c = owned(&state, &user, &id).await?;
    let (now, grace) = (state.clock.now(), state.settings().developers.secret_grace_secs);
    let secret = svc::rotate_secret(&state.db, &c.client_id, now, grace).await.map_err(page_error)?;
    svc::audit_action(&state.db, now, AuditKind::ClientSecretRotated, &c.client_id, &format!("portal:{}", user.id))
        .await?;
    secret_page(&state, &c, Some(secret.expose()), (grace > 0).then_some(now + grace))
}

async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = Form::parse(&body);
    let user = posting_developer(&state, &req, &form).await?;
    let c = owned(&state, &user, &id).await?;
    svc::delete(&state.db, &c.client_id).await.map_err(page_error)?;
    svc::audit_action(
        &state.db,
        state.clock.now(),
        AuditKind::ClientRemoved,
        &c.client_id,
        &format!("portal:{}", user.id),
    )
    .await?;
    Ok(see_other("/developer"))
}
