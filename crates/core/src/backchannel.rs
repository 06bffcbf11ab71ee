//! OpenID Connect Back-Channel Logout 1.0, the broker as the OP that sends: what a client may register, what a
//! Logout Token says (§2.4), the `sid` the broker shows for a session, and when a failed delivery is tried again.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The one member of a Logout Token's `events` claim (§2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The JOSE `typ` of a Logout Token (§2.4, RECOMMENDED; distinguishes it from an ID token).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";

/// [BL-6] A `backchannel_logout_uri` follows the redirect-URI rules of a confidential client: absolute, https (or
/// http on a loopback host), no fragment, no user information, no custom scheme. It may carry a query (§2.2).
pub fn validate_logout_uri(uri: &str) -> Result<(), String> {
    if uri.len() > 2000 {
        return Err("too long".into());
    }
    crate::redirect::validate_for_client(uri, false)
}

/// [BL-9] A `backchannel_logout_uri` a client registers for itself (dynamic registration, the developer portal):
/// the rules of [`validate_logout_uri`], https only, and not aimed at the broker's own networks when its host is a
/// literal: no `localhost`, no loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local
/// (169.254/16, fe80::/10), unspecified or IPv4-mapped address. A DNS name that resolves to such an address is
/// refused when the token is delivered ([BL-10], [`is_internal_ip`]).
pub fn validate_self_service_logout_uri(uri: &str) -> Result<(), String> {
    validate_logout_uri(uri)?;
    let url = url::Url::parse(uri).map_err(|e| format!("not an absolute URI ({e})"))?;
    if url.scheme() != "https" {
        return Err("must use https".into());
    }
    let internal = match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => internal_v4(ip),
        Some(url::Host::Ipv6(ip)) => internal_v6(ip),
        None => true,
    };
    if internal {
        Err("must not point at localhost or a loopback, private or link-local address".into())
    } else {
        Ok(())
    }
}

/// [BL-10] Is `ip` one of the broker's own networks, or not a unicast address on the internet at all? IPv4:
/// "this network" (0/8), loopback, private, shared/CGNAT (100.64/10, where cloud metadata services such as
/// 100.100.100.200 live), IETF protocol assignments (192.0.0/24), benchmarking (198.18/15), link-local,
/// multicast (224/4), reserved and broadcast (240/4). IPv6: loopback, unspecified, unique local (fc00::/7),
/// link-local (fe80::/10), site-local (fec0::/10), multicast (ff00::/8), local-use NAT64 (64:ff9b:1::/48), any
/// IPv4-compatible address (::/96), and an internal IPv4 address embedded by IPv4-mapping, NAT64
/// (64:ff9b::/96) or 6to4 (2002::/16). A self-registered logout URI whose name resolves to one is never called.
pub fn is_internal_ip(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => internal_v4(v4),
        std::net::IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: std::net::Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b & 0xfe) == 18)
        || a >= 224
}

fn internal_v6(ip: std::net::Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| internal_v4(std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] & 0xff00) == 0xff00
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        || s[..6] == [0; 6]
        || (s[..6] == [0, 0, 0, 0, 0, 0xffff] && embedded(s[6], s[7]))
        || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && embedded(s[6], s[7]))
        || (s[0] == 0x2002 && embedded(s[1], s[2]))
}

/// [BL-3] The `sid` shown to apps for a broker session: a one-way function of the stored session hash (itself
/// the SHA-256 of the cookie value), so that it names the session in ID tokens and Logout Tokens alike and can
/// never be turned back into the cookie or into the row key.
pub fn sid_for_session(session_hash: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"bridgekeeper sid\0");
    h.update(session_hash.as_bytes());
    let digest = h.finalize();
    URL_SAFE_NO_PAD.encode(digest.get(..18).unwrap_or_default())
}

/// The claims of a Logout Token (§2.4). There is no `nonce` field: one can never be sent.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LogoutClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub events: serde_json::Value,
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// One queued logout for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub sub: &'a str,
    pub sid: Option<&'a str>,
    /// Stays the same across retries (§2.4: a unique identifier of the token).
    pub jti: &'a str,
}

/// [BL-2] The Logout Token claims for `p`, signed at `now` (each delivery attempt gets a fresh `iat` so that a
/// retry is not refused as stale), valid for `ttl` seconds.
pub fn logout_claims(p: &Pending<'_>, now: i64, ttl: i64) -> LogoutClaims {
    LogoutClaims {
        iss: p.issuer.to_string(),
        aud: p.client_id.to_string(),
        iat: now,
        exp: now + ttl.max(1),
        jti: p.jti.to_string(),
        events: serde_json::json!({ BACKCHANNEL_EVENT: {} }),
        sub: p.sub.to_string(),
        sid: p.sid.map(String::from),
    }
}

/// [BL-1] 200 and 204 mean the app took the token (§2.8); anything else (including a redirect) is a failure.
pub fn delivered(status: u16) -> bool {
    matches!(status, 200 | 204)
}

/// How failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_secs: i64,
    pub max_secs: i64,
    /// A token not delivered this long after the session ended is given up.
    pub give_up_after_secs: i64,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(i64),
    GiveUp,
}

/// [BL-5] Exponential backoff (`base`, `2·base`, `4·base`… capped at `max`) until the give-up window is over.
/// `attempts` counts the attempts made so far, this one included.
pub fn after_failure(p: &RetryPolicy, created_at: i64, attempts: i32, now: i64) -> AfterFailure {
    let shift = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let delay = p.base_secs.max(1).saturating_mul(1i64 << shift).min(p.max_secs.max(1));
    let at = now.saturating_add(delay);
    if now >= created_at.saturating_add(p.give_up_after_secs) {
        AfterFailure::GiveUp
    } else {
        AfterFailure::RetryAt(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bl_9_self_registered_logout_uris_are_https_and_not_internal_literals() {
        assert!(validate_self_service_logout_uri("https://app.example/bc").is_ok());
        assert!(validate_self_service_logout_uri("https://8.8.8.8/bc").is_ok());
        assert!(validate_self_service_logout_uri("https://[2001:db8::1]/bc").is_ok());
        for bad in [
            "http://app.example/bc",
            "http://127.0.0.1:8080/bc",
            "https://127.0.0.1/bc",
            "https://127.1.2.3/bc",
            "https://localhost/bc",
            "https://LOCALHOST./bc",
            "https://x.localhost/bc",
            "https://10.0.0.5/bc",
            "https://172.16.0.1/bc",
            "https://172.31.255.255/bc",
            "https://192.168.1.1/bc",
            "https://169.254.169.254/latest/meta-data",
            "https://0.0.0.0/bc",
            "https://[::1]/bc",
            "https://[fc00::1]/bc",
            "https://[fd12:3456::1]/bc",
            "https://[fe80::1]/bc",
            "https://[::ffff:10.0.0.1]/bc",
            "https://0x7f000001/bc",
            "https://2130706433/bc",
            "https://app.example/bc#f",
        ] {
            assert!(validate_self_service_logout_uri(bad).is_err(), "{bad}");
        }
        assert!(validate_self_service_logout_uri("https://172.32.0.1/bc").is_ok(), "172.32/16 is public");
    }

    #[test]
    fn bl_10_resolved_addresses_of_the_brokers_own_networks_are_internal() {
        for internal in
            ["127.0.0.1", "127.0.1.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0"]
                .iter()
                .chain(&["::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "::"])
        {
            assert!(is_internal_ip(internal.parse().unwrap()), "{internal}");
        }
        for public in ["8.8.8.8", "172.32.0.1", "2001:4860::8888", "::ffff:8.8.8.8"] {
            assert!(!is_internal_ip(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn bl_10_cgnat_nat64_and_6to4_addresses_are_internal() {
        for internal in [
            "100.64.0.1",
            "100.100.100.200",
            "100.127.255.255",
            "192.0.0.1",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.254",
            "224.0.0.1",
            "239.255.255.250",
            "0.1.2.3",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::",
            "::127.0.0.1",
            "::10.0.0.1",
            "::8.8.8.8",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ] {
            assert!(is_internal_ip(internal.parse().unwrap()), "{internal}");
        }
        for public in ["100.63.255.255", "100.128.0.1", "198.20.0.1", "223.255.255.255", "64:ff9b::808:808"]
            .iter()
            .chain(&["2002:808:808::1", "2001:db8::1", "2606:4700::1111"])
        {
            assert!(!is_internal_ip(public.parse().unwrap()), "{public}");
        }
        assert!(validate_self_service_logout_uri("https://100.100.100.200/bc").is_err());
        assert!(validate_self_service_logout_uri("https://[64:ff9b::a9fe:a9fe]/bc").is_err());
    }

    #[test]
    fn bl_6_logout_uris_follow_the_confidential_redirect_rules() {
        assert!(validate_logout_uri("https://app.example/logout?x=1").is_ok());
        assert!(validate_logout_uri("http://127.0.0.1:8080/bc").is_ok());
        assert!(validate_logout_uri("http://app.example/bc").is_err(), "http only on loopback");
        assert!(validate_logout_uri("https://app.example/bc#f").is_err(), "no fragment");
        assert!(validate_logout_uri("https://u:p@app.example/bc").is_err(), "no user info");
        assert!(validate_logout_uri("com.example.app:/bc").is_err(), "no custom scheme");
        assert!(validate_logout_uri("/relative").is_err());
    }

    #[test]
    fn bl_3_sid_is_stable_opaque_and_not_the_hash() {
        let a = sid_for_session("hash-a");
        assert_eq!(a, sid_for_session("hash-a"));
        assert_ne!(a, sid_for_session("hash-b"));
        assert!(!a.contains("hash-a"));
        assert_eq!(a.len(), 24);
    }

    #[test]
    fn bl_2_logout_claims_have_what_section_2_4_asks_and_no_nonce() {
        let p = Pending { issuer: "https://op", client_id: "app", sub: "u1", sid: Some("s1"), jti: "j1" };
        let c = serde_json::to_value(logout_claims(&p, 1000, 120)).unwrap();
        assert_eq!(c["iss"], "https://op");
        assert_eq!(c["aud"], "app");
        assert_eq!(c["iat"], 1000);
        assert_eq!(c["exp"], 1120);
        assert_eq!(c["jti"], "j1");
        assert_eq!(c["sub"], "u1");
        assert_eq!(c["sid"], "s1");
        assert_eq!(c["events"], serde_json::json!({ BACKCHANNEL_EVENT: {} }));
        assert!(c.get("nonce").is_none());
        let no_sid = Pending { sid: None, ..p };
        assert!(serde_json::to_value(logout_claims(&no_sid, 1, 1)).unwrap().get("sid").is_none());
    }

    #[test]
    fn bl_1_only_200_and_204_count_as_delivered() {
        assert!(delivered(200) && delivered(204));
        assert!(!delivered(302) && !delivered(400) && !delivered(500) && !delivered(201));
    }

    #[test]
    fn bl_5_backoff_doubles_up_to_the_cap_and_gives_up_after_the_window() {
        let p = RetryPolicy { base_secs: 5, max_secs: 60, give_up_after_secs: 1000 };
        assert_eq!(after_failure(&p, 0, 1, 10), AfterFailure::RetryAt(15));
        assert_eq!(after_failure(&p, 0, 2, 10), AfterFailure::RetryAt(20));
        assert_eq!(after_failure(&p, 0, 3, 10), AfterFailure::RetryAt(30));
        assert_eq!(after_failure(&p, 0, 9, 10), AfterFailure::RetryAt(70), "capped at max");
        assert_eq!(after_failure(&p, 0, i32::MAX, 10), AfterFailure::RetryAt(70), "no overflow");
        assert_eq!(after_failure(&p, 0, 4, 1000), AfterFailure::GiveUp);
    }
}
