//! Turning an upstream's JSON into our claims: JSON pointers from the provider file, group rules.

use serde_json::Value;

use super::FederatedIdentity;
use super::config::{GroupRule, ProviderConfig};

/// A string (or number, for numeric ids such as GitHub's) at `pointer`.
pub fn string_at(doc: &Value, pointer: Option<&str>) -> Option<String> {
    match doc.pointer(pointer?)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A boolean at `pointer`; the strings "true"/"false" count (some IdPs send them).
pub fn bool_at(doc: &Value, pointer: Option<&str>) -> bool {
    match pointer.and_then(|p| doc.pointer(p)) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// An array of strings (or one string) at `pointer`.
pub fn strings_at(doc: &Value, pointer: Option<&str>) -> Vec<String> {
    match pointer.and_then(|p| doc.pointer(p)) {
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Broker groups for upstream groups: only what a rule maps is released.
pub fn map_groups(upstream: &[String], rules: &[GroupRule]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in rules {
        if upstream.iter().any(|g| g == &r.upstream) && !out.contains(&r.group) {
            out.push(r.group.clone());
        }
    }
    out.sort();
    out
}

/// Maps a userinfo document with the provider's `[claims]` pointers (defaults: OIDC claim names).
pub fn identity_from_json(p: &ProviderConfig, issuer: &str, doc: &Value) -> Option<FederatedIdentity> {
    let c = &p.claims;
    let or = |v: &Option<String>, d: &'static str| v.clone().unwrap_or_else(|| d.to_string());
    let subject = string_at(doc, Some(&or(&c.subject, "/sub")))?;
    Some(identity_with_subject(p, issuer, subject, doc))
}

/// Maps a document with the provider's `[claims]` pointers, the subject given (SAML: the NameID, [SA-8]).
pub fn identity_with_subject(p: &ProviderConfig, issuer: &str, subject: String, doc: &Value) -> FederatedIdentity {
    let c = &p.claims;
    let or = |v: &Option<String>, d: &'static str| v.clone().unwrap_or_else(|| d.to_string());
    let upstream_groups = strings_at(doc, Some(&or(&c.groups, "/groups")));
    FederatedIdentity {
        provider: p.id.clone(),
        issuer: issuer.to_string(),
        subject,
        email: string_at(doc, Some(&or(&c.email, "/email"))).map(|e| e.to_lowercase()),
        email_verified: bool_at(doc, Some(&or(&c.email_verified, "/email_verified"))),
        name: string_at(doc, Some(&or(&c.name, "/name"))),
        preferred_username: string_at(doc, Some(&or(&c.preferred_username, "/preferred_username"))),
        picture: string_at(doc, Some(&or(&c.picture, "/picture"))),
        groups: map_groups(&upstream_groups, &p.group_rules),
        auth_time: None,
        upstream_refresh_token: None,
        ..FederatedIdentity::default()
    }
}

/// Upstream scopes for a login: the provider's base scopes plus its `scope_map` of the downstream scopes.
pub fn upstream_scopes(p: &ProviderConfig, downstream: &[String]) -> Vec<String> {
    let mut out = p.scopes.clone();
    for d in downstream {
        for s in p.scope_map.get(d).into_iter().flatten() {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_read_strings_numbers_and_string_booleans() {
        let doc = json!({"id": 42, "login": "ada", "v": "true", "g": ["a", "b"]});
        assert_eq!(string_at(&doc, Some("/id")).as_deref(), Some("42"));
        assert_eq!(string_at(&doc, Some("/missing")), None);
        assert!(bool_at(&doc, Some("/v")));
        assert_eq!(strings_at(&doc, Some("/g")), vec!["a", "b"]);
    }

    #[test]
    fn only_mapped_groups_are_released() {
        let rules = vec![GroupRule { upstream: "acme".into(), group: "staff".into() }];
        assert_eq!(map_groups(&["acme".into(), "other".into()], &rules), vec!["staff"]);
        assert!(map_groups(&["other".into()], &rules).is_empty());
    }
}
