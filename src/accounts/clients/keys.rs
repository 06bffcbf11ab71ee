//! [PJ-1] [PJ-7] [PAR-5] The keys a client registers and its PAR requirement: the rules every save checks, and
//! the members an update changes in the registered metadata.

use super::{ClientError, ClientUpdate};
use crate::store::clients::{self as repo, Client};

/// [PJ-1] A private_key_jwt client registers usable public keys and has no secret; no other client registers keys
/// (they would never be used, and a client must not believe they are).
pub(super) fn check_keys(c: &Client) -> Result<(), ClientError> {
    let key_auth = c.token_endpoint_auth_method == repo::PRIVATE_KEY_JWT;
    let uri = c.fetchable_jwks_uri();
    match (key_auth, c.jwks(), &uri) {
        (true, Some(_), Some(_)) => return Err(ClientError::Invalid("jwks and jwks_uri are exclusive".into())),
        (true, Some(j), None) => {
            crate::tokens::client_keys::parse_jwks(&j.to_string()).map_err(ClientError::Invalid)?;
        }
        (true, None, Some(u)) => crate::tokens::client_keys::check_jwks_uri(u).map_err(ClientError::Invalid)?,
        (true, None, None) => return Err(ClientError::Invalid("a private_key_jwt client needs jwks".into())),
        (false, Some(_), _) => return Err(ClientError::Invalid("only a private_key_jwt client registers jwks".into())),
        (false, None, _) => {}
    }
    if key_auth && c.secret_hash.is_some() {
        return Err(ClientError::Invalid("a private_key_jwt client has no secret".into()));
    }
    Ok(())
}

/// [PJ-1] Keys and the PAR requirement of a config client follow the file (an admin change would be undone at the
/// next start or reload, reviving a replaced key); `jwks` and `jwks_uri` are exclusive; only a private_key_jwt
/// client registers a `jwks_uri`.
pub(super) fn check_key_changes(c: &Client, u: &ClientUpdate) -> Result<(), ClientError> {
    let touches = u.jwks.is_some()
        || u.jwks_uri.is_some()
        || u.require_pushed_authorization_requests.is_some()
        || u.dpop_bound_access_tokens.is_some();
    if touches && c.source == "config" {
        return Err(ClientError::Conflict(
            "the keys, PAR and DPoP requirements of a client from the config file are changed in the file".into(),
        ));
    }
    let new_uri = u.jwks_uri.as_ref().is_some_and(|x| x.as_ref().is_some_and(|x| !x.is_empty()));
    if new_uri && matches!(u.jwks, Some(Some(_))) {
        return Err(ClientError::Invalid("jwks and jwks_uri are exclusive".into()));
    }
    let method = u.token_endpoint_auth_method.as_deref().unwrap_or(&c.token_endpoint_auth_method);
    if new_uri && method != repo::PRIVATE_KEY_JWT {
        return Err(ClientError::Invalid("only a private_key_jwt client registers a jwks_uri".into()));
    }
    Ok(())
}

/// The members of an update kept in the registered metadata: keys (`jwks` and `jwks_uri` replace each other) and
/// the PAR requirement. The result is checked like a new client's ([PJ-1]: keys only for private_key_jwt).
pub(super) fn apply_metadata_changes(c: &mut Client, u: &ClientUpdate) {
    if u.jwks.is_none()
        && u.jwks_uri.is_none()
        && u.require_pushed_authorization_requests.is_none()
        && u.dpop_bound_access_tokens.is_none()
    {
        return;
    }
    let mut m = match serde_json::from_str::<serde_json::Value>(&c.metadata_json) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let mut set = |key: &str, v: Option<serde_json::Value>| match v {
        Some(v) => m.insert(key.into(), v),
        None => m.remove(key),
    };
    if let Some(j) = &u.jwks {
        set("jwks", j.clone());
        if j.is_some() {
            set("jwks_uri", None);
        }
    }
    if let Some(uri) = &u.jwks_uri {
        let uri = uri.clone().filter(|x| !x.is_empty());
        if uri.is_some() {
            set("jwks", None);
        }
        set("jwks_uri", uri.map(Into::into));
    }
    if let Some(par) = u.require_pushed_authorization_requests {
        set("require_pushed_authorization_requests", par.then_some(true.into()));
    }
    if let Some(dpop) = u.dpop_bound_access_tokens {
        set("dpop_bound_access_tokens", dpop.then_some(true.into()));
    }
    c.metadata_json = serde_json::Value::Object(m).to_string();
}

/// The registered metadata of a client's keys ([PJ-1], [PJ-7]) and PAR requirement ([PAR-5]), as stored.
pub fn key_and_par_metadata(jwks: Option<serde_json::Value>, jwks_uri: Option<String>, require_par: bool) -> String {
    let mut m = serde_json::Map::new();
    if let Some(j) = jwks {
        m.insert("jwks".into(), j);
    }
    if let Some(u) = jwks_uri {
        m.insert("jwks_uri".into(), u.into());
    }
    if require_par {
        m.insert("require_pushed_authorization_requests".into(), true.into());
    }
    serde_json::Value::Object(m).to_string()
}

/// [DP-4] Registered metadata with `dpop_bound_access_tokens` set (when `bound`) or left out.
pub fn with_dpop_bound(metadata: &str, bound: bool) -> String {
    let mut m = match serde_json::from_str::<serde_json::Value>(metadata) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    if bound {
        m.insert("dpop_bound_access_tokens".into(), true.into());
    } else {
        m.remove("dpop_bound_access_tokens");
    }
    serde_json::Value::Object(m).to_string()
}
