use super::*;
use serde_json::json;

const NOW: i64 = 1_000_000;
const URL: &str = "https://id.example/token";

fn algs() -> Vec<String> {
    DEFAULT_ALGS.iter().map(|s| s.to_string()).collect()
}

fn header() -> serde_json::Value {
    json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}})
}

fn claims() -> ProofClaims {
    ProofClaims {
        jti: Some("j1".into()),
        htm: Some("POST".into()),
        htu: Some(URL.into()),
        iat: Some(NOW),
        ath: None,
        nonce: None,
    }
}

fn expected(token: Option<&str>) -> Expected<'_> {
    Expected { method: "POST", url: URL, access_token: token, now: NOW, window_secs: 60 }
}

fn code(e: OAuthError) -> ErrorCode {
    e.code
}

#[test]
fn dp_1_header_needs_the_dpop_type_an_allowed_alg_and_a_public_jwk() {
    assert!(check_header(&header(), &algs()).is_ok());
    for (k, v) in [("typ", json!("JWT")), ("typ", json!("DPoP+JWT")), ("alg", json!("none")), ("alg", json!("HS256"))] {
        let mut h = header();
        h[k] = v.clone();
        assert_eq!(check_header(&h, &algs()).map_err(code), Err(ErrorCode::InvalidDpopProof), "{k}={v}");
    }
    let mut h = header();
    if let Some(o) = h.as_object_mut() {
        o.remove("jwk");
    }
    assert!(check_header(&h, &algs()).is_err(), "no jwk");
    for m in ["d", "k", "p"] {
        let mut h = header();
        h["jwk"][m] = json!("AAAA");
        assert!(check_header(&h, &algs()).is_err(), "private member {m}");
    }
    let mut h = header();
    h["jwk"]["alg"] = json!("RS256");
    assert!(check_header(&h, &algs()).is_err(), "the key's alg must be the header's");
    assert!(check_header(&header(), &["RS256".to_string()]).is_err(), "not in the configured list");
    let mut h = header();
    h["alg"] = json!("HS256");
    assert!(check_header(&h, &["HS256".to_string()]).is_err(), "a MAC is refused even if configured");
}

#[test]
fn dp_1_only_asymmetric_algorithms_can_be_configured() {
    for a in DEFAULT_ALGS {
        assert!(alg_configurable(a));
    }
    for a in ["none", "HS256", "HS512", "", "es256"] {
        assert!(!alg_configurable(a), "{a}");
    }
}

#[test]
fn dp_1_claims_bind_the_proof_to_this_request() {
    assert_eq!(check_claims(&claims(), &expected(None)), Ok("j1"));
    let cases = [
        ProofClaims { jti: None, ..claims() },
        ProofClaims { jti: Some(String::new()), ..claims() },
        ProofClaims { jti: Some("x".repeat(MAX_JTI_LEN + 1)), ..claims() },
        ProofClaims { htm: Some("GET".into()), ..claims() },
        ProofClaims { htm: Some("post".into()), ..claims() },
        ProofClaims { htm: None, ..claims() },
        ProofClaims { htu: Some("https://id.example/userinfo".into()), ..claims() },
        ProofClaims { htu: Some("https://other.example/token".into()), ..claims() },
        ProofClaims { htu: Some("not a url".into()), ..claims() },
        ProofClaims { htu: None, ..claims() },
        ProofClaims { iat: None, ..claims() },
        ProofClaims { iat: Some(NOW - 61), ..claims() },
        ProofClaims { iat: Some(NOW + 61), ..claims() },
    ];
    for c in cases {
        assert_eq!(check_claims(&c, &expected(None)).map_err(code), Err(ErrorCode::InvalidDpopProof), "{c:?}");
    }
    for c in [
        ProofClaims { iat: Some(NOW - 60), ..claims() },
        ProofClaims { iat: Some(NOW + 60), ..claims() },
        ProofClaims { htu: Some("https://ID.example:443/token?x=1#f".into()), ..claims() },
    ] {
        assert!(check_claims(&c, &expected(None)).is_ok(), "{c:?}");
    }
}

#[test]
fn dp_1_ath_is_the_hash_of_the_access_token_at_resource_endpoints() {
    // RFC 9449 §7.1's example token and ath.
    let token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    assert_eq!(ath_of(token), "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
    let good = ProofClaims { ath: Some(ath_of(token)), ..claims() };
    assert!(check_claims(&good, &expected(Some(token))).is_ok());
    assert!(check_claims(&claims(), &expected(Some(token))).is_err(), "ath missing");
    let other = ProofClaims { ath: Some(ath_of("another")), ..claims() };
    assert!(check_claims(&other, &expected(Some(token))).is_err(), "ath of another token");
}

#[test]
fn dp_2_replay_keys_are_per_key_and_remembered_past_the_window() {
    assert_ne!(replay_key("k1", "j"), replay_key("k2", "j"));
    assert_ne!(replay_key("k1", "j1"), replay_key("k1j", "1"));
    assert_eq!(replay_key("k1", "j").len(), 64);
    assert_eq!(remember_until(NOW - 10, NOW, 60, 30), NOW + 90);
    assert_eq!(remember_until(NOW + 50, NOW, 60, 30), NOW + 140);
}

#[test]
fn dp_3_nonces_are_valid_for_this_step_and_the_one_before() {
    assert_eq!(nonce_steps(1000, 60), [16, 15]);
    assert_eq!(nonce_steps(959, 60), [15, 14]);
    assert_eq!(nonce_steps(5, 0), [5, 4], "a zero step cannot divide by zero");
}

#[test]
fn dp_4_bound_codes_and_refresh_tokens_need_the_same_key() {
    assert!(check_binding(None, None, "code").is_ok());
    assert!(check_binding(None, Some("a"), "code").is_ok());
    assert!(check_binding(Some("a"), Some("a"), "code").is_ok());
    assert_eq!(check_binding(Some("a"), None, "code").map_err(code), Err(ErrorCode::InvalidDpopProof));
    assert_eq!(check_binding(Some("a"), Some("b"), "code").map_err(code), Err(ErrorCode::InvalidDpopProof));
    assert_eq!(refresh_binding(true, Some("a")), Some("a"));
    assert_eq!(refresh_binding(false, Some("a")), None, "confidential clients' refresh tokens are not bound");
    assert!(is_thumbprint("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"));
    assert!(!is_thumbprint("short") && !is_thumbprint(&"a+".repeat(22)[..43]));
}
