//! SAML 2.0 Web Browser SSO ([SA-1]–[SA-10]): the rules the broker checks itself around the signature library
//! (samael over libxmlsec1), as plain functions over facts: the shape of the raw Response before any signature
//! is believed, and what the verified assertion must say (request, audience, recipient, times, subject).

/// [SA-6] Clock skew allowed on NotBefore / NotOnOrAfter, in seconds.
pub const SKEW_SECS: i64 = 60;
/// [SA-8] SAML core §8.3.7: a persistent identifier is at most 256 characters.
pub const MAX_NAME_ID_CHARS: usize = 256;
/// [SA-9] The largest base64 `SAMLResponse` taken (before it is decoded).
pub const MAX_RESPONSE_BASE64: usize = 256 * 1024;

/// [SA-11] The most `ds:Signature` elements a Response may hold (on the Response and on its assertion).
pub const MAX_SIGNATURES: usize = 2;
/// [SA-11] Exclusive canonicalization without comments: the only CanonicalizationMethod, and a Transform.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// [SA-11] The enveloped-signature Transform.
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// Why an answer was refused (logged, never shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    NotAResponse,
    Doctype,
    AssertionCount(usize),
    Encrypted,
    Status(String),
    Destination,
    InResponseTo,
    AssertionId,
    Audience,
    Expired,
    NotYetValid,
    NameIdFormat,
    NameId,
    Signatures(usize),
    SignatureElement(String),
    SignatureParent,
    References,
    Canonicalization,
    ReferenceUri,
    Transform(String),
}

/// [SA-3] An attacker's text for a log line: control characters (newlines, escapes) written out, never raw.
pub fn log_safe(s: &str) -> String {
    s.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::NotAResponse => write!(f, "the root element is not samlp:Response"),
            Reject::Doctype => write!(f, "a DOCTYPE is not allowed"),
            Reject::AssertionCount(n) => write!(f, "{n} assertions (exactly one is allowed)"),
            Reject::Encrypted => write!(f, "encrypted assertions are not supported"),
            Reject::Status(s) => write!(f, "status {}", log_safe(s)),
            Reject::Destination => write!(f, "Destination is not our ACS URL"),
            Reject::InResponseTo => write!(f, "InResponseTo is not this login's request"),
            Reject::AssertionId => write!(f, "the verified assertion is not the one in the response"),
            Reject::Audience => write!(f, "no AudienceRestriction names our entity id"),
            Reject::Expired => write!(f, "expired"),
            Reject::NotYetValid => write!(f, "not yet valid"),
            Reject::NameIdFormat => write!(f, "the NameID is not persistent"),
            Reject::NameId => write!(f, "the NameID is empty, too long or has surrounding whitespace"),
            Reject::Signatures(n) => write!(f, "{n} signatures (at most {MAX_SIGNATURES})"),
            Reject::SignatureElement(e) => write!(f, "{} inside a signature", log_safe(e)),
            Reject::SignatureParent => write!(f, "a signature not directly in the Response or an assertion with an ID"),
            Reject::References => write!(f, "a signature needs exactly one SignedInfo with exactly one Reference"),
            Reject::Canonicalization => write!(f, "the CanonicalizationMethod is not exclusive c14n"),
            Reject::ReferenceUri => write!(f, "the Reference is not to the ID of the signature's parent"),
            Reject::Transform(t) => write!(f, "transform {} is not allowed", log_safe(t)),
        }
    }
}

/// [SA-4] The AuthnRequest ID of a pending login: `_` and its nonce (256 random bits, base64url), an NCName.
pub fn request_id(nonce: &str) -> String {
    format!("_{nonce}")
}

/// What a namespace-aware scan of the raw Response found, before any signature was checked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RawFacts {
    pub root_is_response: bool,
    pub doctype: bool,
    /// `saml:Assertion` elements anywhere in the document.
    pub assertions: usize,
    pub encrypted_assertions: usize,
    /// The `Value` of the Response's own top-level `Status/StatusCode`.
    pub status: Option<String>,
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    /// The `ID` of the one assertion (when there is one).
    pub assertion_id: Option<String>,
    /// Every `ds:Signature` element, in document order.
    pub signatures: Vec<SignatureFacts>,
}

/// One raw `ds:Signature`, as the structural scan read it (nothing about it is checked cryptographically here).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SignatureFacts {
    /// The (non-empty) ID of the element the Signature is a direct child of, when that is the root Response or a
    /// `saml:Assertion`; `None` anywhere else.
    pub parent_id: Option<String>,
    pub signed_infos: usize,
    /// The `Algorithm` of every CanonicalizationMethod.
    pub canonicalizations: Vec<String>,
    pub references: Vec<ReferenceFacts>,
    /// The first element inside the Signature that a plain enveloped signature does not hold (`ds:Object`,
    /// `ds:Manifest`, `ds:XPath`, `ds:RetrievalMethod`, an XSLT stylesheet, a nested Signature, ...).
    pub foreign: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReferenceFacts {
    pub uri: Option<String>,
    /// The `Algorithm` of each of its Transforms, in order.
    pub transforms: Vec<String>,
}

/// [SA-11] What xmlsec is given: at most [`MAX_SIGNATURES`] signatures, each directly in the Response or an
/// assertion, holding only the elements of a plain enveloped signature, one SignedInfo with exclusive c14n and one
/// Reference to `#` + its parent's ID, with only the enveloped-signature and exclusive c14n transforms (each once).
/// xmlsec dereferences References and runs transforms before it checks the signature value, so a URL, a file, an
/// XPath or XSLT transform must never reach it. This is structure only: the signature is xmlsec's to check.
pub fn check_signatures(sigs: &[SignatureFacts]) -> Result<(), Reject> {
    if sigs.len() > MAX_SIGNATURES {
        return Err(Reject::Signatures(sigs.len()));
    }
    for s in sigs {
        if let Some(e) = &s.foreign {
            return Err(Reject::SignatureElement(e.clone()));
        }
        let Some(parent) = &s.parent_id else { return Err(Reject::SignatureParent) };
        let [r] = s.references.as_slice() else { return Err(Reject::References) };
        if s.signed_infos != 1 {
            return Err(Reject::References);
        }
        if s.canonicalizations != [EXC_C14N] {
            return Err(Reject::Canonicalization);
        }
        if r.uri.as_deref() != Some(format!("#{parent}").as_str()) {
            return Err(Reject::ReferenceUri);
        }
        let mut seen: Vec<&String> = Vec::new();
        for t in &r.transforms {
            if !(t == ENVELOPED || t == EXC_C14N) || seen.contains(&t) {
                return Err(Reject::Transform(t.clone()));
            }
            seen.push(t);
        }
    }
    Ok(())
}

/// [SA-3] [SA-4] [SA-5] The raw Response's shape: a `samlp:Response` root, no DOCTYPE, exactly one assertion
/// (none encrypted), status Success, and `Destination` / `InResponseTo` ours where present. An XSW document
/// (a second assertion hidden anywhere) fails here instead of being silently reduced to its signed part.
pub fn check_raw(f: &RawFacts, acs_url: &str, request_id: &str) -> Result<(), Reject> {
    if f.doctype {
        return Err(Reject::Doctype);
    }
    if !f.root_is_response {
        return Err(Reject::NotAResponse);
    }
    if f.encrypted_assertions > 0 {
        return Err(Reject::Encrypted);
    }
    if f.assertions != 1 {
        return Err(Reject::AssertionCount(f.assertions));
    }
    check_signatures(&f.signatures)?;
    match f.status.as_deref() {
        Some(STATUS_SUCCESS) => {}
        other => return Err(Reject::Status(other.unwrap_or("missing").to_string())),
    }
    if f.destination.as_deref().is_some_and(|d| d != acs_url) {
        return Err(Reject::Destination);
    }
    if f.in_response_to.as_deref() != Some(request_id) {
        return Err(Reject::InResponseTo);
    }
    Ok(())
}

/// What the signature library returned, as the broker reads it (times in Unix seconds).
#[derive(Debug, Clone, Default)]
pub struct VerifiedFacts {
    pub assertion_id: String,
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    /// Audiences of each `AudienceRestriction` (each restriction must name us).
    pub audience_restrictions: Vec<Vec<String>>,
    pub not_before: Option<i64>,
    /// Conditions' NotOnOrAfter and every bearer SubjectConfirmationData's.
    pub not_on_or_after: Vec<i64>,
}

/// [SA-3] [SA-5] [SA-6] [SA-8] The verified assertion is the one of the raw document; an AudienceRestriction
/// exists and every one names our entity id; it is valid now (skew [`SKEW_SECS`]); its subject is a persistent
/// NameID. Returns the subject and until when the assertion ID must be remembered ([SA-7]).
pub fn check_verified(
    v: &VerifiedFacts,
    raw_assertion_id: &str,
    sp_entity_id: &str,
    now: i64,
) -> Result<(String, i64), Reject> {
    if v.assertion_id != raw_assertion_id {
        return Err(Reject::AssertionId);
    }
    if v.audience_restrictions.is_empty()
        || !v.audience_restrictions.iter().all(|r| r.iter().any(|a| a == sp_entity_id))
    {
        return Err(Reject::Audience);
    }
    if v.not_before.is_some_and(|nb| now + SKEW_SECS < nb) {
        return Err(Reject::NotYetValid);
    }
    let (Some(first), Some(last)) = (v.not_on_or_after.iter().min(), v.not_on_or_after.iter().max()) else {
        return Err(Reject::Expired);
    };
    if now >= first + SKEW_SECS {
        return Err(Reject::Expired);
    }
    if v.name_id_format.as_deref() != Some(NAMEID_PERSISTENT) {
        return Err(Reject::NameIdFormat);
    }
    // [SA-8] Taken as written: " u1" is not "u1" (trimming would make two NameIDs one subject).
    match v.name_id.as_deref() {
        Some(n) if !n.is_empty() && n.trim() == n && n.chars().count() <= MAX_NAME_ID_CHARS => {
            Ok((n.to_string(), last + SKEW_SECS))
        }
        _ => Err(Reject::NameId),
    }
}

/// [SA-8] The issuer name recorded for a SAML provider's identities (they are keyed by provider id and NameID).
pub fn issuer_name(provider: &str) -> String {
    format!("urn:bridgekeeper:saml:{provider}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good_raw() -> RawFacts {
        RawFacts {
            root_is_response: true,
            assertions: 1,
            status: Some(STATUS_SUCCESS.into()),
            destination: Some("https://b/acs".into()),
            in_response_to: Some("_n".into()),
            assertion_id: Some("a1".into()),
            ..RawFacts::default()
        }
    }

    #[test]
    fn sa_3_the_raw_response_has_exactly_one_plain_assertion_and_success() {
        assert_eq!(check_raw(&good_raw(), "https://b/acs", "_n"), Ok(()));
        let two = RawFacts { assertions: 2, ..good_raw() };
        assert_eq!(check_raw(&two, "https://b/acs", "_n"), Err(Reject::AssertionCount(2)));
        let none = RawFacts { assertions: 0, ..good_raw() };
        assert_eq!(check_raw(&none, "https://b/acs", "_n"), Err(Reject::AssertionCount(0)));
        let enc = RawFacts { encrypted_assertions: 1, ..good_raw() };
        assert_eq!(check_raw(&enc, "https://b/acs", "_n"), Err(Reject::Encrypted));
        let dt = RawFacts { doctype: true, ..good_raw() };
        assert_eq!(check_raw(&dt, "https://b/acs", "_n"), Err(Reject::Doctype));
        let root = RawFacts { root_is_response: false, ..good_raw() };
        assert_eq!(check_raw(&root, "https://b/acs", "_n"), Err(Reject::NotAResponse));
        let failed = RawFacts { status: Some("urn:oasis:names:tc:SAML:2.0:status:Responder".into()), ..good_raw() };
        assert!(matches!(check_raw(&failed, "https://b/acs", "_n"), Err(Reject::Status(_))));
    }

    #[test]
    fn sa_4_sa_5_destination_and_in_response_to_are_ours() {
        assert_eq!(check_raw(&good_raw(), "https://b/other", "_n"), Err(Reject::Destination));
        let no_dest = RawFacts { destination: None, ..good_raw() };
        assert_eq!(check_raw(&no_dest, "https://b/other", "_n"), Ok(()));
        assert_eq!(check_raw(&good_raw(), "https://b/acs", "_other"), Err(Reject::InResponseTo));
        let idp_initiated = RawFacts { in_response_to: None, ..good_raw() };
        assert_eq!(check_raw(&idp_initiated, "https://b/acs", "_n"), Err(Reject::InResponseTo));
    }

    fn good_verified() -> VerifiedFacts {
        VerifiedFacts {
            assertion_id: "a1".into(),
            name_id: Some("opaque-42".into()),
            name_id_format: Some(NAMEID_PERSISTENT.into()),
            audience_restrictions: vec![vec!["sp".into()]],
            not_before: Some(1000),
            not_on_or_after: vec![1300, 1200],
        }
    }

    #[test]
    fn sa_5_an_audience_restriction_naming_us_is_required() {
        assert_eq!(check_verified(&good_verified(), "a1", "sp", 1100), Ok(("opaque-42".into(), 1300 + SKEW_SECS)));
        let none = VerifiedFacts { audience_restrictions: vec![], ..good_verified() };
        assert_eq!(check_verified(&none, "a1", "sp", 1100), Err(Reject::Audience));
        let other =
            VerifiedFacts { audience_restrictions: vec![vec!["sp".into()], vec!["x".into()]], ..good_verified() };
        assert_eq!(check_verified(&other, "a1", "sp", 1100), Err(Reject::Audience));
    }

    #[test]
    fn sa_6_times_are_checked_with_a_small_skew() {
        let v = good_verified();
        assert!(check_verified(&v, "a1", "sp", 1000 - SKEW_SECS).is_ok());
        assert_eq!(check_verified(&v, "a1", "sp", 1000 - SKEW_SECS - 1), Err(Reject::NotYetValid));
        assert!(check_verified(&v, "a1", "sp", 1200 + SKEW_SECS - 1).is_ok());
        assert_eq!(check_verified(&v, "a1", "sp", 1200 + SKEW_SECS), Err(Reject::Expired));
        let no_end = VerifiedFacts { not_on_or_after: vec![], ..good_verified() };
        assert_eq!(check_verified(&no_end, "a1", "sp", 1100), Err(Reject::Expired));
    }

    #[test]
    fn sa_3_sa_8_the_verified_assertion_is_the_raw_one_and_names_a_persistent_subject() {
        assert_eq!(check_verified(&good_verified(), "a2", "sp", 1100), Err(Reject::AssertionId));
        let email = VerifiedFacts {
            name_id_format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into()),
            ..good_verified()
        };
        assert_eq!(check_verified(&email, "a1", "sp", 1100), Err(Reject::NameIdFormat));
        let empty = VerifiedFacts { name_id: Some(" ".into()), ..good_verified() };
        assert_eq!(check_verified(&empty, "a1", "sp", 1100), Err(Reject::NameId));
        let long = VerifiedFacts { name_id: Some("x".repeat(MAX_NAME_ID_CHARS + 1)), ..good_verified() };
        assert_eq!(check_verified(&long, "a1", "sp", 1100), Err(Reject::NameId));
    }

    #[test]
    fn sa_4_the_request_id_is_an_ncname_from_the_nonce() {
        assert_eq!(request_id("Ab-_9"), "_Ab-_9");
    }

    #[test]
    fn sa_8_a_name_id_with_surrounding_whitespace_is_refused_not_trimmed() {
        for n in [" opaque-42", "opaque-42 ", "\nopaque-42\n", "\topaque-42"] {
            let v = VerifiedFacts { name_id: Some(n.into()), ..good_verified() };
            assert_eq!(check_verified(&v, "a1", "sp", 1100), Err(Reject::NameId), "{n:?}");
        }
        assert!(check_verified(&good_verified(), "a1", "sp", 1100).is_ok());
    }

    #[test]
    fn sa_3_a_status_value_with_a_newline_cannot_forge_a_log_line() {
        let forged = "urn:x\n2026-12-02T00:00:00Z  INFO bridgekeeper: signed in user=admin\r\u{1b}[2K";
        let line = Reject::Status(forged.into()).to_string();
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(line.contains("\\n"), "escaped, still readable: {line}");
        let samael = log_safe("samael: bad\r\n2026-12-02T00:00:00Z  INFO forged\u{1b}[2K");
        assert!(!samael.chars().any(char::is_control), "{samael:?}");
    }

    fn good_signature(parent: &str) -> SignatureFacts {
        SignatureFacts {
            parent_id: Some(parent.into()),
            signed_infos: 1,
            canonicalizations: vec![EXC_C14N.into()],
            references: vec![ReferenceFacts {
                uri: Some(format!("#{parent}")),
                transforms: vec![ENVELOPED.into(), EXC_C14N.into()],
            }],
            foreign: None,
        }
    }

    #[test]
    fn sa_11_only_plain_enveloped_signatures_reach_xmlsec() {
        let two = RawFacts { signatures: vec![good_signature("r"), good_signature("a1")], ..good_raw() };
        assert_eq!(check_raw(&two, "https://b/acs", "_n"), Ok(()));
        let three = vec![good_signature("r"), good_signature("a1"), good_signature("a1")];
        assert_eq!(check_signatures(&three), Err(Reject::Signatures(3)));
        let with = |f: fn(&mut SignatureFacts)| {
            let mut s = good_signature("a1");
            f(&mut s);
            check_signatures(&[s])
        };
        assert_eq!(with(|s| s.foreign = Some("ds:Object".into())), Err(Reject::SignatureElement("ds:Object".into())));
        assert_eq!(with(|s| s.parent_id = None), Err(Reject::SignatureParent));
        assert_eq!(with(|s| s.references.push(s.references[0].clone())), Err(Reject::References));
        assert_eq!(with(|s| s.references.clear()), Err(Reject::References));
        assert_eq!(with(|s| s.signed_infos = 2), Err(Reject::References));
        assert_eq!(
            with(|s| s.canonicalizations = vec![format!("{EXC_C14N}WithComments")]),
            Err(Reject::Canonicalization)
        );
        for uri in ["", "#a2", "http://127.0.0.1/x", "file:///dev/zero", "#xpointer(/)"] {
            assert_eq!(with_uri(uri), Err(Reject::ReferenceUri), "{uri}");
        }
        assert_eq!(with(|s| s.references[0].uri = None), Err(Reject::ReferenceUri));
        const XPATH: &str = "http://www.w3.org/TR/1999/REC-xpath-19991116";
        assert_eq!(with(|s| s.references[0].transforms.push(XPATH.into())), Err(Reject::Transform(XPATH.into())));
        assert_eq!(
            with(|s| s.references[0].transforms.push(ENVELOPED.into())),
            Err(Reject::Transform(ENVELOPED.into()))
        );
        assert_eq!(with(|s| s.references[0].transforms.clear()), Ok(()));
    }

    fn with_uri(uri: &str) -> Result<(), Reject> {
        let mut s = good_signature("a1");
        s.references[0].uri = Some(uri.into());
        check_signatures(&[s])
    }
}
