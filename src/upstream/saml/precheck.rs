//! [SA-3] A namespace-aware scan of the raw Response (quick-xml, the parser samael itself uses) for
//! `core::saml::RawFacts`: structure only, never a signature, and nothing here is believed as an identity.

use bridgekeeper_core::saml::RawFacts;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;

const PROTOCOL_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";

fn is(ns: &ResolveResult<'_>, want: &[u8]) -> bool {
    matches!(ns, ResolveResult::Bound(Namespace(n)) if *n == want)
}

/// An unprefixed attribute's value.
fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .map(|v| v.into_owned())
}

/// Scans the document; malformed XML (unbound prefixes included) is an error.
pub fn scan(xml: &str) -> Result<RawFacts, String> {
    let mut reader = NsReader::from_str(xml);
    let mut f = RawFacts::default();
    let mut depth = 0usize;
    // Depth of the Response's own top-level Status element, while inside it.
    let mut status_at: Option<usize> = None;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| e.to_string())?;
        let (start, empty) = match &event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                if status_at == Some(depth) {
                    status_at = None;
                }
                depth = depth.saturating_sub(1);
                continue;
            }
            Event::DocType(_) => {
                f.doctype = true;
                continue;
            }
            Event::Eof => return Ok(f),
            _ => continue,
        };
        depth += 1;
        let local = start.local_name();
        let name = local.as_ref();
        if depth == 1 {
            f.root_is_response = is(&ns, PROTOCOL_NS) && name == b"Response";
            f.destination = attr(start, b"Destination");
            f.in_response_to = attr(start, b"InResponseTo");
        } else if depth == 2 && is(&ns, PROTOCOL_NS) && name == b"Status" {
            status_at = Some(depth);
        } else if depth == 3 && status_at == Some(2) && is(&ns, PROTOCOL_NS) && name == b"StatusCode" {
            f.status = attr(start, b"Value");
        }
        if is(&ns, ASSERTION_NS) && name == b"Assertion" {
            f.assertions += 1;
            if f.assertions == 1 {
                f.assertion_id = attr(start, b"ID");
            }
        }
        if is(&ns, ASSERTION_NS) && name == b"EncryptedAssertion" {
            f.encrypted_assertions += 1;
        }
        if empty {
            if status_at == Some(depth) {
                status_at = None;
            }
            depth -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str =
        r#"xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#;

    #[test]
    fn sa_3_counts_assertions_anywhere_and_reads_the_top_level_status() {
        let xml = format!(
            r#"<samlp:Response {P} Destination="d" InResponseTo="_r"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><samlp:Extensions><saml:Assertion ID="hidden"/></samlp:Extensions><saml:Assertion ID="a"><x/></saml:Assertion></samlp:Response>"#
        );
        let f = scan(&xml).unwrap();
        assert!(f.root_is_response && !f.doctype);
        assert_eq!(f.assertions, 2);
        assert_eq!(f.assertion_id.as_deref(), Some("hidden"));
        assert_eq!(f.status.as_deref(), Some(bridgekeeper_core::saml::STATUS_SUCCESS));
        assert_eq!((f.destination.as_deref(), f.in_response_to.as_deref()), (Some("d"), Some("_r")));
    }

    #[test]
    fn sa_3_a_doctype_an_other_root_or_a_nested_status_is_seen() {
        let dt = format!(r#"<!DOCTYPE x [<!ENTITY e "e">]><samlp:Response {P}/>"#);
        assert!(scan(&dt).unwrap().doctype);
        let other = format!(r#"<saml:Assertion {P} ID="a"/>"#);
        assert!(!scan(&other).unwrap().root_is_response);
        let nested = format!(
            r#"<samlp:Response {P}><x><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></x></samlp:Response>"#
        );
        assert_eq!(scan(&nested).unwrap().status, None);
    }
}
