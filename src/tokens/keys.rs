//! One signing key: generation (aws-lc), parsing once, signing, and its public JWK.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::store::keys::{KeyState, SigningKeyRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
    EdDsa,
}

impl Alg {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            "EdDSA" => Some(Alg::EdDsa),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    pub fn jwt_algorithm(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
            Alg::Es256 => jsonwebtoken::Algorithm::ES256,
            Alg::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    Generate,
    #[error("stored key {0} cannot be parsed")]
    Parse(String),
    #[error("signing failed")]
    Sign,
}

enum Signer {
    Rsa(signature::RsaKeyPair),
    Ec(signature::EcdsaKeyPair),
    Ed(signature::Ed25519KeyPair),
}

/// A parsed private key, ready to sign many times.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    signer: Signer,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.kid, self.alg.as_str())
    }
}

impl SigningKey {
    pub fn from_row(row: &SigningKeyRow) -> Result<Self, KeyError> {
        let bad = || KeyError::Parse(row.kid.clone());
        let alg = Alg::parse(&row.alg).ok_or_else(bad)?;
        let der = STANDARD.decode(&row.private_der).map_err(|_| bad())?;
        let signer = match alg {
            Alg::Rs256 => Signer::Rsa(signature::RsaKeyPair::from_pkcs8(&der).map_err(|_| bad())?),
            Alg::Es256 => Signer::Ec(
                signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map_err(|_| bad())?,
            ),
            Alg::EdDsa => Signer::Ed(signature::Ed25519KeyPair::from_pkcs8(&der).map_err(|_| bad())?),
        };
        Ok(SigningKey { kid: row.kid.clone(), alg, signer })
    }

    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match &self.signer {
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig).map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
            Signer::Ec(k) => Ok(k.sign(&rng, message).map_err(|_| KeyError::Sign)?.as_ref().to_vec()),
            Signer::Ed(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}

/// Generates a fresh key and its public JWK; the private part is PKCS#8 DER, base64.
pub fn generate(alg: Alg, now: i64, state: KeyState) -> Result<SigningKeyRow, KeyError> {
    let kid = crate::secret::random_token_bytes(12);
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let (der, params) = match alg {
        Alg::Rs256 => {
            let k =
                signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
            let der = k.as_der().map_err(|_| KeyError::Generate)?.as_ref().to_vec();
            let public = k.public_key();
            let n = public.modulus().big_endian_without_leading_zero().to_vec();
            let e = public.exponent().big_endian_without_leading_zero().to_vec();
            (der, serde_json::json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)}))
        }
        Alg::Es256 => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let doc = signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| KeyError::Generate)?;
            let k = signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                .map_err(|_| KeyError::Generate)?;
            let point = k.public_key().as_ref();
            if point.len() != 65 {
                return Err(KeyError::Generate);
            }
            let params =
                serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])});
            (doc.as_ref().to_vec(), params)
        }
        Alg::EdDsa => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let doc = signature::Ed25519KeyPair::generate_pkcs8v1(&rng).map_err(|_| KeyError::Generate)?;
            let k = signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| KeyError::Generate)?;
            let params = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())});
            (doc.as_ref().to_vec(), params)
        }
    };
    let mut jwk = params;
    if let Some(map) = jwk.as_object_mut() {
        map.insert("kid".into(), kid.clone().into());
        map.insert("use".into(), "sig".into());
        map.insert("alg".into(), alg.as_str().into());
    }
    Ok(SigningKeyRow {
        kid,
        alg: alg.as_str().to_string(),
        private_der: STANDARD.encode(der),
        public_jwk: jwk.to_string(),
        state: state.as_str().to_string(),
        created_at: now,
        activated_at: (state == KeyState::Current).then_some(now),
        retired_at: None,
    })
}
