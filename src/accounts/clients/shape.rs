//! The shape rules every client must meet wherever it is defined (config file, CLI, admin API, portal, dynamic
//! registration): name, logo, redirect and logout URIs, grants, scopes, then its profile and keys.

use super::ClientError;
use super::keys::check_keys;
use super::profile::check_profile;
use crate::settings::{GRANT_TYPES, Settings};
use crate::store::clients::{self as repo, Client};

fn check_name(name: &str) -> Result<(), ClientError> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ClientError::Invalid("the name must be 1 to 100 printable characters".into()));
    }
    Ok(())
}

fn check_logo(logo: Option<&str>) -> Result<(), ClientError> {
    match logo {
        Some(l) if url::Url::parse(l).map(|u| u.scheme() != "https").unwrap_or(true) || l.len() > 2000 => {
            Err(ClientError::Invalid("the logo URL must be an https URL".into()))
        }
        _ => Ok(()),
    }
}

/// The shape rules every client must meet.
pub(super) fn check(settings: &Settings, c: &Client) -> Result<(), ClientError> {
    check_name(&c.name)?;
    check_logo(c.logo_uri.as_deref())?;
    if c.redirect_uris.len() > 20 || c.post_logout_redirect_uris.len() > 20 {
        return Err(ClientError::Invalid("at most 20 redirect URIs of each kind".into()));
    }
    for uri in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris) {
        if uri.len() > 2000 {
            return Err(ClientError::InvalidRedirect("a redirect URI is too long".into()));
        }
        bridgekeeper_core::redirect::validate_for_client(uri, c.is_public())
            .map_err(|e| ClientError::InvalidRedirect(format!("redirect URI {uri}: {e}")))?;
    }
    if c.grant_types.is_empty() {
        return Err(ClientError::Invalid("at least one grant type is needed".into()));
    }
    if let Some(g) = c.grant_types.iter().find(|g| !GRANT_TYPES.contains(&g.as_str())) {
        return Err(ClientError::Invalid(format!("unknown grant type `{g}`")));
    }
    if let Some(s) = c.allowed_scopes.iter().chain(&c.pending_scopes).find(|s| !settings.scopes.contains_key(*s)) {
        return Err(ClientError::Invalid(format!("scope `{s}` is not in the [scopes] catalogue")));
    }
    if c.is_public() && c.allows_grant("client_credentials") {
        return Err(ClientError::Invalid("a public client cannot use client_credentials".into()));
    }
    // [FA-1] First, so that a client that misses its profile hears the profile's named reason.
    check_profile(settings, c)?;
    repo::check_auth_method(c.is_public(), &c.token_endpoint_auth_method).map_err(ClientError::Invalid)?;
    check_keys(c)?;
    if c.requires_par() && !settings.par.enabled {
        return Err(ClientError::Invalid("require_pushed_authorization_requests needs par.enabled".into()));
    }
    if c.dpop_bound() && !settings.dpop.enabled {
        return Err(ClientError::Invalid("dpop_bound_access_tokens needs dpop.enabled".into()));
    }
    if let Some(uri) = &c.backchannel_logout_uri {
        bridgekeeper_core::backchannel::validate_logout_uri(uri)
            .map_err(|e| ClientError::InvalidRedirect(format!("backchannel_logout_uri {uri}: {e}")))?;
        // [BL-9] A client that registered itself may not aim the broker at its own networks.
        if matches!(c.source.as_str(), "portal" | "dynamic") {
            bridgekeeper_core::backchannel::validate_self_service_logout_uri(uri)
                .map_err(|e| ClientError::Invalid(format!("backchannel_logout_uri {uri}: {e}")))?;
        }
    }
    if let Some(uri) = &c.frontchannel_logout_uri {
        bridgekeeper_core::frontchannel::validate_frontchannel_uri(uri, &c.redirect_uris)
            .map_err(|e| ClientError::InvalidRedirect(format!("frontchannel_logout_uri {uri}: {e}")))?;
    }
    if c.allows_grant("authorization_code") && c.redirect_uris.is_empty() {
        return Err(ClientError::Invalid("authorization_code needs at least one redirect URI".into()));
    }
    if c.allowed_scopes.iter().any(|s| crate::scopes::is_reserved(s))
        && (c.is_public() || !c.allows_grant("client_credentials"))
    {
        return Err(ClientError::Invalid("the admin scope needs a confidential client_credentials client".into()));
    }
    Ok(())
}
