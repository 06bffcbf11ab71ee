//! RP-initiated logout (OpenID RP-Initiated Logout 1.0). Redirects only to a registered
//! post_logout_redirect_uri of the client the hint names. The person confirms first unless the hint proves the
//! request comes from an app of the signed-in user: no hint, a hint naming another user, or an expired hint
//! without a session all ask (§2, §6; security.md [LO-6]), so another person's ID token cannot sign anyone out.

use actix_web::{HttpRequest, HttpResponse, web};

use super::authorize::see_other;
use super::params::Params;
use super::redirect::with_params;
use crate::accounts::session;
use crate::respond::PageError;
use crate::state::AppState;
use crate::store::clients;
use crate::tokens::claims::{IdTokenHint, own_id_token_hint};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/logout", web::get().to(get))
        .route("/logout", web::post().to(post))
        .route("/logout/confirm", web::post().to(confirm));
}

struct Plan {
    /// Where to go afterwards (already validated), with `state` appended.
    target: Option<String>,
    /// The verified id_token_hint, if one was sent.
    hint: Option<IdTokenHint>,
}

async fn plan(state: &AppState, p: &Params) -> Result<Plan, PageError> {
    // [LC-3] Each refusal has its own catalogue key (`page-logout-…-title`, `-message`); the English is the fallback.
    let bad = |key: &'static str, m: &str| {
        PageError::bad_request("Cannot sign you out automatically", m.to_string()).keyed(key)
    };
    if p.first_duplicate().is_some() {
        return Err(bad("page-logout-repeated", "The logout request repeats a parameter."));
    }
    let hint = match p.get("id_token_hint") {
        Some(h) => Some(own_id_token_hint(&state.keys(), &state.settings().issuer, h).ok_or_else(|| {
            bad("page-logout-foreign-hint", "The app sent a sign-in token that this service did not issue.")
        })?),
        None => None,
    };
    let client_id = match (&hint, p.get("client_id")) {
        (Some(h), Some(cid)) if !h.aud.iter().any(|a| a == cid) => {
            return Err(bad("page-logout-mismatch", "The app and the sign-in token do not belong together."));
        }
        (Some(h), _) => h.aud.first().cloned(),
        (None, cid) => cid.map(String::from),
    };
    let target = match p.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let cid = client_id.clone().ok_or_else(|| {
                bad("page-logout-no-client", "The request names a return address but not the app it belongs to.")
            })?;
            let client = state.db.run(move |c| clients::find(c, &cid)).await?;
            let registered = client.is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            if !registered {
                return Err(bad(
                    "page-logout-unregistered",
                    "The app asked to send you to an address it has not registered.",
                ));
            }
            let mut extra = Vec::new();
            if let Some(s) = p.get("state") {
                extra.push(("state", s));
            }
            Some(with_params(uri, &extra))
        }
    };
    Ok(Plan { target, hint })
}

/// May this logout go ahead without asking? Only when the hint names the signed-in user, or, with nobody
/// signed in, when the hint is still unexpired (nothing to end; the app just signed this user in).
fn needs_no_confirmation(hint: Option<&IdTokenHint>, signed_in: Option<&str>, now: i64) -> bool {
    match (hint, signed_in) {
        (Some(h), Some(user)) => h.sub == user,
        (Some(h), None) => h.exp > now,
        (None, _) => false,
    }
}

async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    start(&state, &req, Params::parse(req.query_string())).await
}

async fn post(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, PageError> {
    start(&state, &req, Params::parse(std::str::from_utf8(&body).unwrap_or(""))).await
}

async fn start(state: &AppState, req: &HttpRequest, p: Params) -> Result<HttpResponse, PageError> {
    let plan = plan(state, &p).await?;
    let current = session::current(state, req).await?;
    let user = current.as_ref().map(|s| s.user_id.as_str());
    // [UL-7] With `logout_upstream = "ask"` the person chooses on the confirmation page, so it is always shown
    // (when the upstream sign-out can be done at all).
    let ask = match current.as_ref() {
        Some(s) => super::upstream_logout::offer(state, s).await?,
        None => None,
    };
    if ask.is_none() && needs_no_confirmation(plan.hint.as_ref(), user, state.clock.now()) {
        return finish(state, req, plan.target, false).await;
    }
    let (csrf, cookie) = session::csrf_token(state, req);
    let mut ctx = crate::respond::page_context(&state.settings());
    ctx.insert("csrf", &csrf);
    ctx.insert("params", &p.to_query());
    ctx.insert("upstream_name", &ask);
    let html = state.templates.render("logout_confirm.html", &ctx)?;
    let mut r = HttpResponse::Ok();
    if let Some(c) = cookie {
        r.cookie(c);
    }
    Ok(r.content_type("text/html; charset=utf-8").body(html))
}

#[derive(serde::Deserialize)]
struct ConfirmForm {
    csrf: Option<String>,
    params: String,
    /// [UL-7] The "Also sign out of …" box (sent only when ticked).
    upstream: Option<String>,
}

async fn confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, PageError> {
    if !session::csrf_ok(&req, form.csrf.as_deref()) {
        return Err(
            PageError::bad_request("Form expired", "Please try signing out again.").keyed("page-logout-form-expired")
        );
    }
    let plan = plan(&state, &Params::parse(&form.params)).await?;
    finish(&state, &req, plan.target, form.upstream.as_deref() == Some("yes")).await
}

/// Ends this browser's session; `ticked`: the person asked to sign out at the upstream too ([UL-7]).
async fn finish(
    state: &AppState,
    req: &HttpRequest,
    target: Option<String>,
    ticked: bool,
) -> Result<HttpResponse, PageError> {
    let (cleared, upstream, frames) = match session::current(state, req).await? {
        Some(s) => {
            // [FL-3] The apps to frame and [UL-5] the upstream sign-out: both decided before the session ends.
            let frames = super::frontchannel::frames_for(state, &s).await?;
            let upstream = super::upstream_logout::redirect_for(state, &s, target.as_deref(), &frames, ticked).await?;
            (Some(session::end(state, &s).await?), upstream, frames)
        }
        None => (None, None, vec![]),
    };
    // [FL-5] Going upstream: at once (the frames wait on the return page, so no app can hold the upstream back).
    let (mut resp, binding) = match (upstream, target) {
        (Some(u), _) => (see_other(&u.url), Some(u.cookie)),
        (None, Some(t)) if frames.is_empty() => (see_other(&t), None),
        (None, next) => (super::frontchannel::signed_out(state, &frames, next.as_deref())?, None),
    };
    for c in cleared.iter().chain(&binding) {
        let _ = resp.add_cookie(c);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(sub: &str, exp: i64) -> IdTokenHint {
        IdTokenHint { sub: sub.into(), aud: vec!["app".into()], exp }
    }

    #[test]
    fn only_the_signed_in_users_hint_or_a_fresh_one_skips_confirmation() {
        assert!(needs_no_confirmation(Some(&hint("u1", 10)), Some("u1"), 100), "expired but the same user");
        assert!(!needs_no_confirmation(Some(&hint("u2", 1000)), Some("u1"), 100), "another user's hint");
        assert!(needs_no_confirmation(Some(&hint("u1", 1000)), None, 100), "nobody signed in, fresh hint");
        assert!(!needs_no_confirmation(Some(&hint("u1", 10)), None, 100), "nobody signed in, expired hint");
        assert!(!needs_no_confirmation(None, Some("u1"), 100), "no hint");
    }
}
