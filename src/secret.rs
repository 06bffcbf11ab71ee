//! Values that must never reach a log line: a redacting wrapper and the helpers for server-generated secrets.

use serde::Deserialize;
use subtle::ConstantTimeEq;

/// A secret string from configuration. Its `Debug` never prints the value.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A fresh 256-bit value from the OS CSPRNG, base64url without padding (43 characters).
pub fn random_token() -> String {
    random_token_bytes(32)
}

/// `n` random bytes from the OS CSPRNG, base64url without padding.
pub fn random_token_bytes(n: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; n];
    // aws-lc's RNG only fails when the OS entropy source is broken; there is nothing sane to do then.
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        std::process::abort();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of a server-generated secret, hex encoded: what we store instead of the secret.
pub fn hash_token(value: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
    // Lower-case hex by table: this runs for every client authentication, refresh and code redemption, and a
    // `format!` per byte cost more than the hash itself.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Constant-time equality of two byte strings (length may leak, content does not).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Does `presented` hash to `stored_hash`? Compared in constant time.
pub fn verify_token_hash(presented: &str, stored_hash: &str) -> bool {
    ct_eq(hash_token(presented).as_bytes(), stored_hash.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hashes_are_lower_case_hex_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1: the stored hashes of every existing row depend on this form.
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
    }

    #[test]
    fn random_tokens_are_256_bit_and_distinct() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn hash_verifies_only_the_original() {
        let t = random_token();
        let h = hash_token(&t);
        assert_eq!(h.len(), 64);
        assert!(verify_token_hash(&t, &h));
        assert!(!verify_token_hash("other", &h));
    }
}
