//! [FA-1] A client's profile where clients are defined: the rules are `bridgekeeper_core::client_profile`; here
//! they are asked of a stored client, and a change that would weaken a fapi2 client is refused by name.

use bridgekeeper_core::client_profile::{self, ClientFacts, Profile};

use super::{ClientError, ClientUpdate};
use crate::settings::Settings;
use crate::store::clients::{Client, PROFILE};

fn invalid(e: client_profile::Fapi2Violation) -> ClientError {
    ClientError::Invalid(e.to_string())
}

/// [FA-1] The stored `profile` is one this server knows, and the client meets it.
pub(super) fn check_profile(settings: &Settings, c: &Client) -> Result<(), ClientError> {
    let stored = stored_profile(&c.metadata_json);
    let profile = Profile::parse(stored.as_deref()).map_err(invalid)?;
    let facts = ClientFacts {
        token_endpoint_auth_method: &c.token_endpoint_auth_method,
        has_secret: c.secret_hash.is_some() || c.previous_secret_hash.is_some(),
        grant_types: &c.grant_types,
        par_enabled: settings.par.enabled,
        dpop_enabled: settings.dpop.enabled,
        token_algs: [settings.tokens.id_token_alg().as_str(), settings.tokens.access_token_alg().as_str()],
    };
    client_profile::check_client(profile, &facts).map_err(invalid)
}

/// The `profile` member of stored metadata, as text (a non-string value is refused as an unknown profile).
pub fn stored_profile(metadata_json: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(metadata_json).ok()?.get(PROFILE)? {
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Registered metadata with `profile` set (`Some`, non-empty) or left out.
pub fn with_profile(metadata: &str, profile: Option<&str>) -> String {
    let mut m = match serde_json::from_str::<serde_json::Value>(metadata) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    match profile.filter(|p| !p.is_empty()) {
        Some(p) => m.insert(PROFILE.into(), p.into()),
        None => m.remove(PROFILE),
    };
    serde_json::Value::Object(m).to_string()
}

/// [FA-1] An admin API PATCH: a fapi2 client stays fapi2 and keeps PAR and DPoP (the rest — method, secret,
/// grant types — is the new client's own check). A config client's profile follows the file.
pub(super) fn check_profile_change(c: &Client, u: &ClientUpdate) -> Result<(), ClientError> {
    if u.profile.is_some() && c.source == "config" {
        return Err(ClientError::Conflict(
            "the profile of a client from the config file is changed in the file".into(),
        ));
    }
    let next = match &u.profile {
        Some(p) => Profile::parse(Some(p)).map_err(invalid)?,
        None => c.profile(),
    };
    let (par, dpop) = (u.require_pushed_authorization_requests, u.dpop_bound_access_tokens);
    client_profile::check_change(c.profile(), next, par, dpop).map_err(invalid)
}

/// [FA-1] The profile member of a PATCH, applied (a fapi2 client also requires PKCE from now on).
pub(super) fn apply_profile_change(c: &mut Client, u: &ClientUpdate) {
    if let Some(p) = &u.profile {
        c.metadata_json = with_profile(&c.metadata_json, Some(p));
        c.require_pkce |= c.profile().requires_pkce();
    }
}
