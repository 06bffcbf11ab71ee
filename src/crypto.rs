//! Secrets at rest (signing keys, upstream refresh tokens): AES-256-GCM from aws-lc, each value tagged with the
//! id of the key that sealed it so keys can rotate. Configured by `encryption_keys = "kid:base64key,…"`
//! (first = current; the others only open older values).

use std::collections::HashMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

const PREFIX: &str = "enc1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("value sealed with unknown key {0}")]
    UnknownKey(String),
    #[error("sealed value is corrupt or was tampered with")]
    Corrupt,
    #[error("no encryption key configured")]
    NoKey,
}

pub struct Sealer {
    current: Option<String>,
    keys: HashMap<String, LessSafeKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer(current={:?}, keys={})", self.current, self.keys.len())
    }
}

impl Sealer {
    /// Parses `kid:base64(32 bytes),kid2:…`; an empty spec means "no encryption configured".
    pub fn from_spec(spec: &str) -> Result<Self, String> {
        let mut keys = HashMap::new();
        let mut current = None;
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, b64) = entry.split_once(':').ok_or("each entry is kid:base64key")?;
            if kid.is_empty() || !kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(format!("key id `{kid}`: use letters, digits, - and _"));
            }
            let raw = STANDARD
                .decode(b64)
                .or_else(|_| URL_SAFE_NO_PAD.decode(b64))
                .map_err(|_| format!("key {kid}: not base64"))?;
            let key = UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| format!("key {kid}: must be 32 bytes"))?;
            current.get_or_insert_with(|| kid.to_string());
            keys.insert(kid.to_string(), LessSafeKey::new(key));
        }
        Ok(Sealer { current, keys })
    }

    pub fn is_enabled(&self) -> bool {
        self.current.is_some()
    }

    /// Seals `plain`, binding it to `context` (e.g. the row it belongs to) as associated data.
    pub fn seal(&self, plain: &[u8], context: &str) -> Result<String, CryptoError> {
        let kid = self.current.as_ref().ok_or(CryptoError::NoKey)?;
        let key = self.keys.get(kid).ok_or(CryptoError::NoKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| CryptoError::Corrupt)?;
        let mut buf = plain.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| CryptoError::Corrupt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{PREFIX}:{kid}:{}", URL_SAFE_NO_PAD.encode(out)))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, CryptoError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(PREFIX), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CryptoError::Corrupt);
        };
        let key = self.keys.get(kid).ok_or_else(|| CryptoError::UnknownKey(kid.to_string()))?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| CryptoError::Corrupt)?;
        if raw.len() < NONCE_LEN {
            return Err(CryptoError::Corrupt);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Corrupt)?;
        let mut buf = ct.to_vec();
        let plain =
            key.open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf).map_err(|_| CryptoError::Corrupt)?;
        Ok(plain.to_vec())
    }

    /// Is this stored value sealed (as opposed to a legacy plaintext value)?
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with("enc1:")
    }

    /// Does `value` need re-sealing with the current key?
    pub fn is_stale(&self, value: &str) -> bool {
        match (&self.current, value.split(':').nth(1)) {
            (Some(cur), Some(kid)) if Self::is_sealed(value) => cur != kid,
            (Some(_), _) => true,
            (None, _) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        STANDARD.encode([7u8; 32])
    }

    #[test]
    fn round_trip_bound_to_context_and_detects_tampering() {
        let s = Sealer::from_spec(&format!("k1:{}", key())).unwrap();
        let sealed = s.seal(b"refresh-token", "identity:1").unwrap();
        assert!(sealed.starts_with("enc1:k1:") && !sealed.contains("refresh-token"));
        assert_eq!(s.open(&sealed, "identity:1").unwrap(), b"refresh-token");
        assert_eq!(s.open(&sealed, "identity:2"), Err(CryptoError::Corrupt), "bound to its row");
        let mut bad = sealed.clone();
        bad.pop();
        bad.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(s.open(&bad, "identity:1"), Err(CryptoError::Corrupt));
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_marks_them_stale() {
        let old = Sealer::from_spec(&format!("k1:{}", key())).unwrap();
        let sealed = old.seal(b"x", "c").unwrap();
        let new = Sealer::from_spec(&format!("k2:{},k1:{}", STANDARD.encode([9u8; 32]), key())).unwrap();
        assert_eq!(new.open(&sealed, "c").unwrap(), b"x");
        assert!(new.is_stale(&sealed));
        assert!(!new.is_stale(&new.seal(b"x", "c").unwrap()));
        let only_new = Sealer::from_spec(&format!("k2:{}", STANDARD.encode([9u8; 32]))).unwrap();
        assert_eq!(only_new.open(&sealed, "c"), Err(CryptoError::UnknownKey("k1".into())));
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(Sealer::from_spec("k1:short").is_err());
        assert!(Sealer::from_spec("nokid").is_err());
        assert!(!Sealer::from_spec("").unwrap().is_enabled());
    }
}
