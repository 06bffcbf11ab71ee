//! Account linking: which local user a verified federated identity belongs to.
//!
//! 1. A known (provider, subject) is its user.
//! 2. A signed-in user who started "link another account" gets the new identity.
//! 3. With `link_by_email = "verified"`, an upstream-verified email held (verified) by exactly one local user
//!    links to that user (audited).
//! 4. Otherwise, if a local user already has that email, nothing is linked: the person is told to sign in
//!    with the provider they used before and link from the account page (never link on an unverified email).
//! 5. Otherwise a new user is created.

use diesel::Connection;

use super::users::{FederatedIdentity, resolve};
use crate::store::identities::{self, Identity};
use crate::store::users::{self, User};
use crate::store::{DbConn, StoreResult, audit, new_id};
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
}

pub fn link(
    conn: &mut DbConn,
    fed: &FederatedIdentity,
    policy: LinkByEmail,
    link_to: Option<&str>,
    now: i64,
) -> StoreResult<Outcome> {
    if let Some(existing) = identities::find(conn, &fed.provider, &fed.subject)? {
        if link_to.is_some_and(|u| u != existing.user_id) {
            return Ok(Outcome::LinkedElsewhere);
        }
        let user = resolve(conn, fed, now)?;
        return Ok(if user.disabled { Outcome::Disabled } else { Outcome::Existing(user) });
    }
    if let Some(uid) = link_to {
        let Some(user) = users::find(conn, uid)? else { return Ok(Outcome::LinkedElsewhere) };
        attach(conn, &user, fed, now, "link")?;
        return Ok(Outcome::Linked(user));
    }
    if let Some(email) = fed.email.as_deref() {
        let holders = users::find_by_email(conn, email)?;
        let verified: Vec<&User> = holders.iter().filter(|u| u.email_verified).collect();
        if policy == LinkByEmail::Verified && fed.email_verified && verified.len() == 1 {
            let user = verified[0].clone();
            if user.disabled {
                return Ok(Outcome::Disabled);
            }
            attach(conn, &user, fed, now, "link_by_email")?;
            return Ok(Outcome::Linked(user));
        }
        if !holders.is_empty() {
            return Ok(Outcome::EmailTaken);
        }
    }
    Ok(Outcome::Created(resolve(conn, fed, now)?))
}

fn attach(conn: &mut DbConn, user: &User, fed: &FederatedIdentity, now: i64, event: &str) -> StoreResult<()> {
    let ident = Identity {
        id: new_id(),
        user_id: user.id.clone(),
        provider: fed.provider.clone(),
        issuer: fed.issuer.clone(),
        subject: fed.subject.clone(),
        email: fed.email.clone(),
        email_verified: fed.email_verified,
        claims_json: super::users::claims_json(fed),
        upstream_refresh_token: None,
        created_at: now,
        last_used_at: now,
    };
    conn.transaction(|conn| {
        identities::insert(conn, &ident)?;
        super::users::refresh_groups(conn, &user.id, now)?;
        audit::record(conn, &audit::AuditEvent::new(now, event).user(&user.id).provider(&fed.provider))
    })
}

/// Removes one of the user's identities, never the last one. Returns whether it was removed.
pub fn unlink(conn: &mut DbConn, user_id: &str, identity_id: &str, now: i64) -> StoreResult<bool> {
    conn.transaction(|conn| {
        let mine = identities::list_for_user(conn, user_id)?;
        let Some(target) = mine.iter().find(|i| i.id == identity_id) else { return Ok(false) };
        if mine.len() < 2 {
            return Ok(false);
        }
        identities::delete(conn, user_id, identity_id)?;
        super::users::refresh_groups(conn, user_id, now)?;
        audit::record(conn, &audit::AuditEvent::new(now, "unlink").user(user_id).provider(&target.provider))?;
        Ok(true)
    })
}
