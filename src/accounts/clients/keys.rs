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
    mark_admin_set(&mut m, u);
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

/// The member of the stored metadata that lists what an admin set through the admin API ([RG-3a]).
pub const ADMIN_SET: &str = "admin_set";

/// Marks the members an admin PATCH set (`keys` for `jwks`/`jwks_uri`, the PAR requirement) in the stored
/// metadata, so a self-registered client's own RFC 7592 PUT cannot undo them ([RG-3a]).
fn mark_admin_set(m: &mut serde_json::Map<String, serde_json::Value>, u: &ClientUpdate) {
    let mut set: Vec<String> = match m.get(ADMIN_SET) {
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    };
    let keys = u.jwks.is_some() || u.jwks_uri.is_some();
    let par = u.require_pushed_authorization_requests.is_some();
    let dpop = u.dpop_bound_access_tokens.is_some();
    let members = [(keys, "keys"), (par, "require_pushed_authorization_requests"), (dpop, "dpop_bound_access_tokens")];
    for (changed, name) in members {
        if changed && !set.iter().any(|s| s == name) {
            set.push(name.into());
        }
    }
    m.insert(ADMIN_SET.into(), serde_json::json!(set));
}

/// [RG-3a] An RFC 7592 PUT replaces a self-registered client's metadata, but not what an admin set on it: a
/// member the PUT leaves out is kept; keys (`jwks`, `jwks_uri`) that differ from the admin's are refused, and so
/// is dropping an admin-set PAR requirement or DPoP binding (adding one is always allowed). `put_flags` are the
/// PUT's own `require_pushed_authorization_requests` and `dpop_bound_access_tokens`. Returns the metadata to
/// store, or the reason for `invalid_client_metadata`.
pub fn keep_admin_settings(current: &str, put: &str, put_flags: &[(&str, Option<bool>)]) -> Result<String, String> {
    let object = |s: &str| match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (cur, mut next) = (object(current), object(put));
    let Some(serde_json::Value::Array(set)) = cur.get(ADMIN_SET) else {
        return Ok(serde_json::Value::Object(next).to_string());
    };
    let set: Vec<&str> = set.iter().filter_map(|v| v.as_str()).collect();
    if set.contains(&"keys") {
        for k in ["jwks", "jwks_uri"] {
            match (cur.get(k), next.get(k)) {
                (c, Some(n)) if c != Some(n) => {
                    return Err(format!("{k}: the client's keys were set by an administrator of this server"));
                }
                (Some(c), None) => {
                    next.insert(k.into(), c.clone());
                }
                _ => {}
            }
        }
    }
    for (flag, asked) in put_flags {
        if set.contains(flag) && cur.get(*flag) == Some(&serde_json::Value::Bool(true)) {
            if *asked == Some(false) {
                return Err(format!("{flag}: required by an administrator of this server"));
            }
            next.insert((*flag).into(), true.into());
        }
    }
    next.insert(ADMIN_SET.into(), serde_json::json!(set));
    Ok(serde_json::Value::Object(next).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(par: Option<bool>) -> [(&'static str, Option<bool>); 1] {
        [("require_pushed_authorization_requests", par)]
    }

    fn admin_set(jwks: &str, par: bool) -> String {
        let mut m = serde_json::Map::new();
        m.insert("jwks".into(), serde_json::from_str(jwks).unwrap());
        if par {
            m.insert("require_pushed_authorization_requests".into(), true.into());
        }
        let u = ClientUpdate {
            jwks: Some(Some(serde_json::from_str(jwks).unwrap())),
            require_pushed_authorization_requests: Some(par),
            ..Default::default()
        };
        mark_admin_set(&mut m, &u);
        serde_json::Value::Object(m).to_string()
    }

    #[test]
    fn rg_3a_a_put_keeps_what_an_admin_set() {
        let cur = admin_set(r#"{"keys":[{"kid":"admin"}]}"#, true);
        // Left out: kept.
        let kept: serde_json::Value =
            serde_json::from_str(&keep_admin_settings(&cur, "{}", &flags(None)).unwrap()).unwrap();
        assert_eq!(kept["jwks"]["keys"][0]["kid"], "admin");
        assert_eq!(kept["require_pushed_authorization_requests"], true);
        assert_eq!(kept[ADMIN_SET], serde_json::json!(["keys", "require_pushed_authorization_requests"]));
        // The same keys: fine.
        assert!(keep_admin_settings(&cur, r#"{"jwks":{"keys":[{"kid":"admin"}]}}"#, &flags(Some(true))).is_ok());
        // Other keys, a jwks_uri, or dropping the PAR requirement: refused.
        assert!(keep_admin_settings(&cur, r#"{"jwks":{"keys":[{"kid":"old"}]}}"#, &flags(None)).is_err());
        assert!(keep_admin_settings(&cur, r#"{"jwks_uri":"https://app.example/jwks"}"#, &flags(None)).is_err());
        assert!(keep_admin_settings(&cur, "{}", &flags(Some(false))).is_err());
    }

    #[test]
    fn rg_3a_without_admin_settings_a_put_replaces_everything() {
        let cur = r#"{"jwks":{"keys":[{"kid":"mine"}]},"require_pushed_authorization_requests":true}"#;
        let out: serde_json::Value = serde_json::from_str(
            &keep_admin_settings(cur, r#"{"jwks":{"keys":[{"kid":"new"}]}}"#, &flags(Some(false))).unwrap(),
        )
        .unwrap();
        assert_eq!(out["jwks"]["keys"][0]["kid"], "new");
        assert!(out.get("require_pushed_authorization_requests").is_none());
        assert!(out.get(ADMIN_SET).is_none());
    }

    #[test]
    fn rg_3a_a_put_may_add_a_par_requirement_an_admin_lifted() {
        let cur = admin_set(r#"{"keys":[]}"#, false);
        let put = r#"{"jwks":{"keys":[]},"require_pushed_authorization_requests":true}"#;
        let out: serde_json::Value =
            serde_json::from_str(&keep_admin_settings(&cur, put, &flags(Some(true))).unwrap()).unwrap();
        assert_eq!(out["require_pushed_authorization_requests"], true);
        let out: serde_json::Value =
            serde_json::from_str(&keep_admin_settings(&cur, r#"{"jwks":{"keys":[]}}"#, &flags(None)).unwrap()).unwrap();
        assert!(out.get("require_pushed_authorization_requests").is_none());
    }
}
