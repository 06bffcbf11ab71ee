//! [DV-3] [DV-4] The verification page of the device grant (RFC 8628 §3.3): `GET /device` asks the signed-in
//! person for the code their device shows (a `?user_code=` prefills the field, nothing more: a link alone never
//! approves anything), `POST /device` looks it up under the guess budget and shows the consent page (the app's
//! name, the scopes and the code again), `POST /device/consent` records the answer. Without a broker session the
//! person signs in first and comes back here (the `bk_device` cookie remembers the prefill).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bridgekeeper_core::device;

use crate::accounts::session;
use crate::respond::{PageError, html, see_other};
use crate::secret::hash_token;
use crate::state::AppState;
use crate::store::device_codes::{self, DeviceCode};
use crate::store::sessions::Session;

/// Remembers, across the sign-in, that the person was entering a device code (and the prefill, or `-`).
const RETURN_COOKIE: &str = "bk_device";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/device", web::get().to(entry_page))
        .route("/device", web::post().to(enter))
        .route("/device/consent", web::post().to(decide));
}

fn enabled(state: &AppState) -> Result<(), PageError> {
    if state.settings().device.enabled {
        return Ok(());
    }
    Err(PageError::new(StatusCode::NOT_FOUND, "Not found", "There is no such page here.").keyed("page-device-off"))
}

/// [DV-3] After a sign-in that began at `/device`: back there, with the prefill (called by the login).
pub fn after_sign_in(state: &AppState, req: &HttpRequest) -> Option<String> {
    if !state.settings().device.enabled {
        return None;
    }
    let c = req.cookie(RETURN_COOKIE)?;
    Some(match device::normalize(c.value()) {
        Some(code) => format!("/device?user_code={}", device::display(&code)),
        None => "/device".to_string(),
    })
}

/// [DV-3] Every sign-in forgets the return to `/device` (it was for that sign-in only).
pub fn forget_return(state: &AppState, req: &HttpRequest, r: &mut HttpResponse) {
    if req.cookie(RETURN_COOKIE).is_some() {
        let mut gone = session::cookie(state, RETURN_COOKIE, String::new(), 0);
        gone.make_removal();
        let _ = r.add_cookie(&gone);
    }
}

/// The signed-in, enabled person of this browser.
async fn signed_in(state: &AppState, req: &HttpRequest) -> Result<Option<Session>, PageError> {
    let Some(s) = session::current(state, req).await? else { return Ok(None) };
    let id = s.user_id.clone();
    let enabled = state.db.run(move |c| crate::store::users::find(c, &id)).await?.is_some_and(|u| !u.disabled);
    Ok(enabled.then_some(s))
}

/// To the usual sign-in, remembering to come back with `prefill`.
fn to_sign_in(state: &AppState, prefill: Option<&str>) -> HttpResponse {
    let value = prefill.and_then(device::normalize).unwrap_or_else(|| "-".into());
    let mut r = see_other("/login");
    let _ = r.add_cookie(&session::cookie(state, RETURN_COOKIE, value, 900));
    r
}

#[derive(serde::Deserialize)]
struct Prefill {
    user_code: Option<String>,
}

async fn entry_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<Prefill>,
) -> Result<HttpResponse, PageError> {
    enabled(&state)?;
    if signed_in(&state, &req).await?.is_none() {
        return Ok(to_sign_in(&state, q.user_code.as_deref()));
    }
    let prefill = q.user_code.as_deref().and_then(device::normalize).map(|c| device::display(&c));
    entry(&state, &req, prefill.as_deref(), false, StatusCode::OK)
}

/// The form asking for the code (with a "not valid" line after a wrong one).
fn entry(
    state: &AppState,
    req: &HttpRequest,
    prefill: Option<&str>,
    wrong: bool,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let (csrf, cookie) = session::csrf_token(state, req);
    let mut ctx = super::context(state);
    ctx.insert("csrf", &csrf);
    ctx.insert("user_code", &prefill.unwrap_or_default());
    ctx.insert("wrong", &wrong);
    let mut r = html(state.templates.render("device.html", &ctx)?, cookie);
    *r.status_mut() = status;
    if req.cookie(RETURN_COOKIE).is_some() {
        let mut gone = session::cookie(state, RETURN_COOKIE, String::new(), 0);
        gone.make_removal();
        let _ = r.add_cookie(&gone);
    }
    Ok(r)
}

#[derive(serde::Deserialize)]
struct Entered {
    csrf: Option<String>,
    user_code: Option<String>,
    decision: Option<String>,
}

fn form_expired() -> PageError {
    PageError::bad_request("Form expired", "Please go back to the app and try again.").keyed("page-consent-expired")
}

/// [DV-4] The pending code a typed user code names, under the guess budget. Input that is no code (not 8
/// letters of the alphabet) is never looked up and costs nothing. Every other try is charged to the session and
/// the address before the lookup; a try over either budget is refunded and answered 429 (nothing looked up, no
/// row left behind); a try that names a live pending code is refunded; a wrong one stays counted for the window.
async fn lookup(
    state: &AppState,
    req: &HttpRequest,
    sess: &Session,
    typed: &str,
) -> Result<Option<(DeviceCode, String)>, PageError> {
    let Some(code) = device::normalize(typed) else { return Ok(None) };
    let s = state.settings();
    let ip = crate::ratelimit::budget_key(crate::ratelimit::client_ip(req));
    let keys = vec![hash_token(&format!("device-session:{}", sess.id_hash)), hash_token(&format!("device-ip:{ip}"))];
    let now = state.clock.now();
    let until = now + s.device.wrong_code_window_secs;
    let (ids, counts) = state.db.run(move |c| device_codes::charge_guess(c, &keys, now, until)).await?;
    let before = |i: usize| counts.get(i).copied().unwrap_or(i64::MAX).saturating_sub(1);
    if !device::may_guess(before(0), before(1), s.device.guess_budget()) {
        state.db.run(move |c| device_codes::refund_guess(c, &ids)).await?;
        state.metrics.rate_limited.with_label_values(&["device_code_guesses"]).inc();
        return Err(too_many(s.device.wrong_code_window_secs));
    }
    let hash = hash_token(&code);
    let found = state.db.run(move |c| device_codes::find_pending(c, &hash, now)).await?;
    match found {
        Some(f) => {
            state.db.run(move |c| device_codes::refund_guess(c, &ids)).await?;
            Ok(Some((f, code)))
        }
        None => {
            tracing::info!(target: "audit", event = "device_code_wrong", "a wrong user code was entered");
            Ok(None)
        }
    }
}

fn too_many(window_secs: i64) -> PageError {
    let mut e = PageError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many wrong codes",
        "Too many wrong codes were entered. Wait a while, then try again with the code your device shows.",
    )
    .keyed("page-device-too-many");
    e.retry_after = Some(window_secs.max(1) as u64);
    e
}

/// `POST /device`: the code entered; the consent page for it, or the form again.
async fn enter(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Entered>,
) -> Result<HttpResponse, PageError> {
    enabled(&state)?;
    if !session::csrf_ok(&req, form.csrf.as_deref()) {
        return Err(form_expired());
    }
    let typed = form.user_code.as_deref().unwrap_or_default();
    let Some(sess) = signed_in(&state, &req).await? else { return Ok(to_sign_in(&state, Some(typed))) };
    match lookup(&state, &req, &sess, typed).await? {
        Some((code, typed)) => super::device_consent::page(&state, &req, &sess, &code, &typed).await,
        None => entry(&state, &req, None, true, StatusCode::BAD_REQUEST),
    }
}

/// `POST /device/consent`: allow or deny, for the code the page showed (looked up again, under the same budget:
/// posting here directly is no way around it).
async fn decide(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Entered>,
) -> Result<HttpResponse, PageError> {
    enabled(&state)?;
    if !session::csrf_ok(&req, form.csrf.as_deref()) {
        return Err(form_expired());
    }
    let Some(sess) = signed_in(&state, &req).await? else {
        return Err(PageError::bad_request("Signed out", "Your session ended. Go back to the app and sign in again.")
            .keyed("page-session-ended"));
    };
    let Some((code, _)) = lookup(&state, &req, &sess, form.user_code.as_deref().unwrap_or_default()).await? else {
        return Err(gone());
    };
    let allow = form.decision.as_deref() == Some("allow");
    super::device_consent::answer(&state, &sess, &code, allow).await
}

/// The code is unknown, answered already, or expired.
pub(super) fn gone() -> PageError {
    PageError::bad_request(
        "Code not valid",
        "This code is not valid any more: it was used or has expired. Start again on your device.",
    )
    .keyed("page-device-gone")
}
