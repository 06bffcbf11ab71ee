//! [MT-4] Why a sign-in's upstream answer was refused, as a fixed set of words: the `reason` label of
//! `bridgekeeper_logins_total{outcome="rejected"}`. Chosen where the check fails (a variant, never parsed out of
//! an error's text), so that nothing an upstream or a caller sends can become a label.

/// The check an upstream answer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rejection {
    /// The callback's `state` is unknown, used, expired, from another browser, or the query is malformed.
    State,
    /// The ID token's `nonce` is not the one this sign-in sent.
    Nonce,
    /// The ID token's signature does not verify (or `alg: none`, or an algorithm not allowed).
    Signature,
    /// The ID token's `iss`, or the RFC 9207 `iss` parameter, is not the provider's.
    Issuer,
    /// The ID token's `aud` or `azp` is not our client.
    Audience,
    /// The ID token has expired.
    Expired,
    /// `at_hash` does not match the access token.
    AtHash,
    /// The upstream refused the code (`invalid_grant`: a wrong, used or injected code, or a PKCE verifier that does
    /// not match; the upstream does not say which).
    Code,
    /// The userinfo `sub` is not the ID token's.
    Subject,
    /// [MS-1]–[MS-3] A multi-tenant token's tenant is not admitted, or its key signs for another issuer.
    Tenant,
    /// [TB-5] A fresh login was asked and the upstream's `auth_time` shows none.
    Stale,
    /// [LD-2] A password upstream (LDAP) refused the name or the password (the two are never told apart), or the
    /// form's were empty or too long.
    Password,
    /// [SA-7] A SAML assertion already believed once (here or at another instance).
    Replay,
    /// [SA-3] [SA-5] A SAML Response of a shape never taken: a DOCTYPE, not a `samlp:Response`, not exactly one
    /// assertion (signature wrapping), an encrypted one.
    Structure,
    /// Anything else (no ID token, no subject, an unsupported token).
    #[default]
    Other,
}

impl Rejection {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Rejection::State => "state",
            Rejection::Nonce => "nonce",
            Rejection::Signature => "signature",
            Rejection::Issuer => "issuer",
            Rejection::Audience => "audience",
            Rejection::Expired => "expired",
            Rejection::AtHash => "at_hash",
            Rejection::Code => "code",
            Rejection::Subject => "subject",
            Rejection::Tenant => "tenant",
            Rejection::Stale => "stale_auth_time",
            Rejection::Password => "password",
            Rejection::Replay => "replay",
            Rejection::Structure => "structure",
            Rejection::Other => "other",
        }
    }

    /// What openidconnect's ID token check said, as a reason.
    pub fn of_claims(e: &openidconnect::ClaimsVerificationError) -> Self {
        use openidconnect::ClaimsVerificationError as E;
        match e {
            E::Expired(_) => Rejection::Expired,
            E::InvalidAudience(_) => Rejection::Audience,
            E::InvalidIssuer(_) => Rejection::Issuer,
            E::InvalidNonce(_) => Rejection::Nonce,
            E::SignatureVerification(_) => Rejection::Signature,
            _ => Rejection::Other,
        }
    }

    /// [SA-3]–[SA-8] What one of the broker's own SAML checks said, as a reason: `InResponseTo` (bound to this
    /// login's nonce) is `nonce`, `Destination` (not addressed to our ACS) is `audience`, a verified assertion that
    /// is not the document's one is `signature`.
    pub fn of_saml(e: &bridgekeeper_core::saml::Reject) -> Self {
        use bridgekeeper_core::saml::Reject as R;
        match e {
            R::NotAResponse | R::Doctype | R::AssertionCount(_) | R::Encrypted => Rejection::Structure,
            // [SA-11] A signature of a shape never accepted (before xmlsec sees it).
            R::Signatures(_)
            | R::SignatureElement(_)
            | R::SignatureParent
            | R::References
            | R::Canonicalization
            | R::ReferenceUri
            | R::Transform(_) => Rejection::Structure,
            R::InResponseTo => Rejection::Nonce,
            R::Destination | R::Audience => Rejection::Audience,
            R::AssertionId => Rejection::Signature,
            R::Expired | R::NotYetValid => Rejection::Expired,
            R::NameIdFormat | R::NameId => Rejection::Subject,
            R::Status(_) => Rejection::Other,
        }
    }
}
