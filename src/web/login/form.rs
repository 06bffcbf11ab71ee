//! `POST /login/{provider}`: the upstreams that sign in with a form on our own page: `dev` (anyone, dev_mode
//! only) and the password kinds (`ldap`), by the kind's capability.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{complete, count_login, limited, link_target, provider};
use crate::accounts::session;
use crate::accounts::users::FederatedIdentity;
use crate::oauth::authorize;
use crate::respond::PageError;
use crate::secret::Secret;
use crate::state::AppState;
use crate::upstream::{Provider, UpstreamErrorKind};

pub(super) async fn limited_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    if state.upstreams.get(&path).is_some_and(|p| p.password().is_some()) {
        return password_submit(&state, &req, &path, form.into_inner()).await;
    }
    limited(&state, &req, dev_submit(state.clone(), req.clone(), path, form)).await
}

/// Every field a sign-in form of ours may send; each kind reads its own.
#[derive(serde::Deserialize)]
pub(super) struct LoginForm {
    req: Option<String>,
    link: Option<String>,
    csrf: Option<String>,
    email: Option<String>,
    name: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
}

fn form_expired() -> PageError {
    PageError::bad_request("Form expired", "Please go back and try again.").keyed("page-form-expired")
}

/// The pending authorization request still belongs to this browser, and the link target (if linking) is fresh.
async fn carried(state: &AppState, req: &HttpRequest, form: &LoginForm) -> Result<Option<String>, PageError> {
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
    let p = provider(&state, &path)?;
    if !p.is_dev() || !state.settings.dev_mode {
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
        issuer: format!("{}/dev", state.settings.issuer_base()),
        subject: email.clone(),
        email: Some(email.clone()),
        email_verified: true,
        name: form.name.clone().filter(|n| !n.trim().is_empty()).map(|n| n.trim().chars().take(200).collect()),
        preferred_username: email.split('@').next().map(String::from),
        ..Default::default()
    };
    complete(&state, &req, p, fed, form.req.as_deref(), link_to.as_deref()).await
}

/// [LD-7] The account name a failure budget is kept for: the provider and the name as the directory compares it
/// (case and surrounding or repeated spaces ignored), so `Ada`, ` ada` and `ada ` share one budget.
fn account_key(provider: &str, username: &str) -> String {
    let name: Vec<&str> = username.split_whitespace().collect();
    format!("{provider}:{}", name.join(" ").to_lowercase())
}

fn too_many(state: &AppState, wait: u64) -> PageError {
    state.metrics.rate_limited.with_label_values(&["failures"]).inc();
    let mut e =
        PageError::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", "Please wait a moment and try again.")
            .keyed("page-too-many");
    e.retry_after = Some(wait);
    e
}

/// [LD-2] The one page for an unknown username, a wrong password, an empty password and a refused bind.
fn wrong_credentials() -> PageError {
    PageError::new(
        StatusCode::UNAUTHORIZED,
        "Sign-in failed",
        "Wrong username or password. Please go back and try again.",
    )
    .keyed("page-wrong-password")
}

/// [LD-8] The directory cannot be asked (down, slow, refusing the service account): a page that says so.
fn unavailable() -> PageError {
    PageError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in unavailable",
        "This sign-in method cannot check passwords right now. Please try again later or choose another one.",
    )
    .keyed("page-sign-in-unavailable")
}

/// A username and password checked at the upstream ([LD-2]…[LD-8]): budgets per address, per (address, account)
/// and per account ([LD-7]) are checked before anything is sent, and charged on every failure.
async fn password_submit(
    state: &AppState,
    req: &HttpRequest,
    provider_id: &str,
    form: LoginForm,
) -> Result<HttpResponse, PageError> {
    let p = provider(state, provider_id)?;
    let ip = crate::ratelimit::client_ip(req);
    let username = form.username.as_deref().unwrap_or_default().trim().to_string();
    let account = account_key(&p.cfg.id, &username);
    if let Err(wait) = state.limits.admit(ip, Some(&account)).and_then(|()| state.limits.admit_account(&account)) {
        return Err(too_many(state, wait));
    }
    let result = password_sign_in(state, req, p, &form, &username).await;
    match &result {
        Err(e) if e.key == Some("page-wrong-password") => {
            state.limits.failed(ip, Some(&account));
            state.limits.failed_account(&account);
        }
        Err(e) if e.status.is_client_error() => {
            state.limits.failed(ip, None);
        }
        _ => {}
    }
    result
}

async fn password_sign_in(
    state: &AppState,
    req: &HttpRequest,
    p: &Provider,
    form: &LoginForm,
    username: &str,
) -> Result<HttpResponse, PageError> {
    let connector = p.password().ok_or_else(unavailable)?;
    if !session::csrf_ok(req, form.csrf.as_deref()) {
        return Err(form_expired());
    }
    let link_to = carried(state, req, form).await?;
    let password = form.password.as_ref().map(Secret::expose).unwrap_or_default();
    let fed = match connector.sign_in(username, password).await {
        Ok(fed) => fed,
        Err(e) => {
            tracing::info!(provider = %e.provider, kind = ?e.kind, detail = %e.detail, "password sign-in failed");
            return Err(match e.kind {
                UpstreamErrorKind::Unavailable => {
                    count_login(state, &p.cfg.id, "unavailable");
                    unavailable()
                }
                UpstreamErrorKind::Rejected | UpstreamErrorKind::Denied => {
                    count_login(state, &p.cfg.id, "rejected");
                    wrong_credentials()
                }
            });
        }
    };
    complete(state, req, p, fed, form.req.as_deref(), link_to.as_deref()).await
}

#[cfg(test)]
mod tests {
    use super::account_key;

    #[test]
    fn ld_7_one_budget_per_account_as_the_directory_compares_names() {
        assert_eq!(account_key("corp", " Ada "), account_key("corp", "ada"));
        assert_eq!(account_key("corp", "ada  lovelace"), account_key("corp", "Ada Lovelace"));
        assert_ne!(account_key("corp", "ada"), account_key("other", "ada"));
        assert_ne!(account_key("corp", "ada"), account_key("corp", "bob"));
    }
}
