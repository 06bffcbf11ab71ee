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

/// A DN compared as the directory would for the usual attribute types (`cn`, `ou`, `dc`: case-insensitive):
/// lower-cased, no spaces around `=` and `,` (escaped characters kept as they are).
pub fn normal_dn(dn: &str) -> String {
    let (mut out, mut escaped) = (String::new(), false);
    for c in dn.trim().chars() {
        if escaped {
            out.extend(c.to_lowercase());
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                out.push(c);
            }
            ',' | '=' | '+' => {
                while out.ends_with(' ') && !out.ends_with("\\ ") {
                    out.pop();
                }
                out.push(c);
            }
            ' ' if out.ends_with([',', '=', '+']) || out.is_empty() => {}
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// [LD-5] Groups from `memberOf` DNs: each group's full DN (in its compared form, [`normal_dn`]); its name (first RDN value) only for a group under `group_base`, so that a group of the same name elsewhere
/// (an OU whose owner is not the group's) grants nothing. Without `group_base`, rules name full DNs.
pub fn member_of(e: &SearchEntry, attribute: &str, group_base: Option<&str>) -> Vec<String> {
    let base = group_base.map(normal_dn).filter(|b| !b.is_empty());
    let under = |dn: &str| base.as_deref().is_some_and(|b| dn.ends_with(&format!(",{b}")));
    values(e, attribute)
        .into_iter()
        .flat_map(|dn| {
            let normal = normal_dn(&dn);
            let name = if under(&normal) { first_rdn_value(&dn) } else { None };
            name.into_iter().chain([normal])
        })
        .collect()
}

/// A found group (under `group_base`): its name attribute's values and its DN (compared form).
pub fn group_names(g: &SearchEntry, name_attribute: &str) -> Vec<String> {
    values(g, name_attribute).into_iter().chain([normal_dn(&g.dn)]).collect()
}

/// The provider's group rules with every DN-shaped `upstream` (one holding `=`) in its compared form.
fn rules_for_dns(p: &ProviderConfig) -> Vec<crate::upstream::config::GroupRule> {
    let mut rules = p.group_rules.clone();
    for r in &mut rules {
        if r.upstream.contains('=') {
            r.upstream = normal_dn(&r.upstream);
        }
    }
    rules
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
        groups: map_groups(&upstream_groups, &rules_for_dns(p)),
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

    fn with_member_of(dns: &[&str]) -> SearchEntry {
        SearchEntry {
            dn: "uid=ada,ou=people,dc=example,dc=org".into(),
            attrs: [("memberOf".to_string(), dns.iter().map(|d| d.to_string()).collect())].into_iter().collect(),
            bin_attrs: Default::default(),
        }
    }

    #[test]
    fn ld_5_a_member_of_group_of_the_same_name_elsewhere_grants_nothing() {
        let e = with_member_of(&["cn=admins,ou=Projects,dc=example,dc=org", "CN=Staff, OU=Groups,DC=Example,DC=org"]);
        let base = Some("ou=groups,dc=example,dc=org");
        let groups = member_of(&e, "memberOf", base);
        // The real group is known by its name and its DN (compared without case and spaces).
        assert!(groups.contains(&"Staff".to_string()));
        assert!(groups.contains(&"cn=staff,ou=groups,dc=example,dc=org".to_string()));
        // An `admins` in another OU is not `admins`: only its own DN names it.
        assert!(!groups.contains(&"admins".to_string()), "{groups:?}");
        assert!(groups.contains(&"cn=admins,ou=projects,dc=example,dc=org".to_string()));
        let rules = [crate::upstream::config::GroupRule { upstream: "admins".into(), group: "corp-admins".into() }];
        assert!(map_groups(&groups, &rules).is_empty());
        // Without group_base no name is released at all, only DNs.
        assert!(!member_of(&e, "memberOf", None).contains(&"Staff".to_string()));
    }

    #[test]
    fn ld_5_dns_compare_without_case_or_spaces_around_separators() {
        assert_eq!(normal_dn("CN=Domain Admins, CN=Users ,DC=corp"), "cn=domain admins,cn=users,dc=corp");
        assert_eq!(normal_dn("cn=a\\,b,ou=X"), "cn=a\\,b,ou=x");
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
