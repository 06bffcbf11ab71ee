//! PKCE (RFC 7636): S256 only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::OAuthError;

/// [PK-3] RFC 7636 §4.1/§4.2: 43–128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"` (a challenge
/// or a verifier).
pub fn valid_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// [PK-7] `BASE64URL-NOPAD(SHA256(ASCII(verifier))) == challenge`, compared in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let digest = Sha256::digest(verifier.as_bytes());
    let computed = URL_SAFE_NO_PAD.encode(digest);
    computed.len() == challenge.len() && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// [PK-4] [PK-5] The token request's verifier against the code's challenge: a challenge needs the matching
/// verifier; a verifier without a challenge is a downgrade attempt.
pub fn check_verifier(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    if verifier.is_some_and(|v| !valid_pkce_value(v)) {
        return Err(OAuthError::invalid_grant("code_verifier is malformed"));
    }
    match (challenge, verifier) {
        (Some(ch), Some(v)) if pkce_matches(v, ch) => Ok(()),
        (Some(_), _) => Err(OAuthError::invalid_grant("PKCE verification failed")),
        (None, Some(_)) => Err(OAuthError::invalid_grant("code_verifier sent but no code_challenge was")),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn pk_7_s256_matches_rfc7636_appendix_b() {
        assert!(pkce_matches(VERIFIER, CHALLENGE));
        assert!(!pkce_matches("wrong", CHALLENGE));
        assert!(!pkce_matches(VERIFIER, &CHALLENGE[..42]));
    }

    #[test]
    fn pk_3_value_syntax() {
        assert!(valid_pkce_value(CHALLENGE));
        assert!(!valid_pkce_value(&"a".repeat(42)));
        assert!(valid_pkce_value(&"a".repeat(128)));
        assert!(!valid_pkce_value(&"a".repeat(129)));
        assert!(!valid_pkce_value(&format!("{}+", &CHALLENGE[..42])));
    }

    #[test]
    fn pk_4_5_verifier_rules() {
        assert!(check_verifier(Some(CHALLENGE), Some(VERIFIER)).is_ok());
        assert!(check_verifier(None, None).is_ok());
        assert!(check_verifier(Some(CHALLENGE), None).is_err(), "missing verifier");
        assert!(check_verifier(Some(CHALLENGE), Some(&"x".repeat(43))).is_err(), "wrong verifier");
        assert!(check_verifier(None, Some(VERIFIER)).is_err(), "downgrade");
        assert!(check_verifier(None, Some("short")).is_err(), "malformed");
    }
}
