//! Sign in with Apple ([AP-1]–[AP-8]): what the broker believes of the `user` JSON Apple posts on a first
//! sign-in, and the claims of the client secret (an ES256 JWT the broker signs with the team's key).

use serde::Serialize;

/// [AP-6] How long a client secret the broker signs is valid (Apple's limit is six months): one day.
pub const CLIENT_SECRET_LIFETIME_SECS: i64 = 24 * 3600;
/// [AP-6] A cached client secret is signed again once less than this remains of it (half its lifetime).
pub const CLIENT_SECRET_RENEW_BEFORE_SECS: i64 = CLIENT_SECRET_LIFETIME_SECS / 2;
/// Apple's ceiling on a client secret's lifetime (15777000 s, six months).
pub const CLIENT_SECRET_MAX_SECS: i64 = 15_777_000;
/// The longest name kept from the `user` JSON, in characters.
const MAX_NAME_CHARS: usize = 200;

/// The claims of the client secret (Apple: "Creating a client secret").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientSecretClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// [AP-6] `iss` = the team id, `sub` = the service id (the client id), `aud` = Apple's issuer, valid for
/// [`CLIENT_SECRET_LIFETIME_SECS`] from `now`.
pub fn client_secret_claims(team_id: &str, service_id: &str, audience: &str, now: i64) -> ClientSecretClaims {
    ClientSecretClaims {
        iss: team_id.to_string(),
        sub: service_id.to_string(),
        aud: audience.to_string(),
        iat: now,
        exp: now + CLIENT_SECRET_LIFETIME_SECS,
    }
}

/// [AP-6] Is a secret that expires at `exp` still good to send at `now` (not within the renewal margin)?
pub fn client_secret_fresh(exp: i64, now: i64) -> bool {
    exp - now > CLIENT_SECRET_RENEW_BEFORE_SECS
}

/// [AP-1] The display name in the `user` JSON Apple posts on a first sign-in
/// (`{"name": {"firstName": …, "lastName": …}, "email": …}`): first and last name joined, trimmed, without control or
/// hidden format characters, at most 200 characters; `None` when there is none or the JSON does not parse. Only the
/// name is read (the email comes from the verified ID token alone), and only after the ID token of the same answer
/// verified.
pub fn name_from_user_json(user: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(user).ok()?;
    let name = v.get("name")?;
    let part = |k: &str| name.get(k).and_then(|p| p.as_str()).map(str::trim).filter(|s| !s.is_empty());
    let joined = [part("firstName"), part("lastName")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let clean: String = joined.chars().filter(|c| !c.is_control() && !hidden_format(*c)).take(MAX_NAME_CHARS).collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty()).then_some(clean)
}

/// [AP-1] Format characters that reorder or hide text (bidi embeddings, overrides, isolates and marks; zero-width
/// space, word joiner and invisible operators, BOM, soft hyphen): in a display name they only spoof ("\u{202E}nimdA"
/// shows as "Admin"). ZWNJ/ZWJ (U+200C/U+200D) stay: Persian, Indic scripts and emoji sequences need them.
fn hidden_format(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{FEFF}')
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2060}'..='\u{2064}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ap_1_the_name_is_read_from_the_user_json_and_nothing_else() {
        let u = r#"{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"other@evil.test"}"#;
        assert_eq!(name_from_user_json(u).as_deref(), Some("Ada Lovelace"));
        assert_eq!(name_from_user_json(r#"{"name":{"firstName":" Ada\u0000 "}}"#).as_deref(), Some("Ada"));
        assert_eq!(name_from_user_json(r#"{"email":"x@y"}"#), None);
        assert_eq!(name_from_user_json("not json"), None);
        let long = format!(r#"{{"name":{{"firstName":"{}"}}}}"#, "a".repeat(5000));
        assert_eq!(name_from_user_json(&long).map(|n| n.chars().count()), Some(200));
    }

    #[test]
    fn ap_1_bidi_controls_and_invisible_characters_are_dropped() {
        let n = |first: &str| name_from_user_json(&serde_json::json!({"name": {"firstName": first}}).to_string());
        assert_eq!(n("\u{202E}nimdA").as_deref(), Some("nimdA"), "right-to-left override");
        assert_eq!(
            n("Ad\u{200B}min\u{2066}\u{2069}\u{200F}\u{FEFF}\u{2060}\u{061C}\u{00AD}").as_deref(),
            Some("Admin")
        );
        assert_eq!(n("\u{2067}\u{202B}").as_deref(), None, "nothing visible is no name");
        assert_eq!(n("می\u{200C}خواهم").as_deref(), Some("می\u{200C}خواهم"), "ZWNJ belongs to Persian spelling");
    }

    #[test]
    fn ap_6_client_secret_claims_and_renewal() {
        let c = client_secret_claims("TEAM", "com.example.web", "https://appleid.apple.com", 1000);
        assert_eq!(
            (c.iss.as_str(), c.sub.as_str(), c.aud.as_str()),
            ("TEAM", "com.example.web", "https://appleid.apple.com")
        );
        assert!(c.exp - c.iat <= CLIENT_SECRET_MAX_SECS && c.exp > c.iat);
        assert!(client_secret_fresh(c.exp, 1000));
        assert!(client_secret_fresh(c.exp, 1000 + CLIENT_SECRET_RENEW_BEFORE_SECS - 1));
        assert!(!client_secret_fresh(c.exp, 1000 + CLIENT_SECRET_RENEW_BEFORE_SECS));
    }
}
