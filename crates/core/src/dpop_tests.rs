use super::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

const NOW: i64 = 1_000_000;
const URL: &str = "https://id.example/token";

fn algs() -> Vec<String> {
    DEFAULT_ALGS.iter().map(|s| s.to_string()).collect()
}

fn header() -> serde_json::Value {
    json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": ec_jwk("P-256", 32)})
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn ec_jwk(crv: &str, len: usize) -> serde_json::Value {
    json!({"kty": "EC", "crv": crv, "x": b64(&vec![7; len]), "y": b64(&vec![9; len])})
}

fn rsa_jwk(n: &[u8], e: &[u8]) -> serde_json::Value {
    json!({"kty": "RSA", "n": b64(n), "e": b64(e)})
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
    assert_eq!(remember_until(NOW - 10, NOW, 30), NOW + MAX_IAT_WINDOW_SECS + 30);
    assert_eq!(remember_until(NOW + 50, NOW, 30), NOW + 50 + MAX_IAT_WINDOW_SECS + 30);
}

/// [DP-2] `iat_window_secs` is reloadable (5..=300): a `jti` seen under a narrow window is remembered for as long as
/// the widest window could still accept its proof, so a reload that widens the window never makes it new again.
#[test]
fn dp_2_a_proof_is_still_refused_after_the_window_is_widened_by_a_reload() {
    let until = remember_until(NOW, NOW, 0);
    let widened = Expected { now: until - 1, window_secs: MAX_IAT_WINDOW_SECS, ..expected(None) };
    let c = ProofClaims { iat: Some(NOW), ..claims() };
    assert!(check_claims(&c, &widened).is_ok(), "still acceptable by its iat one second before it is forgotten");
    let after = Expected { now: until + 1, ..widened };
    assert!(check_claims(&c, &after).is_err(), "forgotten only once no window accepts it");
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

fn with(alg: &str, jwk: serde_json::Value) -> serde_json::Value {
    json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk})
}

fn all_algs() -> Vec<String> {
    SUPPORTED_ALGS.iter().map(|s| s.to_string()).collect()
}

/// [DP-1] One key, one thumbprint: the JWK's type, curve and coordinate lengths are the alg's (the verifier ignores
/// `crv`, the thumbprint hashes it as written).
#[test]
fn dp_1_a_jwk_whose_crv_is_not_the_algs_curve_is_refused() {
    let okp = |crv: &str, len: usize| json!({"kty": "OKP", "crv": crv, "x": b64(&vec![5; len])});
    let good_n = [vec![0xc1], vec![3; 255]].concat();
    let ok = [
        with("ES256", ec_jwk("P-256", 32)),
        with("ES384", ec_jwk("P-384", 48)),
        with("EdDSA", okp("Ed25519", 32)),
        with("RS256", rsa_jwk(&good_n, &[1, 0, 1])),
        with("PS256", rsa_jwk(&good_n, &[1, 0, 1])),
    ];
    for h in ok {
        assert!(check_header(&h, &all_algs()).is_ok(), "{h}");
    }
    let bad = [
        with("ES256", ec_jwk("P-384", 32)),
        with("ES256", ec_jwk("p-256", 32)),
        with("ES256", json!({"kty": "EC", "x": b64(&[7; 32]), "y": b64(&[9; 32])})),
        with("ES256", ec_jwk("P-256", 33)),
        with("ES256", ec_jwk("P-256", 31)),
        with("ES384", ec_jwk("P-256", 32)),
        with("ES256", okp("Ed25519", 32)),
        with("EdDSA", okp("Ed448", 32)),
        with("EdDSA", okp("Ed25519", 33)),
        with("EdDSA", ec_jwk("P-256", 32)),
        with("RS256", ec_jwk("P-256", 32)),
        with("ES256", rsa_jwk(&good_n, &[1, 0, 1])),
    ];
    for h in bad {
        assert_eq!(check_header(&h, &all_algs()).map_err(code), Err(ErrorCode::InvalidDpopProof), "{h}");
    }
}

/// [DP-1] RSA `n` and `e` are minimal big-endian integers (a leading zero byte would give the same key another
/// thumbprint), and `n` at most 4096 bits (the cost of a check).
#[test]
fn dp_1_an_rsa_jwk_with_leading_zero_bytes_or_over_4096_bits_is_refused() {
    let n = [vec![0xc1], vec![3; 255]].concat();
    let bad = [
        rsa_jwk(&[vec![0], n.clone()].concat(), &[1, 0, 1]),
        rsa_jwk(&n, &[0, 1, 0, 1]),
        rsa_jwk(&n, &[]),
        rsa_jwk(&[vec![0xc1], vec![3; 512]].concat(), &[1, 0, 1]),
        json!({"kty": "RSA", "e": "AQAB"}),
    ];
    for jwk in bad {
        let h = with("RS256", jwk);
        assert_eq!(check_header(&h, &all_algs()).map_err(code), Err(ErrorCode::InvalidDpopProof), "{h}");
    }
    assert!(check_header(&with("RS256", rsa_jwk(&[vec![0xc1], vec![3; 511]].concat(), &[1, 0, 1])), &algs()).is_ok());
}

#[test]
fn dp_1_an_iat_at_the_ends_of_i64_is_refused_without_a_panic() {
    for iat in [i64::MIN, i64::MIN + 1, i64::MAX] {
        let c = ProofClaims { iat: Some(iat), ..claims() };
        assert_eq!(check_claims(&c, &expected(None)).map_err(code), Err(ErrorCode::InvalidDpopProof), "{iat}");
    }
    let c = ProofClaims { iat: Some(i64::MAX), ..claims() };
    assert!(check_claims(&c, &Expected { now: i64::MIN, ..expected(None) }).is_err());
}

/// [DP-1] No header extension is understood, so a `crit` one is refused (RFC 7515 §4.1.11).
#[test]
fn dp_1_a_crit_header_is_refused() {
    let mut h = header();
    h["crit"] = json!(["exp"]);
    assert_eq!(check_header(&h, &algs()).map_err(code), Err(ErrorCode::InvalidDpopProof));
}
