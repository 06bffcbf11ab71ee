//! `kind = "apple"`: Sign in with Apple is OpenID Connect (`upstream::oidc` does discovery, the code exchange and
//! the ID token checks) with two differences kept here: the client secret is an ES256 JWT the broker signs with
//! the team's `.p8` key ([AP-6]), and the answer comes back by `response_mode=form_post` (the POST callback is
//! `web::login::apple`).

use std::sync::Mutex;

use bridgekeeper_core::apple::{client_secret_claims, client_secret_fresh};

use super::config::ProviderConfig;

/// [AP-6] Signs the client secret and keeps it until less than half its one-day lifetime is left.
pub struct ClientSecretSigner {
    team_id: String,
    key_id: String,
    service_id: String,
    audience: String,
    key: jsonwebtoken::EncodingKey,
    /// The last secret and its `exp`.
    cached: Mutex<Option<(crate::secret::Secret, i64)>>,
}

impl std::fmt::Debug for ClientSecretSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientSecretSigner({}, {}, [redacted])", self.team_id, self.key_id)
    }
}

impl ClientSecretSigner {
    /// From a validated provider file (the key was parsed there already).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, String> {
        let pem = cfg.private_key.as_ref().ok_or("no private key")?;
        let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.expose().as_bytes()).map_err(|e| e.to_string())?;
        Ok(ClientSecretSigner {
            team_id: cfg.team_id.clone().unwrap_or_default(),
            key_id: cfg.key_id.clone().unwrap_or_default(),
            service_id: cfg.client_id.clone(),
            // Apple's issuer, https://appleid.apple.com (a test's fake otherwise).
            audience: cfg.issuer.clone().unwrap_or_else(|| super::config::APPLE_ISSUER.into()),
            key,
            cached: Mutex::new(None),
        })
    }

    /// The client secret to send at `now`: the cached one while fresh, else a newly signed one.
    pub fn secret(&self, now: i64) -> Result<crate::secret::Secret, String> {
        let mut cached = self.cached.lock().map_err(|_| "client secret cache poisoned".to_string())?;
        if let Some((s, exp)) = cached.as_ref()
            && client_secret_fresh(*exp, now)
        {
            return Ok(s.clone());
        }
        let claims = client_secret_claims(&self.team_id, &self.service_id, &self.audience, now);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        header.typ = None;
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| e.to_string())?;
        let s = crate::secret::Secret::new(jwt);
        *cached = Some((s.clone(), claims.exp));
        Ok(s)
    }
}
