//! Account linking: which local user a verified federated identity belongs to. The rules are the protocol
//! core's ([`bridgekeeper_core::linking`], [TB-1]); this module reads the facts and carries the decision out.

use bridgekeeper_core::linking::{LinkDecision, LinkFacts, decide};

use super::users::{FederatedIdentity, key, new_identity, resolve};
use crate::store::audit::AuditKind;
use crate::store::identities;
use crate::store::users::{self, User};
use crate::store::{DbConn, StoreResult, Write, audit};
use crate::upstream::config::LinkByEmail;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Existing(User),
    Linked(User),
    Created(User),
    /// A local account has this email but policy forbids linking automatically.
    EmailTaken,
    /// The identity already belongs to another local user (link attempt).
    LinkedElsewhere,
    /// The account is disabled.
    Disabled,
    /// [TB-1g] Offer to link to this user once the person proves they own it.
    Confirm(String),
}

/// Reads the facts, asks the core's [`decide`], and carries the decision out.
pub fn link(
    conn: &mut DbConn,
    fed: &FederatedIdentity,
    policy: LinkByEmail,
    link_to: Option<&str>,
    now: i64,
) -> StoreResult<Outcome> {
    let owner = identities::find_by_key(conn, key(fed))?.map(|i| i.user_id);
    let (holders, all_holders, in_use) = match (fed.email.as_deref(), &owner) {
        (Some(email), None) => {
            let mut all = identities::holders(conn, email)?;
            all.extend(users::find_by_email(conn, email)?.into_iter().map(|u| u.id));
            all.sort();
            all.dedup();
            (identities::trusted_holders(conn, email)?, all.clone(), !all.is_empty())
        }
        _ => (Vec::new(), Vec::new(), false),
    };
    let facts = LinkFacts {
        owner: owner.as_deref(),
        link_to,
        email_trusted: fed.email_trusted,
        trusted_holders: &holders,
        email_in_use: in_use,
        email_verified_upstream: fed.email_verified,
        holders: &all_holders,
        policy,
    };
    match decide(facts) {
        LinkDecision::Existing(_) | LinkDecision::Create => {
            let user = resolve(conn, fed, now)?;
            let existed = owner.is_some();
            Ok(match (user.disabled, existed) {
                (true, _) => Outcome::Disabled,
                (false, true) => Outcome::Existing(user),
                (false, false) => Outcome::Created(user),
            })
        }
        LinkDecision::LinkTo { user_id, by_email } => {
            let Some(user) = users::find(conn, &user_id)? else { return Ok(Outcome::LinkedElsewhere) };
            if user.disabled {
                return Ok(Outcome::Disabled);
            }
            attach(conn, &user, fed, now, if by_email { AuditKind::LinkByEmail } else { AuditKind::Link })?;
            Ok(Outcome::Linked(users::find(conn, &user_id)?.unwrap_or(user)))
        }
        LinkDecision::EmailTaken => Ok(Outcome::EmailTaken),
        LinkDecision::Confirm { user_id } => Ok(Outcome::Confirm(user_id)),
        LinkDecision::LinkedElsewhere => Ok(Outcome::LinkedElsewhere),
    }
}

/// [TB-1g] Links an identity the person confirmed after proving they own `user_id`; `LinkedElsewhere` if the
/// identity found an owner meanwhile.
pub fn link_confirmed(conn: &mut DbConn, fed: &FederatedIdentity, user_id: &str, now: i64) -> StoreResult<Outcome> {
    if identities::find_by_key(conn, key(fed))?.is_some() {
        return Ok(Outcome::LinkedElsewhere);
    }
    let Some(user) = users::find(conn, user_id)?.filter(|u| !u.disabled) else { return Ok(Outcome::Disabled) };
    attach(conn, &user, fed, now, AuditKind::LinkConfirmed)?;
    Ok(Outcome::Linked(user))
}

fn attach(conn: &mut DbConn, user: &User, fed: &FederatedIdentity, now: i64, event: AuditKind) -> StoreResult<()> {
    let ident = new_identity(&user.id, fed, now);
    crate::store::transaction(conn, |conn| {
        identities::insert(conn, &ident)?;
        super::users::refresh_derived(conn, &user.id, now)?;
        audit::record(conn, &audit::AuditEvent::new(now, event).user(&user.id).provider(&fed.provider))
    })
}

/// Removes one of the user's identities, never the last one. Returns whether it was removed.
pub fn unlink(conn: &mut DbConn, user_id: &str, identity_id: &str, now: i64) -> StoreResult<bool> {
    crate::store::transaction(conn, |conn| {
        let mine = identities::list_for_user(conn, user_id)?;
        let Some(target) = mine.iter().find(|i| i.id == identity_id) else { return Ok(false) };
        if mine.len() < 2 {
            return Ok(false);
        }
        identities::delete(conn, user_id, identity_id)?;
        super::users::refresh_derived(conn, user_id, now)?;
        audit::record(conn, &audit::AuditEvent::new(now, AuditKind::Unlink).user(user_id).provider(&target.provider))?;
        Ok(true)
    })
}

/// [TB-1e] An admin's unlink: removes the identity (never the last one) and ends the sessions that began with a
/// sign-in through its provider and every grant issued in them. Returns whether it was removed.
pub fn unlink_and_end_sessions(conn: &mut Write<'_>, user_id: &str, identity_id: &str, now: i64) -> StoreResult<bool> {
    conn.transaction(|conn| {
        let Some(target) = identities::list_for_user(conn, user_id)?.into_iter().find(|i| i.id == identity_id) else {
            return Ok(false);
        };
        if !unlink(conn, user_id, identity_id, now)? {
            return Ok(false);
        }
        for hash in crate::store::sessions::revoke_for_user_provider(conn, user_id, &target.provider, now)? {
            crate::store::grants::revoke_all_for_session(conn, &hash, now)?;
        }
        Ok(true)
    })
}
