//! Redirect URI rules: what may be registered, and exact matching at request time.

use url::Url;

/// Checks a redirect URI an admin or developer registers: absolute, no fragment, no wildcard, http only
/// for loopback/localhost, custom schemes allowed (native apps).
pub fn validate_registered_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("not an absolute URI ({e})"))?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err("must not contain a fragment".into());
    }
    if uri.contains('*') {
        return Err("must not contain wildcards".into());
    }
    if matches!(url.scheme(), "https" | "http") && !ldh_or_ip_host(&url) {
        return Err("the host must be a DNS name (letters, digits, hyphens) or an IP address".into());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host_str() {
            Some("127.0.0.1") | Some("[::1]") | Some("localhost") => Ok(()),
            _ => Err("http is only allowed for loopback addresses".into()),
        },
        "javascript" | "data" | "file" | "vbscript" => Err("scheme not allowed".into()),
        _ => Ok(()),
    }
}

/// [FL-1] Is the host of a web URL an IP literal or a DNS name of LDH labels (letters, digits, hyphens; after
/// IDNA, so an internationalised name counts by its `xn--` form; one trailing dot allowed)? The WHATWG URL
/// parser also accepts `,` `;` `'` `_` `(` … in a host, and a host ends up in headers such as the signed-out
/// page's Content-Security-Policy ([FL-4]), where those characters would add policies or directives.
pub fn ldh_or_ip_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(_)) | Some(url::Host::Ipv6(_)) => true,
        Some(url::Host::Domain(d)) => {
            let d = d.strip_suffix('.').unwrap_or(d);
            !d.is_empty()
                && d.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        }
        None => false,
    }
}

/// The rules for a client registered through a self-service path (developer portal, admin API, CLI, dynamic
/// registration): those of [`validate_registered_uri`], no user information, and custom schemes only for public
/// (native) clients, as reverse domain names (RFC 8252 §7.1).
pub fn validate_for_client(uri: &str, public: bool) -> Result<(), String> {
    validate_registered_uri(uri)?;
    let url = Url::parse(uri).map_err(|e| format!("not an absolute URI ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user information".into());
    }
    match url.scheme() {
        "https" | "http" => Ok(()),
        _ if !public => Err("custom schemes are only allowed for public (native) clients".into()),
        s if !s.contains('.') => Err("a custom scheme must be a reverse domain name (com.example.app)".into()),
        _ => Ok(()),
    }
}

/// Exact string comparison (RFC 3986 §6.2.1); the only relaxation is the port of a loopback IP redirect URI
/// (RFC 8252 §7.3) for public clients. `localhost` gets no relaxation (RFC 9700 §2.1).
pub fn matches_registered(presented: &str, registered: &[String], public_client: bool) -> bool {
    if registered.iter().any(|r| r == presented) {
        return true;
    }
    if !public_client {
        return false;
    }
    let Some(p) = strip_loopback_port(presented) else { return false };
    registered.iter().any(|r| strip_loopback_port(r).is_some_and(|r| r == p))
}

/// `http://127.0.0.1:PORT/rest` -> `http://127.0.0.1/rest` (same for `[::1]`), purely textually; `None` for
/// anything else, so that no URL normalisation can make two different strings equal.
fn strip_loopback_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let host =
        if authority.starts_with('[') { &authority[..=authority.find(']')?] } else { authority.split(':').next()? };
    if host != "127.0.0.1" && host != "[::1]" {
        return None;
    }
    let port = &authority[host.len()..];
    let port_ok =
        port.is_empty() || (port.len() > 1 && port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit()));
    port_ok.then(|| format!("http://{host}{path}"))
}

/// Appends response parameters to a (validated) redirect URI, keeping any registered query.
pub fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(base) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exact_match_only() {
        let r = reg(&["https://app.example/cb"]);
        assert!(matches_registered("https://app.example/cb", &r, false));
        for bad in [
            "https://app.example/cb?foo=bar",
            "https://app.example/cb/",
            "https://app.example/CB",
            "http://app.example/cb",
            "https://app.example:443/cb",
            "https://app.example:8443/cb",
            "https://user@app.example/cb",
            "https://app.example/%63b",
            "https://app.example.evil.com/cb",
            "https://app.example/cb#x",
            "https://app.example/c",
        ] {
            assert!(!matches_registered(bad, &r, false), "{bad}");
            assert!(!matches_registered(bad, &r, true), "{bad}");
        }
    }

    #[test]
    fn loopback_port_varies_only_for_public_clients() {
        let r = reg(&["http://127.0.0.1/callback"]);
        assert!(matches_registered("http://127.0.0.1:51234/callback", &r, true));
        assert!(!matches_registered("http://127.0.0.1:51234/callback", &r, false));
        assert!(!matches_registered("http://127.0.0.1:51234/Callback", &r, true));
        assert!(!matches_registered("http://localhost:51234/callback", &r, true));
    }

    #[test]
    fn registered_query_is_kept() {
        let u = with_params("https://rp.example/cb?dummy1=lorem&dummy2=ipsum", &[("code", "c"), ("state", "a b+")]);
        assert_eq!(u, "https://rp.example/cb?dummy1=lorem&dummy2=ipsum&code=c&state=a+b%2B");
    }

    #[test]
    fn registration_rules() {
        assert!(validate_registered_uri("https://a.example/cb").is_ok());
        assert!(validate_registered_uri("http://127.0.0.1:9000/cb").is_ok());
        assert!(validate_registered_uri("com.example.app:/cb").is_ok());
        assert!(validate_registered_uri("http://a.example/cb").is_err());
        assert!(validate_registered_uri("https://a.example/cb#f").is_err());
        assert!(validate_registered_uri("https://*.example/cb").is_err());
        assert!(validate_registered_uri("javascript:alert(1)").is_err());
        assert!(validate_registered_uri("/relative").is_err());
    }

    #[test]
    fn self_service_rules() {
        assert!(validate_for_client("https://a.example/cb", false).is_ok());
        assert!(validate_for_client("http://localhost:3000/cb", false).is_ok());
        assert!(validate_for_client("com.example.app:/cb", true).is_ok());
        assert!(validate_for_client("com.example.app:/cb", false).is_err());
        assert!(validate_for_client("myapp:/cb", true).is_err());
        assert!(validate_for_client("https://u:p@a.example/cb", false).is_err());
        assert!(validate_for_client("https://a.example/cb#x", true).is_err());
        assert!(validate_for_client("http://a.example/cb", true).is_err());
    }

    #[test]
    fn fl_1_redirect_hosts_are_dns_names_or_ip_literals() {
        for ok in [
            "https://a.example/cb",
            "https://a-b.c9.example:8443/cb",
            "https://bücher.example/cb",
            "https://a.example./cb",
            "https://192.0.2.1/cb",
            "https://[2001:db8::1]/cb",
            "http://localhost:3000/cb",
            "com.example.app:/cb",
        ] {
            assert!(validate_registered_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://a.example,frame-src/cb",
            "https://a.example;sandbox/cb",
            "https://a_b.example/cb",
            "https://a.example'/cb",
            "https://a(b).example/cb",
            "https://a..example/cb",
            "https://a$.example/cb",
        ] {
            assert!(validate_registered_uri(bad).is_err(), "{bad}");
            assert!(validate_for_client(bad, false).is_err(), "{bad}");
        }
    }
}
