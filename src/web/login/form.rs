//! `POST /login/{provider}`: the upstreams that sign in with a form on our own page: `dev` (anyone, dev_mode
//! only) and the password kinds (`ldap`, by the kind's capability: `web::login::password`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{complete, limited, link_target, provider};
use crate::accounts::session;
use crate::accounts::users::FederatedIdentity;
use crate::oauth::authorize;
use crate::respond::PageError;
use crate::secret::Secret;
use crate::state::AppState;

pub(super) async fn limited_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    if state.upstreams().get(&path).is_some_and(|p| p.password().is_some()) {
        return super::password::submit(&state, &req, &path, form.into_inner()).await;
    }
    limited(&state, &req, dev_submit(state.clone(), req.clone(), path, form)).await
}

/// Every field a sign-in form of ours may send; each kind reads its own.
#[derive(serde::Deserialize)]
pub(super) struct LoginForm {
    pub(super) req: Option<String>,
    pub(super) link: Option<String>,
    pub(super) csrf: Option<String>,
    email: Option<String>,
    name: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<Secret>,
}

pub(super) fn form_expired() -> PageError {
    PageError::bad_request("Form expired", "Please go back and try again.").keyed("page-form-expired")
}

/// The pending authorization request still belongs to this browser, and the link target (if linking) is fresh.
pub(super) async fn carried(
    state: &AppState,
    req: &HttpRequest,
    form: &LoginForm,
) -> Result<Option<String>, PageError> {
    if let Some(r) = &form.req {
        authorize::load(state, req, r).await?;
    }
    match form.link.as_deref() {
        Some("true") | Some("1") => Ok(Some(link_target(state, req).await?)),
        _ => Ok(None),
    }
}

/// The `dev` upstream: whoever types an email is that person (only with `dev_mode = true`).
async fn dev_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let p = provider(&state.upstreams(), &path)?;
    if !p.is_dev() || !state.settings().dev_mode {
        return Err(PageError::new(StatusCode::NOT_FOUND, "Not available", "This sign-in method takes no form.")
            .keyed("page-no-form"));
    }
    if !session::csrf_ok(&req, form.csrf.as_deref()) {
        return Err(form_expired());
    }
    let email = form.email.as_deref().unwrap_or_default().trim().to_lowercase();
    if email.len() < 3 || email.len() > 254 || !email.contains('@') {
        return Err(
            PageError::bad_request("Invalid email", "Please type an email address.").keyed("page-invalid-email")
        );
    }
    let link_to = carried(&state, &req, &form).await?;
    let fed = FederatedIdentity {
        provider: p.cfg.id.clone(),
        issuer: format!("{}/dev", state.settings().issuer_base()),
        subject: email.clone(),
        email: Some(email.clone()),
        email_verified: true,
        name: form.name.clone().filter(|n| !n.trim().is_empty()).map(|n| n.trim().chars().take(200).collect()),
        preferred_username: email.split('@').next().map(String::from),
        ..Default::default()
    };
    complete(&state, &req, &p, &p.cfg, fed, form.req.as_deref(), link_to.as_deref()).await
}
