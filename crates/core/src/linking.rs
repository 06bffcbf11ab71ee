//! Account linking as a decision over facts the server reads ([TB-1]): which local user a verified federated
//! identity belongs to. The server crate looks the facts up, calls [`decide`], and carries out the decision.
//!
//! 1. A known identity (its issuer and subject, [TB-1c]) is its user's.
//! 2. A signed-in person who asked to link another account gets the new identity.
//! 3. With `link_by_email = "verified"`, an email the provider is trusted for (`trust_email = true` and verified
//!    upstream), held by exactly one local user through an identity from a trusted provider, links to that user.
//! 4. A trusted email that local users hold only through untrusted identities gets a new user: an unverified
//!    claim never captures, nor locks out, the email's verified owner.
//! 5. Otherwise, if a local user already has that email, nothing is linked (never on an unverified email or one
//!    from a provider not trusted for emails): the person signs in the way they did before and links from there.
//! 6. Otherwise a new user is created.

/// The provider's `link_by_email` policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkByEmail {
    #[default]
    Never,
    Verified,
    /// [TB-1g] Link to the one user holding the (upstream-verified) email only after the person proves they own
    /// that user by signing in with a provider already linked to it, in the same browser, and confirms.
    Confirm,
}

/// What the server found out before deciding.
#[derive(Debug, Clone, Copy)]
pub struct LinkFacts<'a> {
    /// The user who already owns this (issuer, subject), if any.
    pub owner: Option<&'a str>,
    /// The signed-in user who asked to link another account, if any.
    pub link_to: Option<&'a str>,
    /// The asserted email is verified upstream *and* the provider is trusted for emails.
    pub email_trusted: bool,
    /// Users holding this email through an identity whose email was trusted.
    pub trusted_holders: &'a [String],
    /// Some local user holds this email at all (trusted or not).
    pub email_in_use: bool,
    /// The upstream says the email is verified (whether or not the provider is trusted for emails).
    pub email_verified_upstream: bool,
    /// Every user holding this email (through any identity, trusted or not).
    pub holders: &'a [String],
    pub policy: LinkByEmail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkDecision {
    Existing(String),
    /// Link to this user; `by_email` when rule 3 decided it (audited as such).
    LinkTo {
        user_id: String,
        by_email: bool,
    },
    Create,
    EmailTaken,
    LinkedElsewhere,
    /// [TB-1g] Offer to link to this user once the person proves they own it.
    Confirm {
        user_id: String,
    },
}

/// [TB-1] The linking decision.
pub fn decide(f: LinkFacts<'_>) -> LinkDecision {
    if let Some(owner) = f.owner {
        if f.link_to.is_some_and(|u| u != owner) {
            return LinkDecision::LinkedElsewhere;
        }
        return LinkDecision::Existing(owner.to_string());
    }
    if let Some(u) = f.link_to {
        return LinkDecision::LinkTo { user_id: u.to_string(), by_email: false };
    }
    if f.policy == LinkByEmail::Verified
        && f.email_trusted
        && let [holder] = f.trusted_holders
    {
        return LinkDecision::LinkTo { user_id: holder.clone(), by_email: true };
    }
    // Only untrusted claims to this email: they cannot block (or capture) its verified owner.
    if f.email_trusted && f.trusted_holders.is_empty() {
        return LinkDecision::Create;
    }
    if f.policy == LinkByEmail::Confirm
        && f.email_verified_upstream
        && let [holder] = f.holders
    {
        return LinkDecision::Confirm { user_id: holder.clone() };
    }
    if f.email_in_use || !f.trusted_holders.is_empty() {
        return LinkDecision::EmailTaken;
    }
    LinkDecision::Create
}

/// [TB-1a] Whether an identity's email counts as verified: the upstream says so and the admin trusts the provider
/// for emails.
pub fn email_trusted(asserted_verified: bool, provider_trusts_email: bool) -> bool {
    asserted_verified && provider_trusts_email
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> LinkFacts<'static> {
        LinkFacts {
            owner: None,
            link_to: None,
            email_trusted: true,
            trusted_holders: &[],
            email_in_use: false,
            email_verified_upstream: true,
            holders: &[],
            policy: LinkByEmail::Verified,
        }
    }

    #[test]
    fn tb_1_known_identity_is_its_owner_and_never_moves() {
        assert_eq!(decide(LinkFacts { owner: Some("u1"), ..facts() }), LinkDecision::Existing("u1".into()));
        assert_eq!(
            decide(LinkFacts { owner: Some("u1"), link_to: Some("u2"), ..facts() }),
            LinkDecision::LinkedElsewhere
        );
        assert_eq!(
            decide(LinkFacts { owner: Some("u1"), link_to: Some("u1"), ..facts() }),
            LinkDecision::Existing("u1".into())
        );
    }

    #[test]
    fn tb_1_explicit_link_goes_to_the_signed_in_user() {
        let holders = ["u9".to_string()];
        assert_eq!(
            decide(LinkFacts { link_to: Some("u2"), trusted_holders: &holders, ..facts() }),
            LinkDecision::LinkTo { user_id: "u2".into(), by_email: false }
        );
    }

    #[test]
    fn tb_1_email_links_only_when_trusted_on_both_sides() {
        let one = ["u1".to_string()];
        let two = ["u1".to_string(), "u2".to_string()];
        assert_eq!(
            decide(LinkFacts { trusted_holders: &one, email_in_use: true, ..facts() }),
            LinkDecision::LinkTo { user_id: "u1".into(), by_email: true }
        );
        // The provider signed in with is not trusted for emails (or the email is unverified there).
        assert_eq!(
            decide(LinkFacts { trusted_holders: &one, email_in_use: true, email_trusted: false, ..facts() }),
            LinkDecision::EmailTaken
        );
        // The local user holds the email only through an untrusted identity (the pre-account takeover): the
        // verified owner gets an account of their own, never the claimant's.
        assert_eq!(decide(LinkFacts { email_in_use: true, ..facts() }), LinkDecision::Create);
        assert_eq!(
            decide(LinkFacts { email_in_use: true, email_trusted: false, ..facts() }),
            LinkDecision::EmailTaken,
            "an untrusted email never creates a second account for a known email"
        );
        assert_eq!(
            decide(LinkFacts { trusted_holders: &two, email_in_use: true, ..facts() }),
            LinkDecision::EmailTaken
        );
        assert_eq!(
            decide(LinkFacts { trusted_holders: &one, email_in_use: true, policy: LinkByEmail::Never, ..facts() }),
            LinkDecision::EmailTaken
        );
        assert_eq!(decide(facts()), LinkDecision::Create);
    }

    #[test]
    fn tb_1a_trust_needs_both_the_upstream_and_the_admin() {
        assert!(email_trusted(true, true));
        assert!(!email_trusted(true, false));
        assert!(!email_trusted(false, true));
    }

    #[test]
    fn tb_1g_confirm_offers_the_one_holder_and_never_links_by_itself() {
        let one = ["u1".to_string()];
        let two = ["u1".to_string(), "u2".to_string()];
        fn confirm(f: LinkFacts<'_>) -> LinkDecision {
            decide(LinkFacts { policy: LinkByEmail::Confirm, email_in_use: true, ..f })
        }
        assert_eq!(
            confirm(LinkFacts { holders: &one, trusted_holders: &one, email_trusted: false, ..facts() }),
            LinkDecision::Confirm { user_id: "u1".into() }
        );
        assert_eq!(
            confirm(LinkFacts { holders: &one, email_trusted: false, email_verified_upstream: false, ..facts() }),
            LinkDecision::EmailTaken,
            "an unverified email is offered nothing"
        );
        assert_eq!(confirm(LinkFacts { holders: &two, email_trusted: false, ..facts() }), LinkDecision::EmailTaken);
        // A trusted email that only untrusted identities claim still gets its own account.
        assert_eq!(confirm(LinkFacts { holders: &one, ..facts() }), LinkDecision::Create);
    }
}
