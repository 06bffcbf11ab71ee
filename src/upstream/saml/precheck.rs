//! [SA-3] [SA-11] A namespace-aware scan of the raw Response (quick-xml, the parser samael itself uses) for
//! `core::saml::RawFacts`: structure only, never a signature, and nothing here is believed as an identity. libxml2
//! (samael's parser, in recover mode) must not read a document this scan reads otherwise, so anything where they may
//! disagree is an error: references in namespace names, unknown entities, duplicate attributes, `<` in an attribute
//! value, content outside the one root element, an encoding other than UTF-8.

use bridgekeeper_core::saml::{RawFacts, ReferenceFacts, SignatureFacts};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;

const PROTOCOL_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N_NS: &[u8] = b"http://www.w3.org/2001/10/xml-exc-c14n#";
/// [SA-11] The `ds:` elements a plain enveloped signature holds (and `ec:InclusiveNamespaces`); anything else
/// inside a Signature (`Object`, `Manifest`, `XPath`, `RetrievalMethod`, a stylesheet, a Signature) is foreign.
const SIGNATURE_ELEMENTS: [&[u8]; 21] = [
    b"SignedInfo",
    b"CanonicalizationMethod",
    b"SignatureMethod",
    b"Reference",
    b"Transforms",
    b"Transform",
    b"DigestMethod",
    b"DigestValue",
    b"SignatureValue",
    b"KeyInfo",
    b"KeyName",
    b"KeyValue",
    b"RSAKeyValue",
    b"Modulus",
    b"Exponent",
    b"X509Data",
    b"X509Certificate",
    b"X509SubjectName",
    b"X509IssuerSerial",
    b"X509IssuerName",
    b"X509SerialNumber",
];

fn is(ns: &ResolveResult<'_>, want: &[u8]) -> bool {
    matches!(ns, ResolveResult::Bound(Namespace(n)) if *n == want)
}

/// An unprefixed attribute's value (the attributes were checked by `check_attributes`).
fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .map(|v| v.into_owned())
}

/// [SA-3] Duplicates, `<` in a value, a reference in a namespace name, an unknown entity: errors, not skipped.
fn check_attributes(e: &BytesStart<'_>) -> Result<(), String> {
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let (key, raw) = (a.key.as_ref(), a.value.as_ref());
        if raw.contains(&b'<') {
            return Err("'<' in an attribute value".into());
        }
        if (key == b"xmlns" || key.starts_with(b"xmlns:")) && raw.contains(&b'&') {
            return Err("a reference in a namespace name".into());
        }
        a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[derive(Default)]
struct Scan {
    f: RawFacts,
    /// Each open element: the ID a Signature directly inside it references (the root Response, an Assertion).
    open: Vec<Option<String>>,
    root_seen: bool,
    /// Depth of the Response's own top-level Status element, while inside it.
    status_at: Option<usize>,
    /// Depth of the open ds:Signature (its facts are the last of `f.signatures`).
    sig_at: Option<usize>,
}

impl Scan {
    fn start(&mut self, ns: &ResolveResult<'_>, e: &BytesStart<'_>) -> Result<(), String> {
        check_attributes(e)?;
        if self.open.is_empty() {
            if self.root_seen {
                return Err("content after the root element".into());
            }
            self.root_seen = true;
        }
        let depth = self.open.len() + 1;
        let local = e.local_name();
        let name = local.as_ref();
        if self.sig_at.is_some() {
            if let Some(s) = self.f.signatures.last_mut() {
                in_signature(s, ns, name, e);
            }
        } else if is(ns, DSIG_NS) && name == b"Signature" {
            let parent_id = self.open.last().cloned().flatten();
            self.f.signatures.push(SignatureFacts { parent_id, ..SignatureFacts::default() });
            self.sig_at = Some(depth);
        }
        if depth == 1 {
            self.f.root_is_response = is(ns, PROTOCOL_NS) && name == b"Response";
            self.f.destination = attr(e, b"Destination");
            self.f.in_response_to = attr(e, b"InResponseTo");
        } else if depth == 2 && is(ns, PROTOCOL_NS) && name == b"Status" {
            self.status_at = Some(depth);
        } else if depth == 3 && self.status_at == Some(2) && is(ns, PROTOCOL_NS) && name == b"StatusCode" {
            self.f.status = attr(e, b"Value");
        }
        let assertion = is(ns, ASSERTION_NS) && name == b"Assertion";
        if assertion {
            self.f.assertions += 1;
            if self.f.assertions == 1 {
                self.f.assertion_id = attr(e, b"ID");
            }
        }
        if is(ns, ASSERTION_NS) && name == b"EncryptedAssertion" {
            self.f.encrypted_assertions += 1;
        }
        let signable = assertion || (depth == 1 && self.f.root_is_response);
        self.open.push(attr(e, b"ID").filter(|id| signable && !id.is_empty()));
        Ok(())
    }

    fn end(&mut self) {
        let depth = self.open.len();
        if self.status_at == Some(depth) {
            self.status_at = None;
        }
        if self.sig_at == Some(depth) {
            self.sig_at = None;
        }
        self.open.pop();
    }

    /// Text, references and CDATA: only whitespace outside the root; only the predefined entities.
    fn content(&self, event: &Event<'_>) -> Result<(), String> {
        let outside = self.open.is_empty();
        match event {
            Event::Text(t) if outside && !t.iter().all(u8::is_ascii_whitespace) => Err("text outside the root".into()),
            Event::CData(_) if outside => Err("CDATA outside the root".into()),
            Event::GeneralRef(_) if outside => Err("a reference outside the root".into()),
            Event::GeneralRef(r) if r.is_char_ref() => r.resolve_char_ref().map(|_| ()).map_err(|e| e.to_string()),
            Event::GeneralRef(r) if matches!(&**r, b"lt" | b"gt" | b"amp" | b"apos" | b"quot") => Ok(()),
            Event::GeneralRef(_) => Err("an unknown entity".into()),
            Event::Decl(d) => match d.encoding() {
                Some(Ok(enc)) if !enc.eq_ignore_ascii_case(b"utf-8") => Err("an encoding other than UTF-8".into()),
                Some(Err(e)) => Err(e.to_string()),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// [SA-11] One element inside a ds:Signature: what the signature's structure check needs, or the first foreign one.
fn in_signature(s: &mut SignatureFacts, ns: &ResolveResult<'_>, name: &[u8], e: &BytesStart<'_>) {
    let known = (is(ns, DSIG_NS) && SIGNATURE_ELEMENTS.contains(&name))
        || (is(ns, EXC_C14N_NS) && name == b"InclusiveNamespaces");
    if !known {
        s.foreign.get_or_insert_with(|| String::from_utf8_lossy(e.name().as_ref()).into_owned());
        return;
    }
    let algorithm = || attr(e, b"Algorithm").unwrap_or_default();
    match name {
        b"SignedInfo" => s.signed_infos += 1,
        b"CanonicalizationMethod" => s.canonicalizations.push(algorithm()),
        b"Reference" => s.references.push(ReferenceFacts { uri: attr(e, b"URI"), transforms: Vec::new() }),
        b"Transform" => match s.references.last_mut() {
            Some(r) => r.transforms.push(algorithm()),
            None => {
                s.foreign.get_or_insert_with(|| "Transform outside a Reference".into());
            }
        },
        _ => {}
    }
}

/// Scans the document; malformed XML (unbound prefixes included) is an error.
pub fn scan(xml: &str) -> Result<RawFacts, String> {
    let mut reader = NsReader::from_str(xml);
    let mut s = Scan::default();
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| e.to_string())?;
        match &event {
            Event::Start(e) => s.start(&ns, e)?,
            Event::Empty(e) => {
                s.start(&ns, e)?;
                s.end();
            }
            Event::End(_) => s.end(),
            Event::DocType(_) => s.f.doctype = true,
            Event::Eof if !s.open.is_empty() => return Err("unclosed element".into()),
            Event::Eof => return Ok(s.f),
            other => s.content(other)?,
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

    fn response(inner: &str) -> String {
        format!(
            r#"<samlp:Response {P} Destination="d" InResponseTo="_r"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{inner}</samlp:Response>"#
        )
    }

    #[test]
    fn sa_3_an_assertion_namespace_written_with_a_character_reference_is_refused() {
        let hidden =
            r#"<x:Assertion xmlns:x="urn:oasis:names:tc:SAML:2.0:&#97;ssertion" ID="h"/><saml:Assertion ID="a"/>"#;
        assert!(scan(&response(hidden)).is_err(), "libxml2 reads x:Assertion as a second assertion");
        assert!(scan(&response(r#"<saml:Assertion ID="a"/>"#)).is_ok());
    }

    #[test]
    fn sa_3_content_after_the_root_element_is_refused() {
        let one = response(r#"<saml:Assertion ID="a"/>"#);
        assert!(scan(&format!("{one}<samlp:Response {P}/>")).is_err(), "a second root");
        assert!(scan(&format!("{one}text")).is_err(), "text after the root");
        assert!(scan(&format!("{one}\n<!-- c -->\n")).is_ok(), "whitespace and comments are fine");
    }

    #[test]
    fn sa_3_duplicate_attributes_or_namespace_declarations_are_refused() {
        assert!(scan(&response(r#"<saml:Assertion ID="a" ID="b"/>"#)).is_err());
        let twice = r#"<saml:Assertion xmlns:y="urn:y" xmlns:y="urn:oasis:names:tc:SAML:2.0:assertion" ID="a"/>"#;
        assert!(scan(&response(twice)).is_err());
    }

    #[test]
    fn sa_3_a_non_utf8_encoding_declaration_is_refused() {
        let body = response(r#"<saml:Assertion ID="a"/>"#);
        assert!(scan(&format!(r#"<?xml version="1.0" encoding="ISO-8859-1"?>{body}"#)).is_err());
        assert!(scan(&format!(r#"<?xml version="1.0" encoding="UTF-16"?>{body}"#)).is_err());
        assert!(scan(&format!(r#"<?xml version="1.0" encoding="UTF-8"?>{body}"#)).is_ok());
        assert!(scan(&format!(r#"<?xml version="1.0" encoding="utf-8"?>{body}"#)).is_ok());
    }

    #[test]
    fn sa_3_a_lt_in_an_attribute_value_is_refused() {
        assert!(scan(&response(r#"<saml:Assertion ID="a<b"/>"#)).is_err());
        assert!(scan(&response(r#"<saml:Assertion ID="a&lt;b"/>"#)).is_ok(), "escaped, it is only text");
    }

    #[test]
    fn sa_3_an_unknown_entity_reference_is_refused() {
        assert!(scan(&response(r#"<saml:Assertion ID="a">&bogus;</saml:Assertion>"#)).is_err());
        assert!(scan(&response(r#"<saml:Assertion ID="a&bogus;"/>"#)).is_err());
    }

    fn signature(id: &str, extra: &str) -> String {
        format!(
            r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>x</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>y</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>z</ds:X509Certificate></ds:X509Data></ds:KeyInfo>{extra}</ds:Signature>"##
        )
    }

    fn signed(on_response: &str, in_assertion: &str, elsewhere: &str) -> RawFacts {
        let xml = format!(
            r#"<samlp:Response {P} ID="r" InResponseTo="_r">{on_response}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><samlp:Extensions>{elsewhere}</samlp:Extensions><saml:Assertion ID="a"><saml:Issuer>i</saml:Issuer>{in_assertion}</saml:Assertion></samlp:Response>"#
        );
        scan(&xml).unwrap()
    }

    #[test]
    fn sa_11_the_signatures_are_read_with_their_parents_references_and_transforms() {
        use bridgekeeper_core::saml::{ENVELOPED, EXC_C14N, check_signatures};
        let f = signed(&signature("r", ""), &signature("a", ""), "");
        let ids: Vec<_> = f.signatures.iter().map(|s| s.parent_id.as_deref()).collect();
        assert_eq!(ids, [Some("r"), Some("a")]);
        let s = &f.signatures[1];
        assert_eq!(
            (s.signed_infos, s.canonicalizations.as_slice(), s.foreign.as_deref()),
            (1, [EXC_C14N.to_string()].as_slice(), None)
        );
        assert_eq!(
            s.references,
            [ReferenceFacts { uri: Some("#a".into()), transforms: vec![ENVELOPED.into(), EXC_C14N.into()] }]
        );
        assert_eq!(check_signatures(&f.signatures), Ok(()));
        let object = signed("", &signature("a", "<ds:Object><ds:Manifest/></ds:Object>"), "");
        assert_eq!(object.signatures[0].foreign.as_deref(), Some("ds:Object"));
        let nested = signed("", &signature("a", &signature("a", "")), "");
        assert_eq!(nested.signatures.len(), 1, "a Signature inside a Signature is foreign, not another one");
        assert_eq!(nested.signatures[0].foreign.as_deref(), Some("ds:Signature"));
        let misplaced = signed("", "", &signature("r", ""));
        assert_eq!(misplaced.signatures[0].parent_id, None);
    }

    #[test]
    fn sa_11_more_than_two_signatures_or_references_are_refused() {
        use bridgekeeper_core::saml::{Reject, check_signatures};
        let three = signed(&signature("r", ""), &format!("{}{}", signature("a", ""), signature("a", "")), "");
        assert_eq!(check_signatures(&three.signatures), Err(Reject::Signatures(3)));
        let two_refs = signature("a", "").replacen(
            "<ds:Reference",
            r##"<ds:Reference URI="#a"><ds:DigestValue>x</ds:DigestValue></ds:Reference><ds:Reference"##,
            1,
        );
        let f = signed("", &two_refs, "");
        assert_eq!(check_signatures(&f.signatures), Err(Reject::References));
    }
}
