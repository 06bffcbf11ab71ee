//! [SA-1] [SA-10] A SAML provider's files: the pinned IdP signing certificate (mandatory), the IdP metadata (a
//! file read at load, or a URL fetched later), and our own SP metadata for the admin to register at the IdP.
//!
//! samael checks no signature at all when the IdP descriptor it is given has no signing key (the "fail-open on a
//! null cert" class). So samael never sees the IdP's metadata: it gets the descriptor [`descriptor`] builds, with
//! exactly one signing key, the pinned one, from the provider file.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{
    Endpoint, EntityDescriptor, HTTP_POST_BINDING, HTTP_REDIRECT_BINDING, IdpSsoDescriptor, IndexedEndpoint,
    KeyDescriptor, SpSsoDescriptor,
};

use crate::upstream::config::{ProviderConfig, SamlFiles};

/// The largest metadata document read (file or URL).
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// What the broker takes from the IdP's metadata: who it is and where to send the AuthnRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idp {
    pub entity_id: String,
    /// The HTTP-Redirect `SingleSignOnService` location.
    pub sso_url: String,
}

type KeyError = (&'static str, String);

/// [SA-1] Reads the pinned certificate (required) and, for `idp_metadata_file`, the metadata (checked against it).
pub fn load(p: &ProviderConfig) -> Result<SamlFiles, KeyError> {
    let pem = match (&p.idp_certificate_file, &p.idp_certificate) {
        (Some(_), Some(_)) => {
            return Err(("idp_certificate", "set idp_certificate_file or idp_certificate, not both".into()));
        }
        (None, None) => {
            return Err((
                "idp_certificate_file",
                "required for kind saml: the IdP's signing certificate is pinned in the provider file (signatures are never checked against keys from metadata alone)".into(),
            ));
        }
        (Some(f), None) => {
            std::fs::read_to_string(f).map_err(|e| ("idp_certificate_file", format!("cannot read ({e})")))?
        }
        (None, Some(text)) => text.clone(),
    };
    let certificate_der =
        certificate_der(&pem).ok_or(("idp_certificate", "not a PEM X.509 certificate".to_string()))?;
    let idp = match (&p.idp_metadata_file, &p.idp_metadata_url) {
        (Some(_), Some(_)) => {
            return Err(("idp_metadata_url", "set idp_metadata_file or idp_metadata_url, not both".into()));
        }
        (None, None) => return Err(("idp_metadata_file", "required for kind saml (or idp_metadata_url)".into())),
        (Some(f), None) => {
            let xml = std::fs::read_to_string(f).map_err(|e| ("idp_metadata_file", format!("cannot read ({e})")))?;
            Some(parse(&xml, &certificate_der).map_err(|e| ("idp_metadata_file", e))?)
        }
        (None, Some(_)) => None,
    };
    Ok(SamlFiles { certificate_der, idp })
}

/// [SA-1] The metadata names the SSO URL (the signing key is pinned, but the SSO URL is not): https, or http
/// only to the machine itself (a local IdP, tests).
fn metadata_url_ok(u: &str) -> bool {
    let Ok(url) = url::Url::parse(u) else { return false };
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain(d))) => d.eq_ignore_ascii_case("localhost"),
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        _ => false,
    }
}

/// [SA-8] What else a saml file may not say.
pub fn validate(p: &ProviderConfig) -> Result<(), KeyError> {
    if let Some(u) = &p.idp_metadata_url
        && !metadata_url_ok(u)
    {
        return Err(("idp_metadata_url", "must be an https URL (http only to a loopback address)".into()));
    }
    // [SA-8] No default `/email_verified` pointer for SAML attributes: trusting emails is said explicitly.
    if p.trust_email && p.claims.email_verified.is_none() {
        return Err((
            "claims.email_verified",
            "trust_email on a saml provider needs an explicit [claims] email_verified (the attribute the IdP \
             sets only for emails it verified)"
                .into(),
        ));
    }
    if p.claims.subject.is_some() {
        return Err(("claims.subject", "a SAML provider's subject is the persistent NameID; remove it".into()));
    }
    if p.refresh_upstream || p.store_tokens {
        return Err(("store_tokens", "a SAML provider has no upstream tokens (store_tokens, refresh_upstream)".into()));
    }
    if p.client_secret.is_some() {
        return Err(("client_secret", "kind saml has no client secret; remove it".into()));
    }
    if p.saml.is_none() {
        return Err(("idp_certificate_file", "required for kind saml".into()));
    }
    Ok(())
}

/// The DER bytes of the first `CERTIFICATE` block of a PEM text.
fn certificate_der(pem: &str) -> Option<Vec<u8>> {
    let body = pem.split("-----BEGIN CERTIFICATE-----").nth(1)?.split("-----END CERTIFICATE-----").next()?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(b64).ok()?;
    // An X.509 certificate is one DER SEQUENCE: refuse anything else early (xmlsec would fail at the first login).
    (der.first() == Some(&0x30) && der.len() > 64).then_some(der)
}

/// [SA-1] Parses IdP metadata (one `EntityDescriptor`): the entity id and the HTTP-Redirect SSO location. When the
/// metadata lists signing keys, the pinned certificate must be one of them (a rotated or foreign IdP key is an
/// admin's decision, never taken from the metadata).
pub fn parse(xml: &str, pinned_der: &[u8]) -> Result<Idp, String> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err("metadata larger than 1 MiB".into());
    }
    let ed: EntityDescriptor = xml.parse().map_err(|e| format!("not SAML metadata (an EntityDescriptor): {e}"))?;
    let entity_id = ed.entity_id.clone().filter(|e| !e.is_empty()).ok_or("metadata without an entityID")?;
    let idps = ed.idp_sso_descriptors.unwrap_or_default();
    let sso_url = idps
        .iter()
        .flat_map(|d| d.single_sign_on_services.iter())
        .find(|s| s.binding == HTTP_REDIRECT_BINDING)
        .map(|s| s.location.clone())
        .ok_or("no SingleSignOnService with the HTTP-Redirect binding")?;
    url::Url::parse(&sso_url).map_err(|e| format!("SingleSignOnService location is not a URL ({e})"))?;
    let listed: Vec<Vec<u8>> = idps
        .iter()
        .flat_map(|d| d.key_descriptors.iter())
        .filter(|k| k.key_use.as_deref().is_none_or(|u| u.is_empty() || u == "signing"))
        .flat_map(|k| k.key_info.x509_data.iter().flat_map(|x| x.certificates.iter()))
        .filter_map(|c| samael::crypto::decode_x509_cert(c).ok().map(|d| d.der_data().to_vec()))
        .collect();
    if !listed.is_empty() && !listed.iter().any(|d| d == pinned_der) {
        return Err("the metadata's signing certificates do not include the pinned idp_certificate".into());
    }
    Ok(Idp { entity_id, sso_url })
}

/// [SA-1] The only IdP descriptor samael is given: the metadata's entity id and SSO URL, and exactly one signing
/// key, the pinned certificate.
pub fn descriptor(idp: &Idp, pinned_der: &[u8]) -> EntityDescriptor {
    let key = KeyDescriptor {
        key_use: Some("signing".into()),
        key_info: KeyInfo { id: None, x509_data: Some(X509Data { certificates: vec![STANDARD.encode(pinned_der)] }) },
        encryption_methods: None,
    };
    let sso = IdpSsoDescriptor {
        id: None,
        valid_until: None,
        cache_duration: None,
        protocol_support_enumeration: Some("urn:oasis:names:tc:SAML:2.0:protocol".into()),
        error_url: None,
        signature: None,
        key_descriptors: vec![key],
        organization: None,
        contact_people: Vec::new(),
        artifact_resolution_service: Vec::new(),
        single_logout_services: Vec::new(),
        manage_name_id_services: Vec::new(),
        name_id_formats: Vec::new(),
        want_authn_requests_signed: None,
        single_sign_on_services: vec![Endpoint {
            binding: HTTP_REDIRECT_BINDING.into(),
            location: idp.sso_url.clone(),
            response_location: None,
        }],
        name_id_mapping_services: Vec::new(),
        assertion_id_request_services: Vec::new(),
        attribute_profiles: Vec::new(),
        attributes: Vec::new(),
    };
    EntityDescriptor {
        entity_id: Some(idp.entity_id.clone()),
        idp_sso_descriptors: Some(vec![sso]),
        ..EntityDescriptor::default()
    }
}

/// Our side at one SAML provider: the entity id and the Assertion Consumer Service URL (`POST /callback/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sp {
    pub entity_id: String,
    pub acs_url: String,
}

impl Sp {
    /// [SA-10] From the broker's base URL: `sp_entity_id`, or the SP metadata URL `{issuer}/saml/{id}/metadata`.
    pub fn of(p: &ProviderConfig, issuer_base: &str) -> Sp {
        Sp {
            entity_id: p.sp_entity_id.clone().unwrap_or_else(|| format!("{issuer_base}/saml/{}/metadata", p.id)),
            acs_url: format!("{issuer_base}/callback/{}", p.id),
        }
    }

    /// [SA-10] Our SP metadata: the entity id, the HTTP-POST ACS, persistent NameIDs, signed assertions wanted.
    pub fn metadata_xml(&self) -> Result<String, String> {
        use samael::traits::ToXml;
        let sp = SpSsoDescriptor {
            protocol_support_enumeration: Some("urn:oasis:names:tc:SAML:2.0:protocol".into()),
            authn_requests_signed: Some(false),
            want_assertions_signed: Some(true),
            name_id_formats: Some(vec![bridgekeeper_core::saml::NAMEID_PERSISTENT.into()]),
            assertion_consumer_services: vec![IndexedEndpoint {
                binding: HTTP_POST_BINDING.into(),
                location: self.acs_url.clone(),
                index: 0,
                is_default: Some(true),
                ..IndexedEndpoint::default()
            }],
            ..SpSsoDescriptor::default()
        };
        let ed = EntityDescriptor {
            entity_id: Some(self.entity_id.clone()),
            sp_sso_descriptors: Some(vec![sp]),
            ..EntityDescriptor::default()
        };
        ed.to_string().map_err(|e| e.to_string())
    }
}
