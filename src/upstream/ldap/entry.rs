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
        // [LD-7] An operational attribute: returned only when asked for by name.
        if !l.failure_count_attribute.is_empty() {
            out.push(l.failure_count_attribute.clone());
        }
        if let Some(a) = super::filter::username_attribute(&l.user_filter) {
            out.push(a.to_string());
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

/// [LD-7] The failures the directory counts for an entry: a single number (`badPwdCount`), or one value per
/// failure remembered (`pwdFailureTime`).
pub fn failure_count(e: &SearchEntry, attribute: &str) -> u32 {
    if attribute.is_empty() {
        return 0;
    }
    let v = values(e, attribute);
    match v.as_slice() {
        [one] if !one.is_empty() && one.bytes().all(|b| b.is_ascii_digit()) => one.parse().unwrap_or(u32::MAX),
        many => u32::try_from(many.len()).unwrap_or(u32::MAX),
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

/// [LD-5] Group names and group DNs are kept apart: a name is `name:{value}`, a DN `dn:{compared form}`, and a
/// rule holding `=` names a DN, any other rule a name, so that a group whose name is the text of a DN never
/// matches a rule for that DN.
fn tag_name(name: &str) -> String {
    format!("name:{name}")
}

fn tag_dn(dn: &str) -> String {
    format!("dn:{}", normal_dn(dn))
}

/// [LD-5] Whether a DN's direct parent is `base` (both in compared form; RDN-aware: an escaped `\,` inside a
/// value is no boundary, and a group in an OU below `base` is not its child).
fn child_of(dn: &str, base: Option<&str>) -> bool {
    let Some(base) = base.map(normal_dn).filter(|b| !b.is_empty()) else { return false };
    let dn = normal_dn(dn);
    let (mut escaped, mut cut) = (false, None);
    for (i, c) in dn.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                cut = Some(i);
                break;
            }
            _ => {}
        }
    }
    cut.is_some_and(|i| dn[i + 1..] == base)
}

/// The attribute type of a DN's first RDN (`cn` in `cn=admins,…`).
fn first_rdn_type(dn: &str) -> Option<String> {
    dn.split_once('=').map(|(t, _)| t.trim().to_ascii_lowercase())
}

/// [LD-5] Groups from `memberOf` DNs: each group's DN, and its name (first RDN value) only for a group directly
/// under `group_base`, so that a group of the same name elsewhere (another OU, an OU below `group_base` whose
/// owner is not the groups' admin) grants nothing. Without `group_base`, rules name full DNs.
pub fn member_of(e: &SearchEntry, attribute: &str, group_base: Option<&str>) -> Vec<String> {
    values(e, attribute)
        .into_iter()
        .flat_map(|dn| {
            let name = if child_of(&dn, group_base) { first_rdn_value(&dn) } else { None };
            name.map(|n| tag_name(&n)).into_iter().chain([tag_dn(&dn)])
        })
        .collect()
}

/// [LD-5] A found group: its DN, and for a group directly under `group_base` one name: its RDN value when the RDN
/// is `name_attribute` (a second value of that attribute is not a name), else the attribute's only value.
pub fn group_names(g: &SearchEntry, name_attribute: &str, group_base: Option<&str>) -> Vec<String> {
    let name = if !child_of(&g.dn, group_base) {
        None
    } else if first_rdn_type(&g.dn).is_some_and(|t| t.eq_ignore_ascii_case(name_attribute)) {
        first_rdn_value(&g.dn)
    } else {
        match values(g, name_attribute).as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    };
    name.map(|n| tag_name(&n)).into_iter().chain([tag_dn(&g.dn)]).collect()
}

/// The group rules in the same tagged form: `upstream` holding `=` as a DN (compared form), else as a name.
fn tagged_rules(rules: &[crate::upstream::config::GroupRule]) -> Vec<crate::upstream::config::GroupRule> {
    let mut rules = rules.to_vec();
    for r in &mut rules {
        r.upstream = if r.upstream.contains('=') { tag_dn(&r.upstream) } else { tag_name(&r.upstream) };
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
        groups: map_groups(&upstream_groups, &tagged_rules(&p.group_rules)),
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
        assert!(groups.contains(&"name:Staff".to_string()));
        assert!(groups.contains(&"dn:cn=staff,ou=groups,dc=example,dc=org".to_string()));
        // An `admins` in another OU is not `admins`: only its own DN names it.
        assert!(!groups.contains(&"name:admins".to_string()), "{groups:?}");
        assert!(groups.contains(&"dn:cn=admins,ou=projects,dc=example,dc=org".to_string()));
        assert!(mapped(&groups, "admins").is_empty());
        // Without group_base no name is released at all, only DNs.
        assert!(!member_of(&e, "memberOf", None).contains(&"name:Staff".to_string()));
    }

    fn mapped(groups: &[String], rule: &str) -> Vec<String> {
        let rules = [crate::upstream::config::GroupRule { upstream: rule.into(), group: "granted".into() }];
        map_groups(groups, &tagged_rules(&rules))
    }

    const BASE: Option<&str> = Some("ou=groups,dc=example,dc=org");

    #[test]
    fn ld_5_a_group_named_like_a_dn_rule_grants_nothing() {
        // A group under group_base whose CN is the text of the Domain Admins DN.
        let e = with_member_of(&["cn=CN\\=Domain Admins\\,CN\\=Users\\,DC\\=corp,ou=groups,dc=example,dc=org"]);
        let groups = member_of(&e, "memberOf", BASE);
        assert!(groups.contains(&"name:CN=Domain Admins,CN=Users,DC=corp".to_string()), "{groups:?}");
        assert!(mapped(&groups, "CN=Domain Admins,CN=Users,DC=corp").is_empty());
        // The real group still matches its DN rule; a name rule never matches a DN.
        let real = member_of(&with_member_of(&["CN=Domain Admins,CN=Users,DC=corp"]), "memberOf", BASE);
        assert_eq!(mapped(&real, "cn=domain admins, cn=users, dc=corp"), ["granted"]);
        assert!(mapped(&real, "Domain Admins").is_empty(), "not under group_base: no name");
    }

    #[test]
    fn ld_5_a_group_of_the_rule_name_in_a_sub_ou_of_group_base_grants_nothing() {
        let e = with_member_of(&["cn=admins,ou=team-x,ou=groups,dc=example,dc=org"]);
        let groups = member_of(&e, "memberOf", BASE);
        assert!(mapped(&groups, "admins").is_empty(), "{groups:?}");
        assert_eq!(mapped(&groups, "cn=admins,ou=team-x,ou=groups,dc=example,dc=org"), ["granted"]);
        assert_eq!(
            mapped(&member_of(&with_member_of(&["cn=admins,ou=groups,dc=example,dc=org"]), "memberOf", BASE), "admins"),
            ["granted"]
        );
        // The same for a group found by search.
        let g = SearchEntry {
            dn: "cn=admins,ou=team-x,ou=groups,dc=example,dc=org".into(),
            attrs: [("cn".to_string(), vec!["admins".to_string()])].into_iter().collect(),
            bin_attrs: Default::default(),
        };
        assert!(mapped(&group_names(&g, "cn", BASE), "admins").is_empty());
    }

    #[test]
    fn ld_5_an_escaped_comma_is_not_the_group_base_boundary() {
        let e = with_member_of(&["cn=admins,ou=x\\,ou=groups,dc=example,dc=org"]);
        let groups = member_of(&e, "memberOf", BASE);
        assert!(mapped(&groups, "admins").is_empty(), "{groups:?}");
        assert!(child_of("CN=Admins, OU=Groups,DC=Example,DC=org", BASE));
        assert!(!child_of("cn=a\\,ou=groups,dc=example,dc=org", BASE), "one RDN whose value holds the comma");
    }

    #[test]
    fn ld_5_a_second_cn_value_on_a_group_grants_nothing() {
        let g = SearchEntry {
            dn: "cn=staff,ou=groups,dc=example,dc=org".into(),
            attrs: [("cn".to_string(), vec!["staff".to_string(), "admins".to_string()])].into_iter().collect(),
            bin_attrs: Default::default(),
        };
        let names = group_names(&g, "cn", BASE);
        assert!(mapped(&names, "admins").is_empty(), "{names:?}");
        assert_eq!(mapped(&names, "staff"), ["granted"]);
    }

    #[test]
    fn ld_5_dns_compare_without_case_or_spaces_around_separators() {
        assert_eq!(normal_dn("CN=Domain Admins, CN=Users ,DC=corp"), "cn=domain admins,cn=users,dc=corp");
        assert_eq!(normal_dn("cn=a\\,b,ou=X"), "cn=a\\,b,ou=x");
    }

    #[test]
    fn ld_7_the_directory_s_failure_count_is_a_number_or_one_value_per_failure() {
        let e = |name: &str, v: &[&str]| SearchEntry {
            dn: "uid=ada".into(),
            attrs: [(name.to_string(), v.iter().map(|s| s.to_string()).collect())].into_iter().collect(),
            bin_attrs: Default::default(),
        };
        assert_eq!(failure_count(&e("badPwdCount", &["4"]), "badpwdcount"), 4);
        let times = ["20261202013000Z", "20261202013001Z", "20261202013002.5Z"];
        assert_eq!(failure_count(&e("pwdFailureTime", &times), "pwdFailureTime"), 3);
        assert_eq!(failure_count(&e("pwdFailureTime", &times[..1]), "pwdFailureTime"), 1);
        assert_eq!(failure_count(&e("uid", &["ada"]), "pwdFailureTime"), 0);
        assert_eq!(failure_count(&e("pwdFailureTime", &times), ""), 0);
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
