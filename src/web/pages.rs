//! Consent, home page, the stylesheet.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::respond::html;

use crate::accounts::session;
use bridgekeeper_core::authorize::AuthorizeDecision;

use crate::oauth::authorize;
use crate::respond::PageError;
use crate::state::AppState;
use crate::store::audit::AuditKind;
use crate::store::consents;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/static/{name}", web::get().to(asset))
        .route("/consent", web::get().to(consent_page))
        .route("/consent", web::post().to(consent_decision));
}

async fn home(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let mut ctx = crate::web::context(&state);
    ctx.insert("issuer", &state.settings().issuer);
    Ok(html(state.templates.render("home.html", &ctx)?, None))
}

/// A static asset (built in, or from `templates_dir/static/`).
async fn asset(state: web::Data<AppState>, name: web::Path<String>) -> HttpResponse {
    let kind = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => return HttpResponse::NotFound().finish(),
    };
    match state.templates.asset(&format!("static/{name}")) {
        Some(bytes) => {
            HttpResponse::Ok().content_type(kind).insert_header(("Cache-Control", "public, max-age=3600")).body(bytes)
        }
        None => HttpResponse::NotFound().finish(),
    }
}

#[derive(serde::Deserialize)]
pub struct ReqQuery {
    pub req: String,
}

async fn consent_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ReqQuery>,
) -> Result<HttpResponse, PageError> {
    let pending = authorize::load(&state, &req, &q.req).await?;
    // The page is only for a request that needs consent now; anything else (sign in first, an error) is carried
    // out as the decision says.
    let decision =
        authorize::decide_for(&state, &req, &pending.client, &pending.request, Some(&pending), false).await?;
    if !matches!(decision.0, AuthorizeDecision::Consent | AuthorizeDecision::IssueCode) {
        return authorize::carry_out(&state, &req, decision, &pending.client, &pending.request, Some(&pending), false)
            .await;
    }
    let (csrf, cookie) = session::csrf_token(&state, &req);
    let scopes: Vec<serde_json::Value> = pending
        .request
        .scopes
        .iter()
        .map(|s| serde_json::json!({"name": s, "description": scope_description(&state, s)}))
        .collect();
    let act_for = match &decision.1 {
        Some(s) => exchange_providers(&state, &s.user_id, &pending.client.client_id).await?,
        None => Vec::new(),
    };
    let who = match decision.1 {
        Some(s) => state.db.run(move |c| crate::store::users::find(c, &s.user_id)).await?,
        None => None,
    };
    let mut ctx = crate::web::context(&state);
    ctx.insert("req", &q.req);
    ctx.insert("csrf", &csrf);
    ctx.insert("client_name", &pending.client.name);
    ctx.insert("scopes", &scopes);
    // [TX-3b] The page carries the lines it shows, so that allowing consents to those and no others.
    ctx.insert("act_for_ids", &shown(&act_for));
    let act_for: Vec<serde_json::Value> =
        act_for.iter().map(|(id, name)| serde_json::json!({"id": id, "name": name})).collect();
    ctx.insert("act_for", &act_for);
    ctx.insert("signed_in_as", &who.and_then(|u| u.email.or(u.name).or(u.preferred_username)));
    Ok(html(state.templates.render("consent.html", &ctx)?, cookie))
}

/// [LC-1] A standard scope in the person's language (catalogue `scope-{name}`) unless the page is in English,
/// where the `[scopes]` text of the configuration is shown; custom scopes always show the configured text.
pub(crate) fn scope_description(state: &AppState, scope: &str) -> String {
    let configured = state.settings().scopes.get(scope).cloned().unwrap_or_default();
    let lang = crate::i18n::current();
    match lang.as_deref() {
        Some(l) if l != crate::i18n::BASE_LOCALE => {
            state.templates.catalogue().message(l, &format!("scope-{scope}"), None).unwrap_or(configured)
        }
        _ => configured,
    }
}

#[derive(serde::Deserialize)]
struct Decision {
    req: String,
    csrf: Option<String>,
    decision: String,
    /// [TX-3b] The "may act for you at" lines the page showed (provider ids, space-separated).
    act_for: Option<String>,
}

/// The form value naming the act-for lines of a page (sorted: the same set reads the same on any instance).
fn shown(act_for: &[(String, String)]) -> String {
    let mut ids: Vec<&str> = act_for.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort_unstable();
    ids.join(" ")
}

/// [TB-4] Allowing consent goes through the same decision as `/authorize`: a request that needs a fresh sign-in
/// (`prompt=login`, `max_age`, an `id_token_hint` for someone else) is sent to sign in, never given a code.
async fn consent_decision(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Decision>,
) -> Result<HttpResponse, PageError> {
    if !session::csrf_ok(&req, form.csrf.as_deref()) {
        return Err(PageError::bad_request("Form expired", "Please go back to the app and try again.")
            .keyed("page-consent-expired"));
    }
    let pending = authorize::load(&state, &req, &form.req).await?;
    let (client, request) = (&pending.client, &pending.request);
    let Some(sess) = session::current(&state, &req).await? else {
        return Err(PageError::bad_request("Signed out", "Your session ended. Go back to the app and sign in again.")
            .keyed("page-session-ended"));
    };
    if form.decision != "allow" {
        let id = pending.id.clone();
        state.db.run(move |c| crate::store::auth_requests::delete(c, &id)).await?;
        crate::oauth::par::spend(&state, request).await?;
        let e = crate::oauth::OAuthError::new(crate::oauth::ErrorCode::AccessDenied, "the user denied the request");
        return Ok(authorize::error_to(&state, request, &e, true));
    }
    // [TX-3b] What the person allows is what the page showed: when the act-for lines have changed since (an
    // identity linked or unlinked, another tab), the page is shown again and nothing is saved. A page that
    // carries no list (a `templates_dir` consent page without the field) consents to none of them.
    let act_for = exchange_providers(&state, &sess.user_id, &client.client_id).await?;
    let act_for = match form.act_for.as_deref() {
        Some(posted) if posted != shown(&act_for) => {
            return Ok(crate::respond::see_other(&format!("/consent?req={}", pending.id)));
        }
        Some(_) => act_for,
        None => Vec::new(),
    };
    let decision = authorize::decide_for(&state, &req, client, request, Some(&pending), true).await?;
    if decision.0 == AuthorizeDecision::IssueCode {
        let now = state.clock.now();
        let consent = consents::Consent {
            user_id: sess.user_id.clone(),
            client_id: client.client_id.clone(),
            scope: request.scopes.join(" "),
            granted_at: now,
        };
        let event =
            crate::store::audit::AuditEvent::new(now, AuditKind::Consent).user(&sess.user_id).client(&client.client_id);
        // [TX-3] The lines "may act for you at <provider>" shown on the page are consented with it.
        let (uid, cid) = (sess.user_id.clone(), client.client_id.clone());
        state
            .db
            .run(move |c| {
                consents::save(c, &consent)?;
                for (p, _) in &act_for {
                    crate::store::vault::allow_exchange(c, &uid, &cid, p, now)?;
                }
                crate::store::audit::record(c, &event)
            })
            .await?;
    }
    authorize::carry_out(&state, &req, decision, client, request, Some(&pending), true).await
}

/// [TX-3] (id, display name) of the providers that let `client_id` exchange tokens and at which the user has an
/// identity: the consent page names them, and allowing consents to them.
async fn exchange_providers(
    state: &AppState,
    user_id: &str,
    client_id: &str,
) -> Result<Vec<(String, String)>, crate::store::StoreError> {
    let listing: Vec<(String, String)> = state
        .upstreams()
        .list()
        .filter(|p| p.cfg.store_tokens && p.cfg.token_exchange_clients.iter().any(|c| c == client_id))
        .map(|p| (p.cfg.id.clone(), p.cfg.display_name.clone()))
        .collect();
    if listing.is_empty() {
        return Ok(listing);
    }
    let uid = user_id.to_string();
    let linked = state.db.run(move |c| crate::store::identities::list_for_user(c, &uid)).await?;
    Ok(listing.into_iter().filter(|(id, _)| linked.iter().any(|i| &i.provider == id)).collect())
}
