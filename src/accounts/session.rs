//! Browser sessions at the broker (cookie -> hashed id in the database) and CSRF tokens for forms.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};

use crate::secret::{ct_eq, hash_token, random_token};
use crate::state::AppState;
use crate::store::sessions::{self, Session};
use crate::store::{StoreResult, audit};

pub const CSRF_COOKIE: &str = "bk_csrf";

fn secure(state: &AppState) -> bool {
    state.settings.issuer.starts_with("https://")
}

/// A host-only, HttpOnly, SameSite=Lax cookie (Secure when the issuer is https).
pub fn cookie(state: &AppState, name: &str, value: String, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(name.to_string(), value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_secs))
        .finish()
}

/// The live session of this browser, with the hash of its id.
pub async fn current(state: &AppState, req: &HttpRequest) -> StoreResult<Option<Session>> {
    let Some(c) = req.cookie(&state.settings.session.cookie_name) else { return Ok(None) };
    let hash = hash_token(c.value());
    let now = state.clock.now();
    state.db.run(move |conn| sessions::find_active(conn, &hash, now)).await
}

/// Starts a session for `user_id` authenticated at `auth_time` (the upstream's, never later than now); returns
/// the cookie to set.
pub async fn start(
    state: &AppState,
    user_id: &str,
    provider: &str,
    auth_time: Option<i64>,
) -> StoreResult<(Cookie<'static>, Session)> {
    let id = random_token();
    let now = state.clock.now();
    let session = Session {
        id_hash: hash_token(&id),
        user_id: user_id.to_string(),
        provider: provider.to_string(),
        auth_time: auth_time.map_or(now, |t| t.min(now)),
        created_at: now,
        expires_at: now + state.settings.session.ttl_secs,
        revoked_at: None,
    };
    let s = session.clone();
    let event = audit::AuditEvent::new(now, "login").user(user_id).provider(provider);
    state
        .db
        .run(move |c| {
            sessions::insert(c, &s)?;
            audit::record(c, &event)
        })
        .await?;
    let cookie = cookie(state, &state.settings.session.cookie_name, id, state.settings.session.ttl_secs);
    Ok((cookie, session))
}

/// Ends the session and the grants tied to it that lack `offline_access`; returns the clearing cookie.
pub async fn end(state: &AppState, session: &Session) -> StoreResult<Cookie<'static>> {
    let now = state.clock.now();
    let hash = session.id_hash.clone();
    let event = audit::AuditEvent::new(now, "logout").user(&session.user_id);
    state
        .db
        .run(move |c| {
            sessions::revoke(c, &hash, now)?;
            crate::store::grants::revoke_online_for_session(c, &hash, now)?;
            audit::record(c, &event)
        })
        .await?;
    let mut gone = cookie(state, &state.settings.session.cookie_name, String::new(), 0);
    gone.make_removal();
    Ok(gone)
}

/// The browser's CSRF token (double-submit cookie), and the cookie to set when it is new.
pub fn csrf_token(state: &AppState, req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
    match req.cookie(CSRF_COOKIE) {
        Some(c) if c.value().len() >= 32 => (c.value().to_string(), None),
        _ => {
            let t = random_token();
            let mut c = cookie(state, CSRF_COOKIE, t.clone(), 86400);
            c.set_same_site(SameSite::Strict);
            (t, Some(c))
        }
    }
}

/// Does the form's token match the browser's CSRF cookie?
pub fn csrf_ok(req: &HttpRequest, presented: Option<&str>) -> bool {
    match (req.cookie(CSRF_COOKIE), presented) {
        (Some(c), Some(p)) => c.value().len() >= 32 && ct_eq(c.value().as_bytes(), p.as_bytes()),
        _ => false,
    }
}
