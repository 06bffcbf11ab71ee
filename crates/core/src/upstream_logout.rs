//! OpenID Connect Back-Channel Logout 1.0, the broker as the RP an upstream tells: the checks of §2.6 on a Logout
//! Token whose signature the server crate has already verified against the upstream's JWKS.

use serde_json::Value;

use crate::backchannel::BACKCHANNEL_EVENT;

/// Why a Logout Token is not believed. `Display` is the `error_description` of the 400 answer (§2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    /// `alg: none`, a MAC or an algorithm the upstream does not sign ID tokens with.
    Alg,
    Signature,
    Typ,
    Iss,
    Aud,
    Iat,
    Expired,
    Events,
    NoSubject,
    Nonce,
    Jti,
    Replayed,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Malformed => "the logout token is not a signed JWT",
            Refusal::Alg => "the logout token's algorithm is not accepted",
            Refusal::Signature => "the logout token's signature does not verify with the provider's keys",
            Refusal::Typ => "the logout token's typ is not logout+jwt",
            Refusal::Iss => "the logout token's iss is not the provider's issuer",
            Refusal::Aud => "the logout token is not meant for this client",
            Refusal::Iat => "the logout token's iat is missing or outside the accepted window",
            Refusal::Expired => "the logout token has expired",
            Refusal::Events => "the logout token lacks the back-channel logout event",
            Refusal::NoSubject => "the logout token names neither sid nor sub",
            Refusal::Nonce => "a logout token must not contain a nonce",
            Refusal::Jti => "the logout token has no jti",
            Refusal::Replayed => "the logout token was already used",
        })
    }
}

/// What the broker expects of a Logout Token from one provider.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub now: i64,
    /// Oldest accepted `iat`, in seconds before `now`.
    pub max_age_secs: i64,
    /// Clock skew tolerated for `iat` in the future and for `exp`.
    pub skew_secs: i64,
}

/// What a believed Logout Token says to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutSubject {
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub jti: String,
    /// Until when the `jti` must be remembered (after that the token fails the `iat` window anyway).
    pub keep_until: i64,
}

/// [UL-2] The JOSE header: `alg` never `none` nor a MAC (the broker holds no secret shared for this), and among
/// the algorithms the provider signs ID tokens with; `typ`, when present, `logout+jwt` (§2.4); no `crit`.
pub fn check_header(header: &Value, allowed_algs: &[&str]) -> Result<(), Refusal> {
    let alg = header.get("alg").and_then(Value::as_str).ok_or(Refusal::Malformed)?;
    if alg.eq_ignore_ascii_case("none") || alg.starts_with("HS") || !allowed_algs.contains(&alg) {
        return Err(Refusal::Alg);
    }
    if header.get("crit").is_some() {
        return Err(Refusal::Malformed);
    }
    match header.get("typ") {
        None => Ok(()),
        Some(Value::String(t))
            if t.eq_ignore_ascii_case("logout+jwt") || t.eq_ignore_ascii_case("application/logout+jwt") =>
        {
            Ok(())
        }
        Some(_) => Err(Refusal::Typ),
    }
}

/// [UL-2] The claims (§2.6 steps 3–5 and §2.4): `iss`, `aud` (string or list) containing our client id, `iat`
/// within the window, `exp` if present not passed, the `events` member with an object value, `sid` and/or `sub`,
/// no `nonce`, a `jti`.
pub fn check_claims(claims: &Value, e: &Expected<'_>) -> Result<LogoutSubject, Refusal> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
    if text("iss").as_deref() != Some(e.issuer) {
        return Err(Refusal::Iss);
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == e.client_id,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(e.client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err(Refusal::Aud);
    }
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or(Refusal::Iat)?;
    if iat > e.now + e.skew_secs || iat < e.now - e.max_age_secs {
        return Err(Refusal::Iat);
    }
    let exp = match claims.get("exp") {
        None => None,
        Some(v) => Some(v.as_i64().ok_or(Refusal::Expired)?),
    };
    if exp.is_some_and(|x| x + e.skew_secs <= e.now) {
        return Err(Refusal::Expired);
    }
    if !claims.get("events").and_then(|ev| ev.get(BACKCHANNEL_EVENT)).is_some_and(Value::is_object) {
        return Err(Refusal::Events);
    }
    if claims.get("nonce").is_some() {
        return Err(Refusal::Nonce);
    }
    let (sid, sub) = (text("sid"), text("sub"));
    if sid.is_none() && sub.is_none() {
        return Err(Refusal::NoSubject);
    }
    let jti = text("jti").ok_or(Refusal::Jti)?;
    let keep_until = (iat + e.max_age_secs + e.skew_secs).max(exp.unwrap_or(0));
    Ok(LogoutSubject { sid, sub, jti, keep_until })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expected() -> Expected<'static> {
        Expected { issuer: "https://up", client_id: "broker", now: 1000, max_age_secs: 300, skew_secs: 60 }
    }

    fn good() -> Value {
        json!({"iss": "https://up", "aud": ["broker", "x"], "iat": 990, "exp": 1100, "jti": "j",
               "events": {BACKCHANNEL_EVENT: {}}, "sid": "s1"})
    }

    fn with(k: &str, v: Value) -> Value {
        let mut c = good();
        c[k] = v;
        c
    }

    fn without(k: &str) -> Value {
        let mut c = good();
        c.as_object_mut().unwrap().remove(k);
        c
    }

    #[test]
    fn ul_2_a_good_token_names_what_to_end() {
        let s = check_claims(&good(), &expected()).unwrap();
        assert_eq!((s.sid.as_deref(), s.sub.as_deref(), s.jti.as_str()), (Some("s1"), None, "j"));
        assert_eq!(s.keep_until, 990 + 360);
        let by_sub = check_claims(&with("sub", json!("u")), &expected()).unwrap();
        assert_eq!(by_sub.sub.as_deref(), Some("u"));
    }

    #[test]
    fn ul_2_every_claim_rule_refuses_its_violation() {
        let e = expected();
        assert_eq!(check_claims(&with("iss", json!("https://other")), &e), Err(Refusal::Iss));
        assert_eq!(check_claims(&with("aud", json!("someone")), &e), Err(Refusal::Aud));
        assert_eq!(check_claims(&without("aud"), &e), Err(Refusal::Aud));
        assert_eq!(check_claims(&without("iat"), &e), Err(Refusal::Iat));
        assert_eq!(check_claims(&with("iat", json!(500)), &e), Err(Refusal::Iat), "too old");
        assert_eq!(check_claims(&with("iat", json!(1100)), &e), Err(Refusal::Iat), "in the future");
        assert_eq!(check_claims(&with("exp", json!(900)), &e), Err(Refusal::Expired));
        assert!(check_claims(&without("exp"), &e).is_ok(), "exp is optional in 1.0");
        assert_eq!(check_claims(&without("events"), &e), Err(Refusal::Events));
        assert_eq!(check_claims(&with("events", json!({"other": {}})), &e), Err(Refusal::Events));
        assert_eq!(check_claims(&with("events", json!({BACKCHANNEL_EVENT: "x"})), &e), Err(Refusal::Events));
        assert_eq!(check_claims(&with("nonce", json!("n")), &e), Err(Refusal::Nonce));
        assert_eq!(check_claims(&without("sid"), &e), Err(Refusal::NoSubject));
        assert_eq!(check_claims(&without("jti"), &e), Err(Refusal::Jti));
    }

    #[test]
    fn ul_2_alg_none_macs_and_foreign_typs_are_refused() {
        let algs = ["RS256", "ES256"];
        assert!(check_header(&json!({"alg": "RS256", "typ": "logout+jwt"}), &algs).is_ok());
        assert!(check_header(&json!({"alg": "ES256"}), &algs).is_ok());
        assert_eq!(check_header(&json!({"alg": "none"}), &algs), Err(Refusal::Alg));
        assert_eq!(check_header(&json!({"alg": "HS256"}), &["HS256"]), Err(Refusal::Alg));
        assert_eq!(check_header(&json!({"alg": "PS512"}), &algs), Err(Refusal::Alg));
        assert_eq!(check_header(&json!({"alg": "RS256", "typ": "JWT"}), &algs), Err(Refusal::Typ));
        assert_eq!(check_header(&json!({"alg": "RS256", "crit": ["x"]}), &algs), Err(Refusal::Malformed));
        assert_eq!(check_header(&json!({}), &algs), Err(Refusal::Malformed));
    }
}
