//! `POST /login/{provider}`: the upstreams that sign in with a form on our own page (today `dev`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{complete, limited, link_target, provider};
use crate::accounts::session;
use crate::accounts::users::FederatedIdentity;
use crate::oauth::authorize;
use crate::respond::PageError;
use crate::state::AppState;

pub(super) async fn limited_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<DevForm>,
) -> Result<HttpResponse, PageError> {
    limited(&state, &req, dev_submit(state.clone(), req.clone(), path, form)).await
}

#[derive(serde::Deserialize)]
pub(super) struct DevForm {
    req: Option<String>,
    link: Option<String>,
    csrf: Option<String>,
    email: String,
    name: Option<String>,
}

/// The `dev` upstream: whoever types an email is that person (only with `dev_mode = true`).
async fn dev_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<DevForm>,
) -> Result<HttpResponse, PageError> {
    let p = provider(&state.upstreams(), &path)?;
    if !p.is_dev() || !state.settings().dev_mode {
        return Err(PageError::new(StatusCode::NOT_FOUND, "Not available", "This sign-in method takes no form.")
            .keyed("page-no-form"));
    }
    if !session::csrf_ok(&req, form.csrf.as_deref()) {
        return Err(PageError::bad_request("Form expired", "Please go back and try again.").keyed("page-form-expired"));
    }
    let email = form.email.trim().to_lowercase();
    if email.len() < 3 || email.len() > 254 || !email.contains('@') {
        return Err(
            PageError::bad_request("Invalid email", "Please type an email address.").keyed("page-invalid-email")
        );
    }
    if let Some(r) = &form.req {
        authorize::load(&state, &req, r).await?;
    }
    let link_to = match form.link.as_deref() {
        Some("true") | Some("1") => Some(link_target(&state, &req).await?),
        _ => None,
    };
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
