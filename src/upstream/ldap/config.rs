//! The `[ldap]` table of a `kind = "ldap"` provider file, and its checks ([LD-1]).

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Where the groups of a person come from.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GroupsFrom {
    /// No groups.
    #[default]
    None,
    /// The user entry's `memberOf` (or `group_attribute`) values, as DNs; the group name is the first RDN value.
    MemberOf,
    /// A search under `group_base` with `group_filter` (`{dn}` is the user's DN, `{username}` the typed name,
    /// both escaped); the group name is `group_name_attribute`.
    Search,
}

/// A secret serializes as its SHA-256, never its value.
fn password_by_hash<S: serde::Serializer>(s: &Secret, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(&crate::secret::hash_token(s.expose()))
}

/// How to reach the directory and find people in it.
/// Serialized for the answerer fingerprint ([HR-5b]), the service password as its hash.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldaps://host:636`, or `ldap://host:389` (with `start_tls = true`, or to loopback, or `insecure = true`).
    pub url: String,
    #[serde(default)]
    pub start_tls: bool,
    /// PEM file of the CA(s) the directory's certificate must chain to (else the system roots).
    pub ca_file: Option<PathBuf>,
    /// Allows plain `ldap://` to a non-loopback host (passwords cross the network in the clear). Logged.
    #[serde(default)]
    pub insecure: bool,
    /// The service account that searches for people.
    pub bind_dn: String,
    #[serde(serialize_with = "password_by_hash")]
    pub bind_password: Secret,
    pub user_base: String,
    /// `{username}` is replaced by the typed name, escaped per RFC 4515.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// A stable, unique attribute: `entryUUID` (OpenLDAP, 389-ds), `objectGUID` (Active Directory). Never the DN.
    #[serde(default = "default_subject")]
    pub subject_attribute: String,
    #[serde(default)]
    pub groups: GroupsFrom,
    #[serde(default = "default_group_attribute")]
    pub group_attribute: String,
    pub group_base: Option<String>,
    #[serde(default = "default_group_filter")]
    pub group_filter: String,
    #[serde(default = "default_group_name")]
    pub group_name_attribute: String,
    /// Connecting (TCP and TLS), in seconds.
    #[serde(default = "default_timeout")]
    pub connect_timeout_secs: u64,
    /// Each LDAP operation (bind, search), in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// [LD-7] Wrong passwords for one account before the broker stops asking the directory, counted until
    /// `failure_window_secs` pass without one. Set it below the directory's own lockout threshold (Active
    /// Directory's "Account lockout threshold", ppolicy's `pwdMaxFailure`), divided by the number of broker
    /// instances (each counts on its own).
    #[serde(default = "default_max_failures")]
    pub max_failures: u32,
    /// [LD-7] At least the directory's own counting window (AD's "Reset account lockout counter after", ppolicy's
    /// `pwdFailureCountInterval`; when that is 0, failures never expire there: keep it long).
    #[serde(default = "default_failure_window")]
    pub failure_window_secs: u64,
    /// [LD-7b] Connections to the directory at once (sign-ins in flight); beyond that a "try again" page.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// [LD-7b] Password attempts in flight at once from one address (IPv4, IPv6 /64); beyond that 429 before any
    /// connection is taken. Raise it when many people sign in through one NAT address.
    #[serde(default = "default_attempts_per_address")]
    pub max_attempts_per_address: u32,
    /// [LD-7] The entry's own failure counter, read in the user search: `pwdFailureTime` (ppolicy: one value per
    /// failure remembered), `badPwdCount` (Active Directory: a number); `""` to not read one. When the directory
    /// already counts `max_failures` or more, the broker refuses without a bind, whatever its own count says.
    #[serde(default = "default_failure_count_attribute")]
    pub failure_count_attribute: String,
}

fn default_user_filter() -> String {
    "(uid={username})".into()
}
fn default_subject() -> String {
    "entryUUID".into()
}
fn default_group_attribute() -> String {
    "memberOf".into()
}
fn default_group_filter() -> String {
    "(member={dn})".into()
}
fn default_group_name() -> String {
    "cn".into()
}
fn default_timeout() -> u64 {
    5
}
fn default_max_failures() -> u32 {
    5
}
fn default_failure_window() -> u64 {
    900
}
fn default_max_connections() -> u32 {
    20
}
fn default_attempts_per_address() -> u32 {
    2
}
fn default_failure_count_attribute() -> String {
    "pwdFailureTime".into()
}

/// The longest `failure_window_secs` (a day).
pub const MAX_FAILURE_WINDOW_SECS: u64 = bridgekeeper_core::password_budget::MAX_WINDOW_SECS;

/// Attribute names that are the DN, which changes on a rename or move and so never identifies a person.
const DN_NAMES: [&str; 3] = ["dn", "distinguishedname", "entrydn"];

impl LdapConfig {
    /// Interpolates `bind_password` (`${VAR}`) from the environment.
    pub fn interpolate(&mut self, env: &[(String, String)]) -> Result<(), (&'static str, String)> {
        let value = crate::settings::interpolate(self.bind_password.expose(), env)
            .map_err(|v| ("ldap.bind_password", format!("environment variable {v} is not set")))?;
        self.bind_password = Secret::new(value);
        Ok(())
    }

    /// [LD-1] The checks of `providers check` and start-up: one problem, with its key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let url = url::Url::parse(&self.url).map_err(|e| ("ldap.url", format!("not a URL ({e})")))?;
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(("ldap.url", "needs a host".into()));
        }
        match url.scheme() {
            "ldaps" if self.start_tls => {
                return Err(("ldap.start_tls", "ldaps:// is already TLS; use start_tls with ldap://".into()));
            }
            "ldaps" => {}
            "ldap" if self.start_tls || self.insecure || is_loopback(host) => {}
            "ldap" => {
                return Err((
                    "ldap.url",
                    "plain ldap:// to a non-loopback host sends passwords in the clear: use ldaps://, start_tls = true, or insecure = true".into(),
                ));
            }
            _ => return Err(("ldap.url", "must be ldap:// or ldaps://".into())),
        }
        if url.path().len() > 1 || url.query().is_some() {
            return Err(("ldap.url", "only scheme, host and port (put the base DN in user_base)".into()));
        }
        if let Some(ca) = &self.ca_file {
            load_ca(ca).map_err(|e| ("ldap.ca_file", e))?;
        }
        if self.bind_dn.is_empty() || self.bind_password.expose().is_empty() {
            return Err((
                "ldap.bind_dn",
                "a service account (bind_dn and bind_password) is needed: anonymous binds are never used".into(),
            ));
        }
        if self.user_base.is_empty() {
            return Err(("ldap.user_base", "required".into()));
        }
        check_filter("ldap.user_filter", &self.user_filter, "{username}")?;
        if DN_NAMES.contains(&self.subject_attribute.to_ascii_lowercase().as_str())
            || !is_attribute(&self.subject_attribute)
        {
            return Err((
                "ldap.subject_attribute",
                "a stable attribute such as entryUUID or objectGUID (never the DN, which changes on a rename)".into(),
            ));
        }
        for (key, a) in
            [("ldap.group_attribute", &self.group_attribute), ("ldap.group_name_attribute", &self.group_name_attribute)]
        {
            if !is_attribute(a) {
                return Err((key, "an attribute name".into()));
            }
        }
        if self.groups == GroupsFrom::Search {
            if self.group_base.as_deref().is_none_or(str::is_empty) {
                return Err(("ldap.group_base", "required with groups = \"search\"".into()));
            }
            check_filter("ldap.group_filter", &self.group_filter, "{dn}")?;
        }
        if !(1..=60).contains(&self.connect_timeout_secs) || !(1..=60).contains(&self.timeout_secs) {
            return Err(("ldap.timeout_secs", "connect_timeout_secs and timeout_secs are 1 to 60".into()));
        }
        if !(1..=100).contains(&self.max_failures) {
            return Err(("ldap.max_failures", "1 to 100, below the directory's lockout threshold".into()));
        }
        if !(60..=MAX_FAILURE_WINDOW_SECS).contains(&self.failure_window_secs) {
            return Err(("ldap.failure_window_secs", format!("60 to {MAX_FAILURE_WINDOW_SECS} seconds")));
        }
        if !(1..=1000).contains(&self.max_connections) {
            return Err(("ldap.max_connections", "1 to 1000".into()));
        }
        if !(1..=1000).contains(&self.max_attempts_per_address) {
            return Err(("ldap.max_attempts_per_address", "1 to 1000".into()));
        }
        if !self.failure_count_attribute.is_empty() && !is_attribute(&self.failure_count_attribute) {
            return Err(("ldap.failure_count_attribute", "an attribute name, or \"\" for none".into()));
        }
        Ok(())
    }

    /// [LD-7] The failure budget of one account.
    pub fn budget(&self) -> bridgekeeper_core::password_budget::Budget {
        bridgekeeper_core::password_budget::Budget {
            max_failures: self.max_failures,
            window_secs: i64::try_from(self.failure_window_secs).unwrap_or(i64::MAX),
        }
    }

    /// Plain `ldap://` without StartTLS to a host that is not loopback (allowed only with `insecure = true`).
    pub fn is_cleartext_remote(&self) -> bool {
        url::Url::parse(&self.url).is_ok_and(|u| {
            u.scheme() == "ldap"
                && !self.start_tls
                && !is_loopback(u.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']'))
        })
    }
}

/// [LD-6] What `check-config` and `providers check` warn about in an ldap provider file (it still loads).
pub fn warnings(p: &crate::upstream::config::ProviderConfig) -> Vec<String> {
    let mut out = Vec::new();
    if p.ldap.is_some() && p.trust_email {
        out.push(format!(
            "warning: {}: key `trust_email`: the directory's mail attribute is then believed as a verified address \
             (and can link by email): make sure people cannot write their own mail (OpenLDAP: no `by self write` \
             on mail; AD: self-service attribute edits off), or anyone who sets a victim's address takes over the \
             victim's account",
            p.file.display()
        ));
    }
    out
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An LDAP attribute description: a letter, then letters, digits and `-` (or a numeric OID).
fn is_attribute(a: &str) -> bool {
    let b = a.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphabetic() && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            || b.iter().all(|c| c.is_ascii_digit() || *c == b'.'))
}

/// A filter template must name its placeholder and parse once filled in.
fn check_filter(key: &'static str, template: &str, placeholder: &str) -> Result<(), (&'static str, String)> {
    if !template.contains(placeholder) {
        return Err((key, format!("must contain {placeholder}")));
    }
    let sample = template.replace("{username}", "sample").replace("{dn}", "cn=sample");
    if !sample.starts_with('(') || !sample.ends_with(')') || ldap3::parse_filter(&sample).is_err() {
        return Err((key, "not an LDAP filter (RFC 4515), e.g. \"(uid={username})\"".into()));
    }
    Ok(())
}

/// The CA certificates of a PEM file (at least one).
pub fn load_ca(path: &std::path::Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {} ({e})", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not PEM certificates ({e})", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: holds no certificate", path.display()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> LdapConfig {
        toml::from_str(&format!(
            "url = \"{url}\"\nbind_dn = \"cn=svc\"\nbind_password = \"pw\"\nuser_base = \"ou=people,dc=example,dc=org\""
        ))
        .unwrap()
    }

    #[test]
    fn ld_1_plain_ldap_only_to_loopback_unless_insecure() {
        assert!(cfg("ldap://127.0.0.1:389").validate().is_ok());
        assert!(cfg("ldap://[::1]:389").validate().is_ok());
        assert!(cfg("ldap://localhost").validate().is_ok());
        assert_eq!(cfg("ldap://dir.example.org").validate().unwrap_err().0, "ldap.url");
        let mut c = cfg("ldap://dir.example.org");
        c.start_tls = true;
        assert!(c.validate().is_ok());
        let mut c = cfg("ldap://dir.example.org");
        c.insecure = true;
        assert!(c.validate().is_ok() && c.is_cleartext_remote());
        assert!(cfg("ldaps://dir.example.org").validate().is_ok());
        assert!(cfg("http://dir.example.org").validate().is_err());
    }

    #[test]
    fn ld_1_the_subject_is_never_the_dn_and_filters_must_parse() {
        for bad in ["dn", "distinguishedName", "entryDN", "", "a b"] {
            let mut c = cfg("ldaps://d");
            c.subject_attribute = bad.into();
            assert_eq!(c.validate().unwrap_err().0, "ldap.subject_attribute", "{bad}");
        }
        let mut c = cfg("ldaps://d");
        c.user_filter = "(uid=fixed)".into();
        assert_eq!(c.validate().unwrap_err().0, "ldap.user_filter");
        c.user_filter = "(&(uid={username})".into();
        assert_eq!(c.validate().unwrap_err().0, "ldap.user_filter");
        c.user_filter = "(&(objectClass=person)(uid={username}))".into();
        assert!(c.validate().is_ok());
        c.groups = GroupsFrom::Search;
        assert_eq!(c.validate().unwrap_err().0, "ldap.group_base");
    }

    #[test]
    fn ld_7_the_budget_defaults_to_5_failures_per_15_minutes_and_is_bounded() {
        let c = cfg("ldaps://d");
        assert_eq!((c.max_failures, c.failure_window_secs, c.max_connections), (5, 900, 20));
        for (key, bad) in [("ldap.max_failures", 0u64), ("ldap.failure_window_secs", 10), ("ldap.max_connections", 0)] {
            let mut c = cfg("ldaps://d");
            match key {
                "ldap.max_failures" => c.max_failures = bad as u32,
                "ldap.failure_window_secs" => c.failure_window_secs = bad,
                _ => c.max_connections = bad as u32,
            }
            assert_eq!(c.validate().unwrap_err().0, key);
        }
    }

    #[test]
    fn ld_7_the_directory_count_and_the_address_cap_have_defaults_and_are_checked() {
        let c = cfg("ldaps://d");
        assert_eq!((c.max_attempts_per_address, c.failure_count_attribute.as_str()), (2, "pwdFailureTime"));
        let mut c = cfg("ldaps://d");
        c.max_attempts_per_address = 0;
        assert_eq!(c.validate().unwrap_err().0, "ldap.max_attempts_per_address");
        let mut c = cfg("ldaps://d");
        c.failure_count_attribute = "a b".into();
        assert_eq!(c.validate().unwrap_err().0, "ldap.failure_count_attribute");
        c.failure_count_attribute = String::new();
        assert!(c.validate().is_ok(), "\"\" reads no count");
    }
}
