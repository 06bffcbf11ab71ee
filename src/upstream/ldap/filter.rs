//! Filling filter templates ([LD-3]): every placeholder in one pass, each value escaped per RFC 4515, so that a
//! value holding another placeholder's text (a DN with `{username}` in it) is never filled again.

use ldap3::{SearchEntry, ldap_escape};

/// The template with each `(placeholder, value)` replaced by the escaped value, scanning the template once.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    'scan: while !rest.is_empty() {
        for (placeholder, value) in values {
            if let Some(after) = rest.strip_prefix(placeholder) {
                out.push_str(&ldap_escape(*value));
                rest = after;
                continue 'scan;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The attribute `user_filter` matches the typed name against (`uid` in `(&(objectClass=x)(uid={username}))`).
pub fn username_attribute(user_filter: &str) -> Option<&str> {
    let before = &user_filter[..user_filter.find("={username}")?];
    let attr = before.rsplit('(').next()?.trim_end_matches([':', '~', '<', '>']);
    (!attr.is_empty() && attr.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')).then_some(attr)
}

/// [LD-3] The entry's own value of that attribute (not the text typed, which may be a variant or another
/// attribute's value), for `{username}` in `group_filter`.
pub fn username_of(user_filter: &str, e: &SearchEntry) -> Option<String> {
    let attr = username_attribute(user_filter)?;
    e.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(attr)).and_then(|(_, v)| v.first().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ld_3_a_dn_holding_the_username_placeholder_is_not_rewritten() {
        let dn = "cn={username},ou=people,dc=example,dc=org";
        let f = fill("(|(member={dn})(memberUid={username}))", &[("{dn}", dn), ("{username}", "ada")]);
        assert_eq!(f, "(|(member=cn={username},ou=people,dc=example,dc=org)(memberUid=ada))");
        assert_eq!(fill("(uid={username})", &[("{username}", "a*)(x")]), "(uid=a\\2a\\29\\28x)");
        assert_eq!(fill("(cn=é{dn})", &[("{dn}", "x")]), "(cn=éx)");
    }

    #[test]
    fn ld_3_the_group_filter_gets_the_entry_s_own_name() {
        assert_eq!(username_attribute("(&(objectClass=inetOrgPerson)(uid={username}))"), Some("uid"));
        assert_eq!(username_attribute("(|(uid={username})(mail={username}))"), Some("uid"));
        assert_eq!(username_attribute("(sAMAccountName={username})"), Some("sAMAccountName"));
        let e = SearchEntry {
            dn: "uid=ada,ou=people".into(),
            attrs: [("uid".to_string(), vec!["ada".to_string()])].into_iter().collect(),
            bin_attrs: Default::default(),
        };
        assert_eq!(username_of("(uid={username})", &e).as_deref(), Some("ada"));
        assert_eq!(username_of("(mail={username})", &e), None);
    }
}
