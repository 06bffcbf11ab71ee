//! A directory entry as claims: the subject attribute, the `[claims]` attributes (JSON pointers over
//! `{"attribute": "first value"}`, names matched without case), groups from `memberOf` DNs or a group search.

use ldap3::SearchEntry;
use serde_json::{Map, Value};

use crate::upstream::FederatedIdentity;
use crate::upstream::config::ProviderConfig;
use crate::upstream::mapping::{map_groups, string_at};

/// Default attribute per claim when `[claims]` names none.
const DEFAULTS: [(&str, &str); 3] = [("email", "/mail"), ("name", "/cn"), ("preferred_username", "/uid")];

fn pointer(p: &ProviderConfig, claim: &str) -> Option<String> {
    let c = &p.claims;
    let set = match claim {
        "email" => c.email.as_deref(),
        "name" => c.name.as_deref(),
        "preferred_username" => c.preferred_username.as_deref(),
        "picture" => c.picture.as_deref(),
        _ => None,
    };
    set.or_else(|| DEFAULTS.iter().find(|(k, _)| *k == claim).map(|(_, v)| *v))
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_lowercase())
}

/// The attributes to ask the directory for.
pub fn attributes(p: &ProviderConfig) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(l) = &p.ldap {
        out.push(l.subject_attribute.clone());
        if l.groups == super::config::GroupsFrom::MemberOf {
            out.push(l.group_attribute.clone());
        }
    }
    for claim in ["email", "name", "preferred_username", "picture"] {
        if let Some(ptr) = pointer(p, claim)
            && let Some(attr) = ptr.trim_start_matches('/').split('/').next()
            && !attr.is_empty()
            && !out.iter().any(|a| a.eq_ignore_ascii_case(attr))
        {
            out.push(attr.to_string());
        }
    }
    out
}

/// Every attribute of an entry (case-insensitive names), first value.
fn values(e: &SearchEntry, name: &str) -> Vec<String> {
    e.attrs.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).flat_map(|(_, v)| v.clone()).collect()
}

/// The raw bytes of an attribute's first value, whether the library read it as text or as binary.
fn first_bytes(e: &SearchEntry, name: &str) -> Option<Vec<u8>> {
    let text = e.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.first());
    let bin = e.bin_attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.first());
    text.map(|t| t.as_bytes().to_vec()).or_else(|| bin.cloned())
}

/// Active Directory's `objectGUID` (16 bytes, the first three fields little-endian) in its usual text form.
fn guid(b: &[u8]) -> Option<String> {
    let b: [u8; 16] = b.try_into().ok()?;
    Some(format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    ))
}

/// The subject: the configured attribute's value (`objectGUID` as a GUID, other binary values as hex).
pub fn subject(e: &SearchEntry, attribute: &str) -> Option<String> {
    let raw = first_bytes(e, attribute)?;
    if raw.is_empty() {
        return None;
    }
    if attribute.eq_ignore_ascii_case("objectGUID") {
        return guid(&raw);
    }
    match String::from_utf8(raw) {
        Ok(s) if !s.trim().is_empty() => Some(s),
        Ok(_) => None,
        Err(e) => Some(e.into_bytes().iter().map(|b| format!("{b:02x}")).collect()),
    }
}

/// The value of the first RDN of a DN (`cn=admins,ou=groups,…` → `admins`), its escapes undone.
pub fn first_rdn_value(dn: &str) -> Option<String> {
    let (mut out, mut chars, mut seen_eq) = (String::new(), dn.chars().peekable(), false);
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next()?;
                if let Some(low) = chars.peek().copied().filter(|_| next.is_ascii_hexdigit())
                    && low.is_ascii_hexdigit()
                {
                    chars.next();
                    let byte = u8::from_str_radix(&format!("{next}{low}"), 16).ok()?;
                    if seen_eq {
                        out.push(char::from(byte));
                    }
                } else if seen_eq {
                    out.push(next);
                }
            }
            ',' | '+' => break,
            '=' if !seen_eq => seen_eq = true,
            c if seen_eq => out.push(c),
            _ => {}
        }
    }
    Some(out.trim().to_string()).filter(|s| seen_eq && !s.is_empty())
}

/// Groups from `memberOf` DNs: each group's name (first RDN value) and its full DN.
pub fn member_of(e: &SearchEntry, attribute: &str) -> Vec<String> {
    values(e, attribute).into_iter().flat_map(|dn| first_rdn_value(&dn).into_iter().chain([dn])).collect()
}

/// A found group: its name attribute's values and its DN.
pub fn group_names(g: &SearchEntry, name_attribute: &str) -> Vec<String> {
    values(g, name_attribute).into_iter().chain([g.dn.clone()]).collect()
}

/// The entry as a federated identity; `None` without a subject.
pub fn identity(p: &ProviderConfig, e: &SearchEntry, upstream_groups: Vec<String>) -> Option<FederatedIdentity> {
    let attribute = p.ldap.as_ref().map(|l| l.subject_attribute.as_str()).unwrap_or("entryUUID");
    let subject = subject(e, attribute)?;
    let mut doc = Map::new();
    for (k, v) in &e.attrs {
        if let Some(first) = v.first() {
            doc.insert(k.to_ascii_lowercase(), Value::String(first.clone()));
        }
    }
    let doc = Value::Object(doc);
    let at = |claim: &str| string_at(&doc, pointer(p, claim).as_deref());
    Some(FederatedIdentity {
        provider: p.id.clone(),
        issuer: super::ldap_issuer(&p.id),
        subject,
        email: at("email").map(|m| m.to_lowercase()),
        // [LD-6] The directory says nothing about verification: its mail is verified only when the admin says
        // so (`trust_email = true`, default false), which is also what linking by email needs ([TB-1a]).
        email_verified: p.trust_email,
        name: at("name"),
        preferred_username: at("preferred_username"),
        picture: at("picture"),
        groups: map_groups(&upstream_groups, &p.group_rules),
        ..FederatedIdentity::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ld_5_group_names_come_from_the_first_rdn() {
        assert_eq!(first_rdn_value("cn=admins,ou=groups,dc=example,dc=org").as_deref(), Some("admins"));
        assert_eq!(first_rdn_value("CN=Domain Admins,CN=Users,DC=corp").as_deref(), Some("Domain Admins"));
        assert_eq!(first_rdn_value("cn=a\\,b,ou=x").as_deref(), Some("a,b"));
        assert_eq!(first_rdn_value("cn=a\\2Cb,ou=x").as_deref(), Some("a,b"));
        assert_eq!(first_rdn_value("nonsense"), None);
    }

    #[test]
    fn ld_2_object_guid_is_formatted_like_active_directory() {
        let raw = [0x78, 0x56, 0x34, 0x12, 0x34, 0x12, 0x78, 0x56, 0x90, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67];
        assert_eq!(guid(&raw).as_deref(), Some("12345678-1234-5678-90ab-cdef01234567"));
        let e = SearchEntry {
            dn: "cn=x".into(),
            attrs: Default::default(),
            bin_attrs: [("objectGUID".to_string(), vec![raw.to_vec()])].into_iter().collect(),
        };
        assert_eq!(subject(&e, "objectguid").as_deref(), Some("12345678-1234-5678-90ab-cdef01234567"));
        assert_eq!(subject(&e, "entryUUID"), None);
    }
}
