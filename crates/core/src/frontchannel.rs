//! OpenID Connect Front-Channel Logout 1.0, the broker as the OP: what a client may register as its
//! `frontchannel_logout_uri` (§2), the address each iframe of the signed-out page loads (§3), and the
//! `frame-src` of that page's Content-Security-Policy (only the origins of those frames).

use url::Url;

/// [FL-1] A `frontchannel_logout_uri` follows the redirect-URI rules of a confidential client (absolute, https
/// or http on a loopback host, no fragment, no user information, no custom scheme; a query is kept, §2) and its
/// scheme, host and port are those of one of the client's registered redirect URIs (§2: "The domain, port, and
/// scheme of this URL MUST be the same as that of a registered Redirection URI value").
pub fn validate_frontchannel_uri(uri: &str, redirect_uris: &[String]) -> Result<(), String> {
    crate::backchannel::validate_logout_uri(uri)?;
    let url = Url::parse(uri).map_err(|e| format!("not an absolute URI ({e})"))?;
    let origin = url.origin();
    let same = redirect_uris.iter().filter_map(|r| Url::parse(r).ok()).any(|r| r.origin() == origin);
    if same { Ok(()) } else { Err("must have the scheme, host and port of a registered redirect URI".into()) }
}

/// [FL-3] The address an iframe of the signed-out page loads for one app: the registered URI, with `iss` and
/// `sid` appended to its query when the app registered `frontchannel_logout_session_required` (§3). `sid` is the
/// `sid` of the app's ID tokens for the session that ended.
pub fn frame_src(uri: &str, issuer: &str, sid: &str, session_required: bool) -> String {
    if session_required { crate::redirect::with_params(uri, &[("iss", issuer), ("sid", sid)]) } else { uri.to_string() }
}

/// [FL-4] The `frame-src` directive of the signed-out page: exactly the (deduplicated, ASCII-serialised) origins
/// of the frames, nothing else; `'none'` when there are none. An address that does not parse as a tuple origin
/// contributes nothing, and neither does one that is not http(s) or whose host is not a DNS name of LDH labels or
/// an IP literal ([`crate::redirect::ldh_or_ip_host`]; registration refuses those already, [FL-1]), so no
/// registered value can inject another policy (`,`), directive (`;`) or source.
pub fn frame_src_directive<'a>(frames: impl IntoIterator<Item = &'a str>) -> String {
    let mut origins: Vec<String> = frames
        .into_iter()
        .filter_map(|f| Url::parse(f).ok())
        .filter(|u| matches!(u.scheme(), "https" | "http") && crate::redirect::ldh_or_ip_host(u))
        .map(|u| u.origin())
        .filter(url::Origin::is_tuple)
        .map(|o| o.ascii_serialization())
        .collect();
    origins.sort();
    origins.dedup();
    if origins.is_empty() { "frame-src 'none'".into() } else { format!("frame-src {}", origins.join(" ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fl_1_frontchannel_uris_follow_the_redirect_rules_and_a_registered_origin() {
        let r = reg(&["https://app.example/cb", "http://127.0.0.1:9000/cb"]);
        assert!(validate_frontchannel_uri("https://app.example/fc?x=1", &r).is_ok());
        assert!(validate_frontchannel_uri("https://app.example:443/fc", &r).is_ok(), "default port is the origin's");
        assert!(validate_frontchannel_uri("http://127.0.0.1:9000/fc", &r).is_ok());
        for bad in [
            "https://other.example/fc",
            "https://app.example:8443/fc",
            "http://app.example/fc",
            "http://127.0.0.1:9001/fc",
            "https://evil.app.example/fc",
            "https://app.example/fc#frag",
            "https://u:p@app.example/fc",
            "javascript:alert(1)",
            "data:text/html,hi",
            "/fc",
        ] {
            assert!(validate_frontchannel_uri(bad, &r).is_err(), "{bad}");
        }
        assert!(validate_frontchannel_uri("https://app.example/fc", &[]).is_err(), "no redirect URI, no origin");
    }

    #[test]
    fn fl_3_frames_carry_iss_and_sid_only_when_the_session_is_required() {
        assert_eq!(frame_src("https://a.example/fc", "https://op", "s1", false), "https://a.example/fc");
        assert_eq!(
            frame_src("https://a.example/fc?keep=1", "https://op/t", "s 1", true),
            "https://a.example/fc?keep=1&iss=https%3A%2F%2Fop%2Ft&sid=s+1"
        );
    }

    #[test]
    fn fl_4_frame_src_lists_exactly_the_origins_of_the_frames() {
        let d = frame_src_directive(["https://a.example/fc?x=1", "https://a.example/other", "http://127.0.0.1:9000/f"]);
        assert_eq!(d, "frame-src http://127.0.0.1:9000 https://a.example");
        assert_eq!(frame_src_directive([]), "frame-src 'none'");
        assert_eq!(frame_src_directive(["not a url", "data:text/html,x"]), "frame-src 'none'");
        let d = frame_src_directive(["https://a.example/;script-src *"]);
        assert_eq!(d, "frame-src https://a.example", "a path cannot add a directive");
    }

    #[test]
    fn fl_4_a_host_with_a_comma_or_semicolon_adds_no_policy_or_directive() {
        for bad in ["https://a.example,frame-src/fc", "https://a.example;sandbox/fc", "https://a.example'x/fc"] {
            let redirect = bad.replace("/fc", "/cb");
            assert!(validate_frontchannel_uri(bad, std::slice::from_ref(&redirect)).is_err(), "{bad}");
            let d = frame_src_directive([bad, "https://b.example/fc"]);
            assert_eq!(d, "frame-src https://b.example", "{bad}: {d}");
            assert!(!d.contains(';') && !d.contains(','), "{d}");
        }
        assert_eq!(frame_src_directive(["https://a.example,frame-src/fc"]), "frame-src 'none'");
        let d = frame_src_directive(["https://xn--bcher-kva.example/fc", "http://[::1]:9000/fc", "https://10.0.0.1/"]);
        assert_eq!(d, "frame-src http://[::1]:9000 https://10.0.0.1 https://xn--bcher-kva.example");
    }
}
