//! Who is calling: the TCP peer, or — only when the peer is a configured trusted proxy — the right-most address
//! in `Forwarded` (RFC 7239) or `X-Forwarded-For` that is not itself a trusted proxy (security.md [RL-2]).
//! Rate limits, audit events and access logs all use this address. Computed once per request by the server's
//! middleware and kept in the request's extensions.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpMessage;
use ipnet::IpNet;

/// The believed source of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// `https` when a trusted proxy said the original request was https (`X-Forwarded-Proto`, `proto=`).
    pub https: Option<bool>,
}

/// Parses `trusted_proxies` (CIDRs or single addresses); `Err` names the bad entry.
pub fn parse_proxies(list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not a CIDR"))
        })
        .collect()
}

fn trusted(proxies: &[IpNet], ip: IpAddr) -> bool {
    let ip = canonical(ip);
    proxies.iter().any(|n| n.contains(&ip))
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) compare as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// One hop as written in a header: `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:443`, `"[::1]"`, `2001:db8::1`.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let s = raw.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    s.rsplit_once(':').and_then(|(ip, port)| port.parse::<u16>().ok().and_then(|_| ip.parse().ok()))
}

/// The `for=` and `proto=` of every element of the `Forwarded` headers, in order.
fn forwarded_elements(values: &[&str]) -> Vec<(Option<String>, Option<String>)> {
    let mut out = Vec::new();
    for value in values {
        for element in value.split(',') {
            let (mut for_, mut proto) = (None, None);
            for pair in element.split(';') {
                let Some((k, v)) = pair.split_once('=') else { continue };
                match k.trim().to_ascii_lowercase().as_str() {
                    "for" => for_ = Some(v.trim().to_string()),
                    "proto" => proto = Some(v.trim().trim_matches('"').to_ascii_lowercase()),
                    _ => {}
                }
            }
            out.push((for_, proto));
        }
    }
    out
}

/// The headers a request carries, as far as this module cares.
#[derive(Debug, Default)]
pub struct Headers<'a> {
    pub forwarded: Vec<&'a str>,
    pub x_forwarded_for: Vec<&'a str>,
    pub x_forwarded_proto: Vec<&'a str>,
}

/// The believed client address of a request from `peer` with `headers`. Headers are ignored unless `peer` is a
/// trusted proxy; then the chain is walked from the right, skipping trusted proxies. An entry that cannot be
/// read stops the walk at the proxy that wrote it (an attacker cannot pick an arbitrary key that way).
pub fn resolve(proxies: &[IpNet], peer: IpAddr, headers: &Headers<'_>) -> ClientAddr {
    if !trusted(proxies, peer) {
        return ClientAddr { ip: peer, https: None };
    }
    let (hops, proto): (Vec<String>, Option<String>) = if !headers.forwarded.is_empty() {
        let els = forwarded_elements(&headers.forwarded);
        let proto = els.last().and_then(|(_, p)| p.clone());
        (els.into_iter().map(|(f, _)| f.unwrap_or_default()).collect(), proto)
    } else {
        let hops = headers.x_forwarded_for.iter().flat_map(|v| v.split(',')).map(|s| s.trim().to_string()).collect();
        let proto =
            headers.x_forwarded_proto.iter().flat_map(|v| v.split(',')).last().map(|p| p.trim().to_ascii_lowercase());
        (hops, proto)
    };
    let mut ip = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(h) if trusted(proxies, h) => ip = h,
            Some(h) => {
                ip = h;
                break;
            }
            None => break,
        }
    }
    ClientAddr { ip: canonical(ip), https: proto.map(|p| p == "https") }
}

/// The believed address of an actix request (set by the server's middleware; the TCP peer otherwise).
pub fn of(req: &actix_web::HttpRequest) -> IpAddr {
    if let Some(a) = req.extensions().get::<ClientAddr>() {
        return a.ip;
    }
    req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies() -> Vec<IpNet> {
        parse_proxies(&["10.0.0.0/8".into(), "192.0.2.7".into()]).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff<'a>(v: &'a str) -> Headers<'a> {
        Headers { x_forwarded_for: vec![v], ..Default::default() }
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let a = resolve(&proxies(), ip("203.0.113.9"), &xff("1.1.1.1"));
        assert_eq!(a, ClientAddr { ip: ip("203.0.113.9"), https: None });
        assert_eq!(resolve(&[], ip("10.0.0.1"), &xff("1.1.1.1")).ip, ip("10.0.0.1"), "no proxies configured");
    }

    #[test]
    fn the_right_most_untrusted_address_wins() {
        let h = xff("6.6.6.6, 198.51.100.4, 10.1.1.1");
        assert_eq!(resolve(&proxies(), ip("10.0.0.1"), &h).ip, ip("198.51.100.4"), "a spoofed left entry is skipped");
        assert_eq!(resolve(&proxies(), ip("10.0.0.1"), &xff("10.2.2.2")).ip, ip("10.2.2.2"), "all trusted: left-most");
        assert_eq!(
            resolve(&proxies(), ip("10.0.0.1"), &xff("garbage, 10.3.3.3")).ip,
            ip("10.3.3.3"),
            "stops at garbage"
        );
        assert_eq!(resolve(&proxies(), ip("::ffff:10.0.0.1"), &xff("198.51.100.4")).ip, ip("198.51.100.4"));
    }

    #[test]
    fn forwarded_wins_and_carries_proto() {
        let h = Headers {
            forwarded: vec![r#"for=6.6.6.6, for="[2001:db8::1]:4711";proto=https"#],
            x_forwarded_for: vec!["5.5.5.5"],
            x_forwarded_proto: vec!["http"],
        };
        assert_eq!(resolve(&proxies(), ip("192.0.2.7"), &h), ClientAddr { ip: ip("2001:db8::1"), https: Some(true) });
        let h = Headers {
            x_forwarded_for: vec!["198.51.100.4:5555"],
            x_forwarded_proto: vec!["https"],
            ..Default::default()
        };
        assert_eq!(resolve(&proxies(), ip("10.0.0.1"), &h), ClientAddr { ip: ip("198.51.100.4"), https: Some(true) });
    }

    #[test]
    fn bad_proxy_entries_are_named() {
        assert_eq!(parse_proxies(&["10.0.0.0/33".into()]).unwrap_err(), "`10.0.0.0/33` is not a CIDR");
    }
}
