//! [SA-2]–[SA-8] Checking one `SAMLResponse`: the raw structure first (`precheck` + `core::saml::check_raw`), then
//! samael (libxmlsec1 against the pinned certificate only, SHA-2 algorithms only, InResponseTo, Recipient,
//! Destination, Issuer, times), then the broker's own rules on what samael returned (`core::saml::check_verified`),
//! then the attributes mapped by `[claims]`. Blocking C code: run it off the async executor.

use base64::Engine;
use bridgekeeper_core::saml::{self as rules, VerifiedFacts};
use samael::crypto::AllowedSignatureAlgorithm;
use samael::schema::Assertion;
use samael::service_provider::{Error as SamlError, ServiceProvider, ServiceProviderBuilder};
use serde_json::{Map, Value};

use super::metadata::{Idp, Sp, descriptor};
use crate::upstream::FederatedIdentity;
use crate::upstream::config::ProviderConfig;
use crate::upstream::rejection::Rejection;

/// [SA-2] Signature and digest algorithms taken: the SHA-2 family only (never SHA-1).
const ALLOWED: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// One answer to check, with what the pending login remembered.
pub struct Answer<'a> {
    pub cfg: &'a ProviderConfig,
    pub idp: &'a Idp,
    pub pinned_der: &'a [u8],
    pub sp: &'a Sp,
    pub saml_response: &'a str,
    pub request_id: &'a str,
    pub now: i64,
}

/// Why an answer was refused: the check that failed ([MT-4]) and a reason for the log, never for the person.
pub type Refusal = (Rejection, String);

/// The verified identity, or why not (the reason is for the log, never for the person; [SA-3] attacker text in
/// it, a status value or a parser's message, has its control characters escaped so it cannot forge log lines).
pub fn verify(a: &Answer<'_>) -> Result<FederatedIdentity, Refusal> {
    checked(a).map_err(|(why, e)| (why, rules::log_safe(&e)))
}

fn checked(a: &Answer<'_>) -> Result<FederatedIdentity, Refusal> {
    let other = |e: &str| (Rejection::Other, e.to_string());
    if a.saml_response.len() > rules::MAX_RESPONSE_BASE64 {
        return Err(other("SAMLResponse too large"));
    }
    let compact: String = a.saml_response.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| other("SAMLResponse is not base64"))?;
    let xml = String::from_utf8(bytes).map_err(|_| other("SAMLResponse is not UTF-8"))?;
    let raw = super::precheck::scan(&xml).map_err(|e| (Rejection::Structure, format!("malformed XML: {e}")))?;
    let rule = |e: rules::Reject| (Rejection::of_saml(&e), e.to_string());
    rules::check_raw(&raw, &a.sp.acs_url, a.request_id).map_err(rule)?;
    let sp = service_provider(a).map_err(|e| other(&e))?;
    // [SA-1] Never without a signing key: samael would check no signature at all.
    if !sp.idp_signing_certs().is_ok_and(|c| c.is_some_and(|c| !c.is_empty())) {
        return Err((Rejection::Signature, "no pinned IdP signing certificate".into()));
    }
    // [SA-11] Only after `check_raw` allowed its signatures' structure: xmlsec dereferences and transforms first.
    let assertion =
        sp.parse_xml_response(&xml, Some(&[a.request_id])).map_err(|e| (of_samael(&e), format!("samael: {e}")))?;
    let facts = facts(&assertion);
    let raw_id = raw.assertion_id.unwrap_or_default();
    let (subject, keep_until) = rules::check_verified(&facts, &raw_id, &a.sp.entity_id, a.now).map_err(rule)?;
    let mut fed = identity(a.cfg, subject, &attributes(&assertion));
    fed.auth_time =
        assertion.authn_statements.iter().flatten().filter_map(|s| s.authn_instant).map(|t| t.timestamp()).max();
    fed.upstream_assertion = Some((facts.assertion_id, keep_until));
    Ok(fed)
}

/// [MT-4] What samael's checks said, as a reason (by variant, never by its text).
fn of_samael(e: &SamlError) -> Rejection {
    match e {
        SamlError::FailedToValidateSignature | SamlError::CryptoXmlError(_) | SamlError::FailedToParseCert { .. } => {
            Rejection::Signature
        }
        SamlError::AssertionIssuerMismatch { .. } | SamlError::ResponseIssuerMismatch { .. } => Rejection::Issuer,
        SamlError::AssertionExpired { .. }
        | SamlError::AssertionSubjectConfirmationExpired { .. }
        | SamlError::AssertionSubjectConfirmationExpiredBefore { .. }
        | SamlError::AssertionConditionExpired { .. }
        | SamlError::AssertionConditionExpiredBefore { .. }
        | SamlError::ResponseExpired { .. } => Rejection::Expired,
        SamlError::AssertionConditionAudienceRestrictionFailed { .. }
        | SamlError::AssertionRecipientMismatch { .. }
        | SamlError::DestinationValidationError { .. } => Rejection::Audience,
        SamlError::AssertionInResponseToInvalid { .. } | SamlError::ResponseInResponseToInvalid { .. } => {
            Rejection::Nonce
        }
        SamlError::EncryptedAssertionsNotYetSupported => Rejection::Structure,
        _ => Rejection::Other,
    }
}

fn service_provider(a: &Answer<'_>) -> Result<ServiceProvider, String> {
    ServiceProviderBuilder::default()
        .entity_id(Some(a.sp.entity_id.clone()))
        .acs_url(Some(a.sp.acs_url.clone()))
        .idp_metadata(descriptor(a.idp, a.pinned_der))
        .authn_name_id_format(Some(rules::NAMEID_PERSISTENT.to_string()))
        .allow_idp_initiated(false)
        .max_clock_skew(chrono::Duration::seconds(rules::SKEW_SECS))
        .allowed_signature_algorithms(Some(ALLOWED.to_vec()))
        .build()
        .map_err(|e| e.to_string())
}

/// The facts `core::saml::check_verified` rules on, from the assertion samael verified.
fn facts(a: &Assertion) -> VerifiedFacts {
    let conditions = a.conditions.as_ref();
    let subject = a.subject.as_ref();
    let name_id = subject.and_then(|s| s.name_id.as_ref());
    let bearer = subject
        .and_then(|s| s.subject_confirmations.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.method.as_deref() == Some("urn:oasis:names:tc:SAML:2.0:cm:bearer"))
        .filter_map(|c| c.subject_confirmation_data.as_ref()?.not_on_or_after);
    VerifiedFacts {
        assertion_id: a.id.clone(),
        name_id: name_id.map(|n| n.value.clone()),
        name_id_format: name_id.and_then(|n| n.format.clone()),
        audience_restrictions: conditions
            .and_then(|c| c.audience_restrictions.as_ref())
            .into_iter()
            .flatten()
            .map(|r| r.audience.clone())
            .collect(),
        not_before: conditions.and_then(|c| c.not_before).map(|t| t.timestamp()),
        not_on_or_after: conditions
            .and_then(|c| c.not_on_or_after)
            .into_iter()
            .chain(bearer)
            .map(|t| t.timestamp())
            .collect(),
    }
}

/// [SA-8] The attributes as one JSON object for the `[claims]` pointers: each attribute by its `Name` (and its
/// `FriendlyName` when that is not also a `Name`), a string for one value, an array for several.
fn attributes(a: &Assertion) -> Value {
    let mut by_name: Map<String, Value> = Map::new();
    let mut friendly: Vec<(String, Value)> = Vec::new();
    for attr in a.attribute_statements.iter().flatten().flat_map(|s| s.attributes.iter()) {
        let values: Vec<Value> = attr.values.iter().filter_map(|v| v.value.clone()).map(Value::String).collect();
        let value = match <[Value; 1]>::try_from(values) {
            Ok([one]) => one,
            Err(many) => Value::Array(many),
        };
        if let Some(f) = &attr.friendly_name {
            friendly.push((f.clone(), value.clone()));
        }
        if let Some(n) = &attr.name {
            by_name.insert(n.clone(), value);
        }
    }
    for (f, v) in friendly {
        by_name.entry(f).or_insert(v);
    }
    Value::Object(by_name)
}

/// [SA-8] Subject = the NameID (never an attribute, never an email); the rest by `[claims]`.
fn identity(p: &ProviderConfig, subject: String, doc: &Value) -> FederatedIdentity {
    crate::upstream::mapping::identity_with_subject(p, &rules::issuer_name(&p.id), subject, doc)
}
