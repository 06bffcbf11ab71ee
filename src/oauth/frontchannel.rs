//! OpenID Connect Front-Channel Logout 1.0, the broker as OP: the signed-out page loads, in hidden iframes, the
//! `frontchannel_logout_uri` of every app that got an ID token in the session that just ended ([FL-3]), under a
//! Content-Security-Policy whose `frame-src` is exactly those frames' origins ([FL-4]), then continues to where
//! the sign-out goes next (the upstream's end-session endpoint or the app's `post_logout_redirect_uri`) once the
//! frames have loaded, with a link for when one never does ([FL-5]). The rules are in `core::frontchannel`.

use actix_web::HttpResponse;
use bridgekeeper_core::backchannel::sid_for_session;
use bridgekeeper_core::frontchannel::{frame_src, frame_src_directive};

use crate::respond::{PAGE_CSP, PageError};
use crate::state::AppState;
use crate::store::outbox;
use crate::store::sessions::Session;

/// At most this many apps are framed (a session that reached more is told through the back channel only).
const MAX_FRAMES: usize = 50;

/// [FL-3] The iframe addresses for the apps of `session`: each registered URI, with `iss` and `sid` (the `sid`
/// of its ID tokens) when the app asked for them.
pub async fn frames_for(state: &AppState, session: &Session) -> Result<Vec<String>, PageError> {
    let hash = session.id_hash.clone();
    let receivers = state.db.run(move |c| outbox::frontchannel_receivers(c, &hash)).await?;
    let sid = sid_for_session(&session.id_hash);
    Ok(receivers
        .into_iter()
        .take(MAX_FRAMES)
        .map(|(_, uri, session_required)| frame_src(&uri, &state.settings().issuer, &sid, session_required))
        .collect())
}

/// The signed-out page: the apps' frames, then `continue_to` (already validated) once they loaded, or a link.
pub fn signed_out(state: &AppState, frames: &[String], continue_to: Option<&str>) -> Result<HttpResponse, PageError> {
    let mut ctx = crate::respond::page_context(&state.settings());
    ctx.insert("frames", frames);
    ctx.insert("continue_to", &continue_to);
    let html = state.templates.render("logged_out.html", &ctx)?;
    // [FL-4] Only these frames may load here; every other directive is the one of all pages.
    let csp = format!("{PAGE_CSP}; {}", frame_src_directive(frames.iter().map(String::as_str)));
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", csp))
        .body(html))
}
