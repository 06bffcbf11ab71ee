//! [DV-3] [DV-5] The consent page of the device grant and the person's answer. The page names the app and the
//! scopes and shows the code again, so that a person sent a `verification_uri_complete` link by someone else
//! sees what they would allow, and must press "Allow" (RFC 8628 §5.4). Allowing makes a grant and records the
//! consent as the code flow does; the device's next poll gets the tokens.

use actix_web::{HttpRequest, HttpResponse};
use bridgekeeper_core::device;

use crate::accounts::session;
use crate::respond::{PageError, html};
use crate::state::AppState;
use crate::store::audit::{self, AuditEvent, AuditKind};
use crate::store::clients::Client;
use crate::store::device_codes::{self, DeviceCode};
use crate::store::sessions::Session;
use crate::store::{consents, grants};

async fn client_of(state: &AppState, code: &DeviceCode) -> Result<Client, PageError> {
    let cid = code.client_id.clone();
    let client = state.db.run(move |c| crate::store::clients::find(c, &cid)).await?;
    // The client as it is now: still enabled, still holding the grant type and every scope the code asked for.
    let still_allowed = |c: &Client| {
        !c.disabled
            && c.allows_grant(device::GRANT_TYPE)
            && code.scope.split(' ').all(|s| s.is_empty() || c.allowed_scopes.iter().any(|a| a == s))
    };
    client.filter(still_allowed).ok_or_else(super::device::gone)
}

/// The consent page for a code just entered (the code travels normalised in the form, and is looked up again).
pub(super) async fn page(
    state: &AppState,
    req: &HttpRequest,
    sess: &Session,
    code: &DeviceCode,
    typed: &str,
) -> Result<HttpResponse, PageError> {
    let client = client_of(state, code).await?;
    let (csrf, cookie) = session::csrf_token(state, req);
    let scopes: Vec<serde_json::Value> = code
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| serde_json::json!({"name": s, "description": super::pages::scope_description(state, s)}))
        .collect();
    let uid = sess.user_id.clone();
    let who = state.db.run(move |c| crate::store::users::find(c, &uid)).await?;
    let mut ctx = super::context(state);
    ctx.insert("csrf", &csrf);
    ctx.insert("client_name", &client.name);
    ctx.insert("scopes", &scopes);
    ctx.insert("user_code", typed);
    ctx.insert("shown_code", &device::display(typed));
    ctx.insert("signed_in_as", &who.and_then(|u| u.email.or(u.name).or(u.preferred_username)));
    Ok(html(state.templates.render("device_consent.html", &ctx)?, cookie))
}

/// The person's answer: a grant and a consent record when allowed, the code approved (or denied) in one
/// conditional update; a code answered or expired meanwhile is the "not valid" page.
pub(super) async fn answer(
    state: &AppState,
    sess: &Session,
    code: &DeviceCode,
    allow: bool,
) -> Result<HttpResponse, PageError> {
    let client = client_of(state, code).await?;
    let now = state.clock.now();
    let hash = code.device_code_hash.clone();
    let answered = if allow {
        approve(state, sess, code, &client, now).await?
    } else {
        state.db.run(move |c| device_codes::answer(c, &hash, None, now)).await?
    };
    if !answered {
        return Err(super::device::gone());
    }
    tracing::info!(target: "audit", event = "device_answered", allowed = allow, client = %client.client_id);
    let mut ctx = super::context(state);
    ctx.insert("client_name", &client.name);
    ctx.insert("allowed", &allow);
    Ok(html(state.templates.render("device_done.html", &ctx)?, None))
}

/// [DV-5] Approves the code in one transaction with the grant (as the code flow makes at its consent), the
/// remembered consent and its audit event; `false` when the code was answered or expired first.
async fn approve(
    state: &AppState,
    sess: &Session,
    code: &DeviceCode,
    client: &Client,
    now: i64,
) -> Result<bool, PageError> {
    let grant = grants::Grant {
        id: crate::store::new_id(),
        client_id: client.client_id.clone(),
        user_id: Some(sess.user_id.clone()),
        session_hash: Some(sess.id_hash.clone()),
        scope: code.scope.clone(),
        auth_time: Some(sess.auth_time),
        created_at: now,
        expires_at: now + state.settings().tokens.refresh_absolute_ttl_secs,
        revoked_at: None,
    };
    let consent = consents::Consent {
        user_id: sess.user_id.clone(),
        client_id: client.client_id.clone(),
        scope: code.scope.clone(),
        granted_at: now,
    };
    let event = AuditEvent::new(now, AuditKind::Consent).user(&sess.user_id).client(&client.client_id);
    let (hash, uid) = (code.device_code_hash.clone(), sess.user_id.clone());
    Ok(state
        .db
        .run(move |c| {
            crate::store::transaction(c, |c| {
                if !device_codes::answer(c, &hash, Some((&uid, &grant.id)), now)? {
                    return Ok(false);
                }
                grants::insert(c, &grant)?;
                consents::save(c, &consent)?;
                audit::record(c, &event).map(|()| true)
            })
        })
        .await?)
}
