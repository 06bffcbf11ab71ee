//! [UL-5] Signing out at the upstream too (RP-Initiated Logout 1.0 with the broker as RP). For a session that came
//! from a provider with `logout_upstream = "always"` (or `"ask"` and the person ticked the box, [UL-7]) and an
//! `end_session_endpoint`, the broker's sign-out sends the
//! browser there with the session's upstream ID token as `id_token_hint`, `post_logout_redirect_uri` =
//! `{issuer}/logout/upstream/{provider}` and a single-use `state`; coming back with that state continues to where
//! the broker's own sign-out would have gone (the app's validated `post_logout_redirect_uri`, or the signed-out
//! page). An upstream-initiated (back-channel) logout never redirects anywhere, so there is no loop. [UL-8] The
//! pending sign-out is bound to the browser that started it: its row is keyed by the hash of the `state` together
//! with a random value kept in a cookie of that browser, so a leaked `state` is worth nothing elsewhere.

use actix_web::cookie::Cookie;
use actix_web::{HttpRequest, HttpResponse, web};

use super::authorize::see_other;
use super::redirect::with_params;
use crate::respond::PageError;
use crate::secret::{hash_token, random_token};
use crate::state::AppState;
use crate::store::sessions::{self, Session};
use crate::store::upstream_logouts;

/// How long the upstream has to send the browser back.
const PENDING_SECS: i64 = 600;
/// [UL-8] The cookie binding pending upstream sign-outs to this browser.
const BROWSER_COOKIE: &str = "bk_upstream_logout";

/// Where to send the browser to sign out at the upstream, and the cookie binding the return to it.
pub struct UpstreamSignOut {
    pub url: String,
    pub cookie: Cookie<'static>,
}

/// [UL-8] The row key: the `state` and this browser's value together (neither alone finds the row).
fn pending_key(state_value: &str, browser: &str) -> String {
    hash_token(&format!("{state_value}\0{browser}"))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/logout/upstream/{provider}", web::get().to(back));
}

/// The upstream end-session URL to send the browser to before `continue_to` (and before the front-channel
/// `frames`, which the return page shows, [FL-5]), when this session's provider signs
/// people out upstream too and the session kept its upstream ID token. Call before the session ends.
pub async fn redirect_for(
    state: &AppState,
    session: &Session,
    continue_to: Option<&str>,
    frames: &[String],
    ticked: bool,
) -> Result<Option<UpstreamSignOut>, PageError> {
    let upstreams = state.upstreams();
    let Some(endpoint) = upstreams.end_session_endpoint(&session.provider, ticked).await else {
        return Ok(None);
    };
    let Some(hint) = upstream_hint(state, session).await? else { return Ok(None) };
    let provider = session.provider.clone();
    let client_id = upstreams.get(&provider).map(|p| p.cfg.client_id.clone()).unwrap_or_default();
    // A fresh value each time (never one the browser brought, which someone may have planted): a second sign-out
    // in another tab replaces the first one's binding, whose return then says the person is signed out.
    let (st, browser) = (random_token(), random_token());
    let key = pending_key(&st, &browser);
    let (sh, p, to, now) = (key, provider.clone(), continue_to.map(String::from), state.clock.now());
    let frames = frames.to_vec();
    state.db.run(move |c| upstream_logouts::insert(c, &sh, &p, to.as_deref(), &frames, now, PENDING_SECS)).await?;
    let back = format!("{}/logout/upstream/{provider}", state.settings().issuer_base());
    let params = [
        ("id_token_hint", hint.as_str()),
        ("post_logout_redirect_uri", back.as_str()),
        ("state", st.as_str()),
        ("client_id", client_id.as_str()),
    ];
    let cookie = crate::accounts::session::cookie(state, BROWSER_COOKIE, browser, PENDING_SECS);
    Ok(Some(UpstreamSignOut { url: with_params(&endpoint, &params), cookie }))
}

/// [UL-7] The provider name for "Also sign out of …", only when that sign-out could be done now: the provider
/// asks (`logout_upstream = "ask"`), names an `end_session_endpoint` (discovery answered) and this session kept
/// an upstream ID token that still opens. Otherwise no box is shown (it would be a promise not kept).
pub async fn offer(state: &AppState, session: &Session) -> Result<Option<String>, PageError> {
    let upstreams = state.upstreams();
    let Some(name) = upstreams.asks_to_sign_out(&session.provider).map(String::from) else { return Ok(None) };
    if upstreams.end_session_endpoint(&session.provider, true).await.is_none() {
        return Ok(None);
    }
    Ok(upstream_hint(state, session).await?.map(|_| name))
}

/// The session's sealed upstream ID token, opened. A token that no longer opens (its key was dropped) must not
/// stop the sign-out: `None`, and the upstream is skipped.
async fn upstream_hint(state: &AppState, session: &Session) -> Result<Option<String>, PageError> {
    let (hash, sealer) = (session.id_hash.clone(), state.sealer.clone());
    let sealed = state.db.run(move |c| sessions::sealed_upstream_id_token(c, &hash)).await?;
    let context = crate::accounts::session::id_token_context(&session.id_hash);
    Ok(match sealed.map(|s| sealer.open(&s, &context)) {
        Some(Ok(plain)) => String::from_utf8(plain).ok(),
        Some(Err(e)) => {
            tracing::warn!(provider = %session.provider, error = %e, "upstream ID token unreadable; not signing out upstream");
            None
        }
        None => None,
    })
}

#[derive(serde::Deserialize)]
struct Back {
    state: Option<String>,
}

/// The upstream sent the browser back: the pending sign-out of this browser is taken once and it continues.
async fn back(
    state: web::Data<AppState>,
    req: HttpRequest,
    provider: web::Path<String>,
    q: web::Query<Back>,
) -> Result<HttpResponse, PageError> {
    let expired = || {
        PageError::bad_request(
            "Signed out",
            "This sign-out link is no longer valid; you are signed out of this service.",
        )
        .keyed("page-logout-link-expired")
    };
    let (Some(st), Some(browser)) = (q.state.as_deref(), req.cookie(BROWSER_COOKIE)) else { return Err(expired()) };
    let (sh, p, now) = (pending_key(st, browser.value()), provider.to_string(), state.clock.now());
    let mut resp = match state.db.run(move |c| upstream_logouts::take(c, &sh, &p, now)).await? {
        None => return Err(expired()),
        // [FL-5] The apps' frames are shown here, after the upstream, so that none of them holds it back.
        Some(r) => match r.continue_to {
            Some(target) if r.frames.is_empty() => see_other(&target),
            next => super::frontchannel::signed_out(&state, &r.frames, next.as_deref())?,
        },
    };
    let mut gone = crate::accounts::session::cookie(&state, BROWSER_COOKIE, String::new(), 0);
    gone.make_removal();
    let _ = resp.add_cookie(&gone);
    Ok(resp)
}
