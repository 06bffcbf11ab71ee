//! Scope rules: the catalogue, what a client may have, narrowing.

use std::collections::BTreeMap;

/// Scopes only an admin can give a client, and only for client_credentials.
pub const RESERVED_SCOPES: &[&str] = &["admin"];

/// Parses a requested scope string and narrows it to what the client may have and the catalogue knows.
/// Order and duplicates in the request do not matter. Nothing left -> error.
pub fn narrow(
    requested: Option<&str>,
    allowed: &[String],
    catalogue: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    let requested = requested.ok_or("scope is required")?;
    let mut out: Vec<String> = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if allowed.iter().any(|a| a == s) && catalogue.contains_key(s) && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    if out.is_empty() {
        return Err("none of the requested scopes is allowed for this client".into());
    }
    out.sort();
    Ok(out)
}

/// A scope only an admin can give a client, and only for client_credentials (`admin`).
pub fn is_reserved(scope: &str) -> bool {
    RESERVED_SCOPES.contains(&scope)
}

/// Is every scope of `requested` inside `granted`?
pub fn is_subset(requested: &[&str], granted: &str) -> bool {
    let g: Vec<&str> = granted.split(' ').collect();
    requested.iter().all(|r| g.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> BTreeMap<String, String> {
        ["openid", "email", "profile", "api"].iter().map(|s| (s.to_string(), String::new())).collect()
    }

    #[test]
    fn narrowing_ignores_order_and_drops_what_is_not_allowed() {
        let allowed = vec!["openid".to_string(), "email".to_string()];
        assert_eq!(narrow(Some("email openid profile"), &allowed, &cat()).unwrap(), vec!["email", "openid"]);
        assert_eq!(narrow(Some("openid email"), &allowed, &cat()).unwrap(), vec!["email", "openid"]);
        assert!(narrow(Some("profile api"), &allowed, &cat()).is_err());
        assert!(narrow(None, &allowed, &cat()).is_err());
    }
}
