//! Client authentication with `private_key_jwt` (RFC 7523 §2.2 and §3, OIDC Core §9): the rules a client
//! assertion's header and claims must meet once its signature verified against the keys the client registered.
//! Signature checking itself is the server's (jsonwebtoken); the replay check (`jti` seen before) is storage.

use serde::Deserialize;

/// RFC 7523 §2.2 `client_assertion_type`.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// [PJ-5] The signing algorithms a client assertion may use (asymmetric only; never `none` or a MAC).
pub const ALGS: &[&str] = &["ES256", "EdDSA", "RS256", "PS256"];
/// [PJ-3] An assertion may be valid for at most this long from now (its `exp`), so that its `jti` need only be
/// remembered that long.
pub const MAX_LIFETIME_SECS: i64 = 300;
/// [PJ-3] Clock skew allowed on `iat` and `nbf` (FAPI2 accepts `nbf` 8 s ahead and refuses 60 s; strictly below
/// 60 s, so a token 60 s ahead is refused), and the extra time a `jti` is remembered past its `exp` ([PJ-4]).
pub const SKEW_SECS: i64 = 30;

/// `aud`: one string or an array of them (RFC 7519 §4.1.3). Both shapes parse, so that an array is refused by
/// [PJ-2]'s rule rather than by the parser.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// [PJ-2] RFC 10070: the issuer identifier, as a single string, is the only audience (never an array, even
    /// one holding just the issuer; never an endpoint URL).
    fn is_exactly(&self, issuer: &str) -> bool {
        matches!(self, Audience::One(a) if a == issuer)
    }
}

/// The claims of a client assertion (RFC 7523 §3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AssertionClaims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Option<Audience>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub jti: Option<String>,
}

/// Longest `jti` remembered (it is hashed; this only bounds what is hashed).
const MAX_JTI_LEN: usize = 512;

/// [PJ-5] RFC 10070's explicit type for client assertions (RFC 8725 §3.11).
pub const TYP: &str = "client-authentication+jwt";

/// [PJ-5] May a JWT with this header `typ` be a client assertion? None, `JWT` or `client-authentication+jwt`
/// (case-insensitive, the `application/` prefix optional, RFC 7515 §4.1.9); any other type — a DPoP proof, a
/// request object, an access token, a logout token — is a JWT made for something else and is refused.
pub fn typ_allowed(typ: Option<&str>) -> bool {
    let Some(t) = typ else { return true };
    let t = t.to_ascii_lowercase();
    let t = t.strip_prefix("application/").unwrap_or(&t);
    t == "jwt" || t == TYP
}

/// [PJ-5] Is this header algorithm one a client assertion may use?
pub fn alg_allowed(alg: &str) -> bool {
    ALGS.contains(&alg)
}

/// [PJ-2] [PJ-3] The claims of a verified assertion: `iss` = `sub` = the client id, `aud` the issuer identifier
/// as a string (RFC 10070), `exp` in the future and at most `MAX_LIFETIME_SECS` ahead,
/// `iat` and `nbf` not in the future (beyond the skew), a `jti` (its single use is checked by the caller).
/// Returns the `jti` and the time until which it must be remembered.
pub fn check_claims<'a>(
    c: &'a AssertionClaims,
    client_id: &str,
    issuer: &str,
    now: i64,
) -> Result<(&'a str, i64), &'static str> {
    if c.iss.as_deref() != Some(client_id) || c.sub.as_deref() != Some(client_id) {
        return Err("the assertion's iss and sub must both be the client id");
    }
    if !c.aud.as_ref().is_some_and(|a| a.is_exactly(issuer)) {
        return Err("the assertion's aud must be the issuer identifier, as a string");
    }
    let exp = c.exp.ok_or("the assertion has no exp")?;
    if exp <= now {
        return Err("the assertion has expired");
    }
    if exp > now + MAX_LIFETIME_SECS {
        return Err("the assertion is valid for too long (exp too far ahead)");
    }
    if c.iat.is_some_and(|iat| iat > now + SKEW_SECS) || c.nbf.is_some_and(|nbf| nbf > now + SKEW_SECS) {
        return Err("the assertion is not valid yet");
    }
    let jti = c.jti.as_deref().filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN).ok_or("the assertion has no jti")?;
    Ok((jti, exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;
    const AUD: &str = "https://id.example";

    fn good() -> AssertionClaims {
        AssertionClaims {
            iss: Some("app".into()),
            sub: Some("app".into()),
            aud: Some(Audience::One("https://id.example".into())),
            exp: Some(NOW + 60),
            iat: Some(NOW),
            nbf: None,
            jti: Some("j1".into()),
        }
    }

    #[test]
    fn pj_2_iss_sub_and_aud_must_name_the_client_and_us() {
        assert_eq!(check_claims(&good(), "app", AUD, NOW), Ok(("j1", NOW + 60)));
        let c = AssertionClaims { sub: Some("other".into()), ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_err());
        let c = AssertionClaims { iss: None, ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_err());
        let c = AssertionClaims { aud: Some(Audience::One("https://other.example/token".into())), ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_err());
        let c = AssertionClaims { aud: None, ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_err());
    }

    #[test]
    fn pj_2_only_the_issuer_string_is_an_audience() {
        for aud in [
            Audience::One("https://id.example/token".into()),
            Audience::One("https://id.example/par".into()),
            Audience::One("https://id.example/".into()),
            Audience::Many(vec!["https://id.example".into()]),
            Audience::Many(vec!["https://id.example".into(), "x".into()]),
        ] {
            let c = AssertionClaims { aud: Some(aud.clone()), ..good() };
            assert!(check_claims(&c, "app", AUD, NOW).is_err(), "{aud:?}");
        }
        assert!(check_claims(&good(), "app", AUD, NOW).is_ok());
    }

    #[test]
    fn pj_3_exp_is_required_future_and_bounded_and_jti_required() {
        let c = AssertionClaims { exp: None, ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_err());
        let c = AssertionClaims { exp: Some(NOW), ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_err());
        let c = AssertionClaims { exp: Some(NOW + MAX_LIFETIME_SECS + 1), ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_err());
        let c = AssertionClaims { iat: Some(NOW + SKEW_SECS + 1), ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_err());
        let c = AssertionClaims { nbf: Some(NOW + SKEW_SECS + 1), ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_err());
        let c = AssertionClaims { nbf: Some(NOW + 60), ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_err(), "nbf 60 s ahead");
        let c = AssertionClaims { nbf: Some(NOW + 8), iat: Some(NOW + 8), ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_ok(), "8 s of skew");
        let c = AssertionClaims { jti: None, ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_err());
        let c = AssertionClaims { jti: Some("x".repeat(513)), ..good() };
        assert!(check_claims(&c, "app", AUD, NOW).is_err());
    }

    #[test]
    fn pj_5_an_assertion_with_a_foreign_typ_is_refused() {
        for t in [
            None,
            Some("JWT"),
            Some("jwt"),
            Some("client-authentication+jwt"),
            Some("application/client-authentication+jwt"),
        ] {
            assert!(typ_allowed(t), "{t:?}");
        }
        for t in ["dpop+jwt", "oauth-authz-req+jwt", "at+jwt", "application/at+jwt", "logout+jwt", "JOSE", ""] {
            assert!(!typ_allowed(Some(t)), "{t}");
        }
    }

    #[test]
    fn pj_5_only_asymmetric_allow_listed_algorithms() {
        for a in ["ES256", "EdDSA", "RS256", "PS256"] {
            assert!(alg_allowed(a));
        }
        for a in ["none", "HS256", "RS512", "ES384", ""] {
            assert!(!alg_allowed(a));
        }
    }
}
