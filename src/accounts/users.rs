//! Local users: resolving a federated identity to one local account, and the claims a scope releases.

use serde_json::{Map, Value, json};

use crate::store::audit::AuditKind;
use crate::store::identities::{self, Identity, IdentityKey};
use crate::store::users::{self, User};
use crate::store::{DbConn, StoreResult, Write, audit, new_id};

pub use crate::upstream::FederatedIdentity;

/// [TB-1c] The key an identity is found by.
pub fn key(fed: &FederatedIdentity) -> IdentityKey<'_> {
    if fed.keyed_by_issuer {
        IdentityKey::Issuer { issuer: &fed.issuer, subject: &fed.subject }
    } else {
        IdentityKey::Provider { provider: &fed.provider, subject: &fed.subject }
    }
}

/// Finds the local user of a known identity, or creates a new user for an unknown one. Linking rules for
/// known emails live with the providers (they need the provider's `link_by_email` policy).
pub fn resolve(conn: &mut DbConn, fed: &FederatedIdentity, now: i64) -> StoreResult<User> {
    if let Some(ident) = identities::find_by_key(conn, key(fed))? {
        // [AP-1] A first-sign-in-only name (Apple's `user` JSON) is not believed for a known identity.
        let known;
        let fed = if fed.name_first_sign_in_only {
            known = FederatedIdentity { name: None, ..fed.clone() };
            &known
        } else {
            fed
        };
        let claims = claims_json(fed);
        let trust = (fed.email_verified, fed.email_trusted);
        identities::touch(conn, &ident.id, &claims, fed.email.as_deref(), trust, now)?;
        let Some(mut user) = users::find(conn, &ident.user_id)? else {
            return Err(crate::store::StoreError::Corrupt(format!("identity {} has no user", ident.id)));
        };
        user.name = fed.name.clone().or(user.name);
        user.preferred_username = fed.preferred_username.clone().or(user.preferred_username);
        user.picture = fed.picture.clone().or(user.picture);
        derive(conn, &mut user, now)?;
        users::update_profile(conn, &user)?;
        return Ok(user);
    }
    let user = User {
        id: new_id(),
        email: fed.email.clone(),
        email_verified: fed.email_trusted,
        name: fed.name.clone(),
        preferred_username: fed.preferred_username.clone(),
        picture: fed.picture.clone(),
        groups_json: serde_json::to_string(&fed.groups)?,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    let ident = new_identity(&user.id, fed, now);
    crate::store::transaction(conn, |conn| {
        users::insert(conn, &user)?;
        identities::insert(conn, &ident)?;
        audit::record(conn, &audit::AuditEvent::new(now, AuditKind::UserCreated).user(&user.id).provider(&fed.provider))
    })?;
    Ok(user)
}

/// The identity row for a verified federated identity of `user_id`.
pub fn new_identity(user_id: &str, fed: &FederatedIdentity, now: i64) -> Identity {
    Identity {
        id: new_id(),
        user_id: user_id.to_string(),
        provider: fed.provider.clone(),
        issuer: fed.issuer.clone(),
        subject: fed.subject.clone(),
        email: fed.email.clone(),
        email_verified: fed.email_verified,
        claims_json: claims_json(fed),
        upstream_refresh_token: None,
        created_at: now,
        last_used_at: now,
        email_trusted: fed.email_trusted,
    }
}

/// [TB-1b] What a user's identities say, recomputed: the released `email`/`email_verified` come from the most
/// recently used identity whose email is trusted (else the latest email, unverified), and the groups are the
/// union over every linked identity, not whatever the last sign-in said.
fn derive(conn: &mut DbConn, user: &mut User, now: i64) -> StoreResult<()> {
    let mut idents = identities::list_for_user(conn, &user.id)?;
    idents.sort_by_key(|i| std::cmp::Reverse(i.last_used_at));
    let trusted = idents.iter().find(|i| i.email_trusted && i.email.is_some());
    let latest = idents.iter().find(|i| i.email.is_some());
    match (trusted, latest) {
        (Some(t), _) => (user.email, user.email_verified) = (t.email.clone(), true),
        (None, Some(l)) => (user.email, user.email_verified) = (l.email.clone(), false),
        (None, None) => user.email_verified = false,
    }
    user.groups_json = serde_json::to_string(&union_of_groups(conn, &user.id)?)?;
    user.updated_at = now;
    Ok(())
}

/// What we keep of an identity's upstream claims.
pub fn claims_json(fed: &FederatedIdentity) -> String {
    json!({
        "email": fed.email, "email_verified": fed.email_verified, "name": fed.name,
        "preferred_username": fed.preferred_username, "picture": fed.picture, "groups": fed.groups,
    })
    .to_string()
}

/// The broker groups of a user: the union of the mapped groups of all their linked identities.
pub fn union_of_groups(conn: &mut DbConn, user_id: &str) -> StoreResult<Vec<String>> {
    groups_of(conn, user_id, |_| true)
}

/// [TB-1f] The groups a user has now: from the identities whose last sign-in (or upstream refresh) is within their
/// provider's `groups_max_age_secs`.
pub fn fresh_groups(
    conn: &mut DbConn,
    user_id: &str,
    ages: &crate::upstream::GroupAges,
    now: i64,
) -> StoreResult<Vec<String>> {
    groups_of(conn, user_id, |i| i.last_used_at + ages.of(&i.provider) > now)
}

/// A user with the groups that hold now (for tokens and userinfo that release `groups`).
pub fn find_with_fresh_groups(
    conn: &mut DbConn,
    user_id: &str,
    ages: &crate::upstream::GroupAges,
    now: i64,
) -> StoreResult<Option<User>> {
    let Some(mut user) = users::find(conn, user_id)? else { return Ok(None) };
    user.groups_json = serde_json::to_string(&fresh_groups(conn, user_id, ages, now)?)?;
    Ok(Some(user))
}

/// The user a token with `scope` is about: with the groups that hold now when the scope releases `groups`.
pub fn find_for_scope(
    conn: &mut DbConn,
    user_id: &str,
    scope: &str,
    ages: &crate::upstream::GroupAges,
    now: i64,
) -> StoreResult<Option<User>> {
    if scope.split(' ').any(|s| s == "groups") {
        find_with_fresh_groups(conn, user_id, ages, now)
    } else {
        users::find(conn, user_id)
    }
}

/// [`find_for_scope`] for a user already read (with its grant, [DB-5]): the groups that hold now when `scope`
/// releases `groups`, the stored row otherwise.
pub fn for_scope(
    conn: &mut DbConn,
    mut user: User,
    scope: &str,
    ages: &crate::upstream::GroupAges,
    now: i64,
) -> StoreResult<User> {
    if scope.split(' ').any(|s| s == "groups") {
        user.groups_json = serde_json::to_string(&fresh_groups(conn, &user.id, ages, now)?)?;
    }
    Ok(user)
}

fn groups_of(conn: &mut DbConn, user_id: &str, keep: impl Fn(&Identity) -> bool) -> StoreResult<Vec<String>> {
    let mut all: Vec<String> = Vec::new();
    for ident in identities::list_for_user(conn, user_id)?.into_iter().filter(|i| keep(i)) {
        let claims: serde_json::Value = serde_json::from_str(&ident.claims_json).unwrap_or_default();
        for g in claims["groups"].as_array().into_iter().flatten().filter_map(|g| g.as_str()) {
            if !all.iter().any(|a| a == g) {
                all.push(g.to_string());
            }
        }
    }
    all.sort();
    Ok(all)
}

/// [TB-1h] The mark of the trusted-provider set the scan of every user last ran for.
pub const EMAIL_TRUST_MARK: &str = "email_trust_reconciled_for";

/// What [`reconcile_email_trust`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailTrustReconciled {
    /// Users whose released email changed.
    pub changed: usize,
    /// Whether every user was looked at ([TB-1h]: only for a trusted set other than the one recorded).
    pub scanned_users: bool,
}

/// [TB-1a] [TB-1b] Brings stored email trust in line with the providers trusted now (run at every start and at a
/// reload that changes the providers): identities of providers no longer trusted for emails (or no longer
/// configured) lose it, and their users' released email is recomputed. That runs every time: an instance still
/// running with an older set (a rolling deploy) may have written such identities since the set was last recorded.
/// [TB-1h] The scan of every user for a verified email without a trusted identity runs only when the trusted set
/// differs from the one it last ran for (recorded in `maintenance_marks`, in the same transaction).
pub fn reconcile_email_trust(conn: &mut DbConn, trusted: &[String], now: i64) -> StoreResult<EmailTrustReconciled> {
    let mut set = trusted.to_vec();
    set.sort();
    set.dedup();
    let mark = crate::store::to_json_list(&set);
    crate::store::maintenance_transaction(conn, |conn| {
        let affected = identities::withdraw_email_trust(conn, trusted)?;
        for uid in &affected {
            refresh_derived(conn, uid, now)?;
        }
        let scanned_users = crate::store::marks::find(conn, EMAIL_TRUST_MARK)?.as_deref() != Some(mark.as_str());
        let mut changed = affected.len();
        if scanned_users {
            changed += users::unverify_untrusted_emails(conn)?;
            crate::store::marks::set(conn, EMAIL_TRUST_MARK, &mark, now)?;
        }
        Ok(EmailTrustReconciled { changed, scanned_users })
    })
}

/// Recomputes and stores what a user's identities say (email, groups) after they changed (link, unlink).
pub fn refresh_derived(conn: &mut DbConn, user_id: &str, now: i64) -> StoreResult<()> {
    if let Some(mut user) = users::find(conn, user_id)? {
        derive(conn, &mut user, now)?;
        users::update_profile(conn, &user)?;
    }
    Ok(())
}

/// Claims released for the granted scopes (OIDC Core §5.4), `sub` always.
pub fn claims_for_scopes(user: &User, scopes: &[&str]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), user.id.clone().into());
    let has = |s: &str| scopes.contains(&s);
    if has("profile") {
        for (k, v) in
            [("name", &user.name), ("preferred_username", &user.preferred_username), ("picture", &user.picture)]
        {
            if let Some(v) = v {
                m.insert(k.into(), v.clone().into());
            }
        }
        m.insert("updated_at".into(), user.updated_at.into());
    }
    if has("email")
        && let Some(e) = &user.email
    {
        m.insert("email".into(), e.clone().into());
        m.insert("email_verified".into(), user.email_verified.into());
    }
    if has("groups") {
        m.insert("groups".into(), user.groups().into());
    }
    m
}

/// Ends every browser session and every grant of a user: refresh tokens fail, and the user's access tokens
/// are inactive at introspection and userinfo. Returns (sessions, grants) ended.
/// Each ended session's apps are sent a Logout Token ([BL-4]), queued in the same transaction.
pub fn revoke_everything(conn: &mut Write<'_>, user_id: &str, now: i64) -> StoreResult<(usize, usize)> {
    conn.transaction(|conn| {
        let sessions = crate::store::sessions::revoke_all_for_user(conn, user_id, now)?;
        for hash in &sessions {
            super::backchannel::queue_for_session(conn, hash, user_id, now)?;
        }
        let grants = crate::store::grants::revoke_for_user(conn, user_id, now)?;
        Ok((sessions.len(), grants))
    })
}

/// Disables (or re-enables) an account; disabling also revokes everything. `false` when there is no such user.
pub fn set_disabled(conn: &mut Write<'_>, user_id: &str, disabled: bool, now: i64, actor: &str) -> StoreResult<bool> {
    conn.transaction(|conn| {
        if !users::set_disabled(conn, user_id, disabled, now)? {
            return Ok(false);
        }
        if disabled {
            revoke_everything(conn, user_id, now)?;
        }
        let mut e =
            audit::AuditEvent::new(now, if disabled { AuditKind::UserDisabled } else { AuditKind::UserEnabled })
                .user(user_id);
        e.detail = json!({ "actor": actor }).to_string();
        audit::record(conn, &e)?;
        Ok(true)
    })
}

/// May this person use the developer portal? Members of `[developers] group`, or a verified email that is
/// allow-listed by address or domain.
pub fn is_developer(d: &crate::settings::DeveloperSettings, user: &User) -> bool {
    if user.disabled {
        return false;
    }
    if !d.group.is_empty() && user.groups().contains(&d.group) {
        return true;
    }
    let Some(email) = user.email.as_deref().filter(|_| user.email_verified).map(str::to_lowercase) else {
        return false;
    };
    let domain = email.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
    d.allowed_emails.iter().any(|e| e.to_lowercase() == email)
        || d.allowed_domains.iter().any(|dom| dom.to_lowercase() == domain)
}
