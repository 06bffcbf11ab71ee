//! DPoP (RFC 9449) at our endpoints: the one `DPoP` header of a request ([DP-1]), verified and checked against
//! the endpoint, its `jti` remembered across instances ([DP-2]), and the stateless server nonces ([DP-3]). The
//! rules are `bridgekeeper_core::dpop`; the signature is `tokens::dpop_proof`.

use actix_web::HttpRequest;
use actix_web::http::header::{HeaderName, HeaderValue};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bridgekeeper_core::dpop::{self, Expected, MAX_NONCE_LEN, invalid};

use super::{ErrorCode, OAuthError};
use crate::state::AppState;

/// The request header carrying a proof.
pub const HEADER: &str = "dpop";
/// The response header carrying a fresh server nonce.
pub const NONCE_HEADER: &str = "dpop-nonce";
/// [DP-2] How much longer than its window a `jti` is remembered (an instance whose clock is behind the one that
/// saw it still finds it).
pub const REPLAY_SKEW_SECS: i64 = 30;

/// A valid proof: the thumbprint of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
    /// The proof's `alg` (one of `[dpop] algs`).
    pub alg: String,
}

/// [DP-1] The request's proof: `None` when it sent none (or DPoP is off); refused when it sent two.
fn proof_header(req: &HttpRequest) -> Result<Option<&str>, OAuthError> {
    let mut all = req.headers().get_all(HEADER);
    let first = all.next();
    if all.next().is_some() {
        return Err(invalid("send exactly one DPoP proof"));
    }
    first.map(|v| v.to_str().map_err(|_| invalid("the DPoP proof is not text"))).transpose()
}

/// [DP-1] [DP-2] [DP-3] Verifies the request's proof for the endpoint at `path` (a resource endpoint passes the
/// `access_token` the proof must be bound to): signature, header and claims, the server nonce when required, and
/// a `jti` never seen before on any instance.
pub async fn verify(
    state: &AppState,
    req: &HttpRequest,
    path: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, OAuthError> {
    let s = state.settings();
    if !s.dpop.enabled {
        return Ok(None);
    }
    let Some(text) = proof_header(req)? else { return Ok(None) };
    let verified = crate::tokens::dpop_proof::verify(text, &s.dpop.algs)?;
    let url = format!("{}{path}", s.issuer_base());
    let now = state.clock.now();
    let window = s.dpop.iat_window_secs;
    let expected = Expected { method: req.method().as_str(), url: &url, access_token, now, window_secs: window };
    let jti = dpop::check_claims(&verified.claims, &expected)?;
    if s.dpop.require_nonce && !nonce_valid(state, verified.claims.nonce.as_deref(), now) {
        return Err(OAuthError::new(ErrorCode::UseDpopNonce, "the DPoP proof must carry the server's current nonce"));
    }
    let key = dpop::replay_key(&verified.jkt, jti);
    let until = dpop::remember_until(verified.claims.iat.unwrap_or(now), now, REPLAY_SKEW_SECS);
    if !state.dpop_jtis.remember(key, until).await? {
        return Err(invalid("the DPoP proof was used before"));
    }
    Ok(Some(Proof { jkt: verified.jkt, alg: verified.alg }))
}

/// [FA-6] A proof the client's profile allows (a fapi2 client's are PS256, ES256 or EdDSA).
pub fn check_profile_alg(
    proof: Option<&Proof>,
    profile: bridgekeeper_core::client_profile::Profile,
) -> Result<(), OAuthError> {
    match proof {
        Some(p) if !profile.alg_allowed(&p.alg) => Err(invalid("the DPoP proof's alg is not allowed for this client")),
        _ => Ok(()),
    }
}

/// [DP-3] The nonce key: HKDF-SHA256 (RFC 5869) of the shared server secret the CSRF key is made of (stored sealed
/// in the database, so every instance makes and accepts the same nonces), with its own salt and info. The CSRF
/// key is the secret itself and its form tokens are HMACs under it; an HKDF output is an HMAC under another key
/// (the extract step's, keyed by the salt), so no form token, whatever cookie value an attacker chooses, is this
/// key.
pub fn nonce_key(shared_secret: &[u8]) -> hmac::Key {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(NONCE_KEY_SALT), shared_secret);
    let mut okm = [0u8; 32];
    // 32 bytes are far below HKDF-SHA256's 255 × 32 limit: `expand` cannot fail here.
    let _ = hk.expand(NONCE_KEY_INFO, &mut okm);
    hmac::Key::new(hmac::HMAC_SHA256, &okm)
}

const NONCE_KEY_SALT: &[u8] = b"bridgekeeper key derivation v1";
const NONCE_KEY_INFO: &[u8] = b"bridgekeeper dpop nonce key v2";

/// [DP-3] The nonce of a time step: the step and a MAC over it, base64url.
fn nonce_of(key: &hmac::Key, step: i64) -> String {
    let mut msg = b"dpop-nonce:".to_vec();
    msg.extend_from_slice(&step.to_be_bytes());
    let tag = hmac::sign(key, &msg);
    let mut out = step.to_be_bytes().to_vec();
    out.extend_from_slice(tag.as_ref().get(..16).unwrap_or_default());
    URL_SAFE_NO_PAD.encode(out)
}

/// [DP-3] The nonce to hand out now.
pub fn current_nonce(state: &AppState) -> String {
    let [step, _] = dpop::nonce_steps(state.clock.now(), state.settings().dpop.nonce_step_secs);
    nonce_of(&state.dpop_nonce_key, step)
}

/// [DP-3] Is `nonce` one of this or the previous time step's?
fn nonce_valid(state: &AppState, nonce: Option<&str>, now: i64) -> bool {
    let Some(n) = nonce.filter(|n| n.len() <= MAX_NONCE_LEN) else { return false };
    let key = &state.dpop_nonce_key;
    dpop::nonce_steps(now, state.settings().dpop.nonce_step_secs)
        .iter()
        .any(|step| crate::secret::ct_eq(nonce_of(key, *step).as_bytes(), n.as_bytes()))
}

/// [DP-3] Adds a fresh `DPoP-Nonce` to a response when nonces are required (errors and successes alike).
pub fn add_nonce(state: &AppState, resp: &mut actix_web::HttpResponse) {
    let s = state.settings();
    if !(s.dpop.enabled && s.dpop.require_nonce) {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(&current_nonce(state)) {
        resp.headers_mut().insert(HeaderName::from_static(NONCE_HEADER), v);
    }
}

/// [DP-5] At a resource endpoint (`path`, the request's own): a token bound to a key (`bound`, its `cnf.jkt`)
/// comes with the `DPoP` scheme (`dpop_scheme`) and a proof of that key bound to it by `ath`; an unbound token
/// never comes with the `DPoP` scheme. A wrong scheme is `invalid_token`, a missing or wrong proof
/// `invalid_dpop_proof`, a storage failure `temporarily_unavailable`. Every place that accepts our access tokens
/// calls this.
pub async fn check_presentation(
    state: &AppState,
    req: &HttpRequest,
    path: &str,
    dpop_scheme: bool,
    token: &str,
    bound: Option<&str>,
) -> Result<(), OAuthError> {
    let Some(jkt) = bound else {
        if dpop_scheme {
            return Err(OAuthError::new(ErrorCode::InvalidToken, "the access token is not DPoP-bound"));
        }
        return Ok(());
    };
    if !dpop_scheme {
        let desc = "the access token is DPoP-bound: use the DPoP scheme with a proof";
        return Err(OAuthError::new(ErrorCode::InvalidToken, desc));
    }
    match verify(state, req, path, Some(token)).await? {
        Some(p) if p.jkt == jkt => Ok(()),
        Some(_) => Err(invalid("the DPoP proof's key is not the token's")),
        None => Err(invalid("a DPoP proof is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key a CSRF form token would be for a cookie whose value is `v` (what the nonce key was before: an HMAC
    /// under the CSRF key of a label an attacker could choose as a cookie value).
    fn form_token_key(secret: &[u8], v: &[u8]) -> hmac::Key {
        let t = hmac::sign(&crate::accounts::session::csrf_key(secret), v);
        hmac::Key::new(hmac::HMAC_SHA256, t.as_ref())
    }

    #[test]
    fn dp_3_the_nonce_key_is_not_obtainable_as_a_csrf_form_token() {
        let secret = b"the shared server secret of a test broker";
        let key = nonce_key(secret);
        let nonce = nonce_of(&key, 7);
        assert_eq!(nonce, nonce_of(&nonce_key(secret), 7), "every instance derives the same key");
        assert_ne!(nonce, nonce_of(&nonce_key(b"another broker's secret"), 7));
        for label in [NONCE_KEY_INFO, NONCE_KEY_SALT, b"bridgekeeper dpop nonce key v1".as_slice()] {
            let padded = [label, b"-padded-to-a-cookie-length".as_slice()].concat();
            for v in [label, padded.as_slice()] {
                assert_ne!(nonce, nonce_of(&form_token_key(secret, v), 7), "{}", String::from_utf8_lossy(v));
            }
        }
    }
}
