//! Browser sessions at the broker (cookie -> hashed id in the database) and CSRF tokens for forms.
//! With an https issuer every cookie is named `__Host-…` (Secure, Path=/, no Domain), and only such cookies are
//! believed (see `host_cookies`). A form's CSRF token is an HMAC of this browser's CSRF cookie under a key only
//! the broker knows (security.md [CK-2]): a cookie injected by someone else comes without its matching token.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::secret::{hash_token, random_token};
use crate::state::AppState;
use crate::store::audit::AuditKind;
use crate::store::sessions::{self, Session};
use crate::store::{StoreResult, audit};

pub const CSRF_COOKIE: &str = "bk_csrf";

/// The prefix a browser only accepts on a Secure, host-only cookie with `Path=/` (RFC 6265bis §4.1.3.2).
pub const HOST_PREFIX: &str = "__Host-";

fn secure(state: &AppState) -> bool {
    state.settings().issuer.starts_with("https://")
}

/// The name a cookie is sent under: `__Host-{name}` when the issuer is https.
pub fn cookie_name(state: &AppState, name: &str) -> String {
    if secure(state) { format!("{HOST_PREFIX}{name}") } else { name.to_string() }
}

/// A host-only, HttpOnly, SameSite=Lax cookie at `Path=/`; with an https issuer Secure and `__Host-` prefixed.
/// Handlers read it back under its plain name (`host_cookies` maps the request's cookies).
pub fn cookie(state: &AppState, name: &str, value: String, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(cookie_name(state, name), value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_secs))
        .finish()
}

/// The live session of this browser, with the hash of its id.
pub async fn current(state: &AppState, req: &HttpRequest) -> StoreResult<Option<Session>> {
    let Some(hash) = cookie_hash(state, req) else { return Ok(None) };
    let now = state.clock.now();
    state.db.run(move |conn| sessions::find_active(conn, &hash, now)).await
}

/// The hash a session row is found by, from this request's session cookie (none: no cookie).
pub fn cookie_hash(state: &AppState, req: &HttpRequest) -> Option<String> {
    req.cookie(&state.settings().session.cookie_name).map(|c| hash_token(c.value()))
}

/// Which upstream subject and session (`sid`) a sign-in came from ([UL-4]).
#[derive(Debug, Clone, Default)]
pub struct UpstreamSignIn {
    pub sub: String,
    pub sid: Option<String>,
    /// [UL-5] Kept (sealed to the session row) only when the provider signs people out upstream too.
    pub id_token: Option<crate::secret::Secret>,
}

/// The sealing context of a session's upstream ID token: bound to its row.
pub fn id_token_context(id_hash: &str) -> String {
    format!("session_upstream_id_token:{id_hash}")
}

/// Re-encrypts kept upstream ID tokens not sealed with the current key (`keys reseal`); returns how many.
pub fn reseal_id_tokens(conn: &mut crate::store::DbConn, sealer: &crate::crypto::Sealer) -> StoreResult<usize> {
    let mut n = 0;
    for (hash, value) in sessions::sealed_upstream_id_tokens(conn)? {
        if sealer.is_stale(&value) {
            let plain = sealer.open(&value, &id_token_context(&hash))?;
            sessions::set_sealed_upstream_id_token(conn, &hash, &sealer.seal(&plain, &id_token_context(&hash))?)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Starts a session for `user_id` authenticated at `auth_time` (the upstream's, never later than now); returns
/// the cookie to set.
pub async fn start(
    state: &AppState,
    user_id: &str,
    provider: &str,
    auth_time: Option<i64>,
    upstream: UpstreamSignIn,
) -> StoreResult<(Cookie<'static>, Session)> {
    let id = random_token();
    let now = state.clock.now();
    let session = Session {
        id_hash: hash_token(&id),
        user_id: user_id.to_string(),
        provider: provider.to_string(),
        auth_time: auth_time.map_or(now, |t| t.min(now)),
        created_at: now,
        expires_at: now + state.settings().session.ttl_secs,
        revoked_at: None,
    };
    let s = session.clone();
    let sealed = match &upstream.id_token {
        Some(t) => Some(state.sealer.seal(t.expose().as_bytes(), &id_token_context(&session.id_hash))?),
        None => None,
    };
    let event = audit::AuditEvent::new(now, AuditKind::Login).user(user_id).provider(provider);
    state
        .db
        .run(move |c| {
            crate::store::transaction(c, |c| {
                sessions::insert(c, &s)?;
                sessions::set_upstream(c, &s.id_hash, &upstream.sub, upstream.sid.as_deref(), sealed.as_deref())?;
                audit::record(c, &event)
            })
        })
        .await?;
    let cookie = cookie(state, &state.settings().session.cookie_name, id, state.settings().session.ttl_secs);
    Ok((cookie, session))
}

/// Ends the session and the grants tied to it that lack `offline_access`, and queues a Logout Token for each of its
/// apps ([BL-4]), in one transaction; returns the clearing cookie.
pub async fn end(state: &AppState, session: &Session) -> StoreResult<Cookie<'static>> {
    let now = state.clock.now();
    let (hash, user_id) = (session.id_hash.clone(), session.user_id.clone());
    let event = audit::AuditEvent::new(now, AuditKind::Logout).user(&session.user_id);
    state
        .db
        .write(move |c| {
            c.transaction(|c| {
                if sessions::revoke(c, &hash, now)? {
                    crate::store::grants::revoke_online_for_session(c, &hash, now)?;
                    super::backchannel::queue_for_session(c, &hash, &user_id, now)?;
                }
                audit::record(c, &event)
            })
        })
        .await?;
    state.logout_wake.notify_one();
    let mut gone = cookie(state, &state.settings().session.cookie_name, String::new(), 0);
    gone.make_removal();
    Ok(gone)
}

/// The form token for this browser's CSRF cookie, and the cookie to set when it is new. The token is
/// base64url(HMAC-SHA256(server key, cookie value)): only the broker can compute it.
pub fn csrf_token(state: &AppState, req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
    match req.cookie(CSRF_COOKIE) {
        Some(c) if c.value().len() >= 32 => (form_token(&state.csrf_key, c.value()), None),
        _ => {
            let t = random_token();
            let mut c = cookie(state, CSRF_COOKIE, t.clone(), 86400);
            c.set_same_site(SameSite::Strict);
            (form_token(&state.csrf_key, &t), Some(c))
        }
    }
}

/// Does the form's token prove that the broker issued it to this browser (for its CSRF cookie)?
pub fn csrf_ok(req: &HttpRequest, presented: Option<&str>) -> bool {
    let Some(state) = req.app_data::<actix_web::web::Data<AppState>>() else { return false };
    match (req.cookie(CSRF_COOKIE), presented) {
        (Some(c), Some(p)) => c.value().len() >= 32 && form_token_ok(&state.csrf_key, c.value(), p),
        _ => false,
    }
}

fn form_token(key: &aws_lc_rs::hmac::Key, cookie_value: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(key, cookie_value.as_bytes()).as_ref())
}

/// Constant-time check (aws-lc's `hmac::verify`).
fn form_token_ok(key: &aws_lc_rs::hmac::Key, cookie_value: &str, presented: &str) -> bool {
    let Ok(tag) = URL_SAFE_NO_PAD.decode(presented) else { return false };
    aws_lc_rs::hmac::verify(key, cookie_value.as_bytes(), &tag).is_ok()
}

/// The CSRF key from the shared server secret.
pub fn csrf_key(secret: &[u8]) -> aws_lc_rs::hmac::Key {
    aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret)
}

/// The request's `Cookie` header as handlers should see it. With an https issuer only `__Host-` cookies are
/// believed (a plain-named one may have been set by a sibling host or over http) and their prefix is removed,
/// so handlers read every cookie by its plain name. Returns `None` when nothing changes.
pub fn host_cookies(https: bool, header: &str) -> Option<String> {
    if !https {
        return None;
    }
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter_map(|pair| pair.strip_prefix(HOST_PREFIX))
        .filter(|pair| !pair.is_empty())
        .collect();
    Some(kept.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_chosen_cookie_and_token_pair_is_refused() {
        let key = csrf_key(b"server secret of the test");
        let cookie = "attacker-chosen-value-of-at-least-32-chars";
        assert!(!form_token_ok(&key, cookie, cookie), "the cookie itself is not a token");
        assert!(form_token_ok(&key, cookie, &form_token(&key, cookie)), "the broker's token is");
        let other = csrf_key(b"another broker");
        assert!(!form_token_ok(&other, cookie, &form_token(&key, cookie)), "another key's token is not");
        assert!(!form_token_ok(&key, cookie, "%%%"), "garbage is not");
    }

    #[test]
    fn only_host_prefixed_cookies_are_believed_over_https() {
        assert_eq!(host_cookies(false, "bk_session=a"), None);
        assert_eq!(
            host_cookies(true, "bk_session=evil; __Host-bk_session=good; other=1; __Host-bk_csrf=c").as_deref(),
            Some("bk_session=good; bk_csrf=c")
        );
        assert_eq!(host_cookies(true, "bk_session=evil").as_deref(), Some(""));
    }
}
