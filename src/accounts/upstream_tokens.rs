//! Upstream refresh tokens kept for `refresh_upstream = true` providers: sealed at rest, bound to their row.

use crate::crypto::Sealer;
use crate::state::AppState;
use crate::store::audit::AuditKind;
use crate::store::identities;
use crate::store::{DbConn, StoreError, StoreResult, audit, sessions};
use crate::upstream::UpstreamErrorKind;
use bridgekeeper_core::token::ports::GrantRecord;

fn context(identity_id: &str) -> String {
    format!("upstream_refresh:{identity_id}")
}

/// Stores (sealed) the upstream refresh token of an identity.
pub fn store(conn: &mut DbConn, sealer: &Sealer, identity_id: &str, token: &str) -> StoreResult<()> {
    let sealed = sealer.seal(token.as_bytes(), &context(identity_id))?;
    identities::set_sealed_upstream_token(conn, identity_id, &sealed)
}

/// The upstream refresh token of an identity, decrypted.
pub fn load(conn: &mut DbConn, sealer: &Sealer, identity_id: &str) -> StoreResult<Option<String>> {
    match identities::sealed_upstream_token(conn, identity_id)? {
        None => Ok(None),
        Some(s) => {
            let plain = sealer.open(&s, &context(identity_id))?;
            Ok(Some(String::from_utf8(plain).map_err(|_| StoreError::Corrupt("upstream token".into()))?))
        }
    }
}

/// Re-encrypts upstream refresh tokens not sealed with the current key; returns how many.
pub fn reseal(conn: &mut DbConn, sealer: &Sealer) -> StoreResult<usize> {
    let mut n = 0;
    for (id, value) in identities::sealed_upstream_tokens(conn)? {
        if sealer.is_stale(&value) {
            let plain = sealer.open(&value, &context(&id))?;
            let token = String::from_utf8(plain).map_err(|_| StoreError::Corrupt("upstream token".into()))?;
            store(conn, sealer, &id, &token)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Why a downstream refresh failed its upstream re-check.
#[derive(Debug)]
pub enum Recheck {
    /// The upstream no longer accepts the person (account gone or disabled, token revoked): the grant is revoked.
    Refused,
    /// The upstream could not be asked.
    Unavailable,
    Store(StoreError),
}

impl From<StoreError> for Recheck {
    fn from(e: StoreError) -> Self {
        Recheck::Store(e)
    }
}

/// For grants signed in through a `refresh_upstream = true` provider: asks the upstream, with its (sealed) refresh
/// token, whether the person is still good; keeps the rotated upstream token. Fails closed: no stored token, no
/// refresh.
pub async fn recheck(state: &std::sync::Arc<AppState>, grant: &GrantRecord) -> Result<(), Recheck> {
    let (Some(session_hash), Some(user_id)) = (grant.session.clone(), grant.user_id.clone()) else {
        return Ok(());
    };
    let Some(session) = state.db.run(move |c| sessions::find_any(c, &session_hash)).await? else {
        // The sign-in this grant came from is gone, and with it which upstream must vouch for it: fail closed.
        return Err(Recheck::Refused);
    };
    let Some(provider) = state.upstreams.get(&session.provider).filter(|p| p.cfg.refresh_upstream) else {
        return Ok(());
    };
    if provider.cfg.store_tokens {
        // [TX-1] The refresh token lives in the vault: the re-check goes through its single-flight refresh, so
        // that a rotating upstream never sees one token used twice.
        return recheck_through_vault(state, grant, &provider.cfg.id, &user_id).await;
    }
    let (sealer, pid, uid) = (state.sealer.clone(), provider.cfg.id.clone(), user_id.clone());
    let found = state
        .db
        .run(move |c| {
            let Some(ident) = crate::store::identities::find_for_user(c, &uid, &pid)? else { return Ok(None) };
            Ok(load(c, &sealer, &ident.id)?.map(|t| (ident.id, t)))
        })
        .await?;
    let outcome = match &found {
        None => Err(UpstreamErrorKind::Rejected),
        // Fails closed: `refresh_upstream` on a kind that cannot refresh vouches for nothing.
        Some((_, token)) => match provider.refresher() {
            None => Err(UpstreamErrorKind::Rejected),
            Some(r) => r.refresh(&state.upstreams.http, token).await.map_err(|e| {
                tracing::warn!(provider = %e.provider, detail = %e.detail, "upstream re-check failed");
                e.kind
            }),
        },
    };
    let now = state.clock.now();
    match (outcome, found) {
        (Ok(next), Some((identity_id, _))) => {
            // [TB-1f] The upstream still vouches for the person: the identity's groups count again from now.
            let sealer = state.sealer.clone();
            state
                .db
                .run(move |c| {
                    crate::store::identities::mark_used(c, &identity_id, now)?;
                    match next {
                        Some(next) => store(c, &sealer, &identity_id, &next),
                        None => Ok(()),
                    }
                })
                .await?;
            Ok(())
        }
        (Err(UpstreamErrorKind::Unavailable), _) => Err(Recheck::Unavailable),
        _ => {
            let (gid, event) = (
                grant.id.clone(),
                audit::AuditEvent::new(now, AuditKind::UpstreamRefreshRefused)
                    .user(&user_id)
                    .provider(&provider.cfg.id),
            );
            state
                .db
                .write(move |c| {
                    crate::store::grants::revoke(c, &gid, now)?;
                    audit::record(c, &event)
                })
                .await?;
            Err(Recheck::Refused)
        }
    }
}

async fn recheck_through_vault(
    state: &std::sync::Arc<AppState>,
    grant: &GrantRecord,
    provider: &str,
    user_id: &str,
) -> Result<(), Recheck> {
    let (pid, uid) = (provider.to_string(), user_id.to_string());
    let ident = state.db.run(move |c| identities::find_for_user(c, &uid, &pid)).await?;
    let Some(ident) = ident else { return Err(Recheck::Refused) };
    let now = state.clock.now();
    match crate::accounts::vault::access_token(state.clone(), provider, &ident.id, true).await {
        Ok(_) => {
            // [TB-1f] The upstream still vouches for the person.
            state.db.run(move |c| identities::mark_used(c, &ident.id, now)).await?;
            Ok(())
        }
        Err(crate::accounts::vault::VaultError::Unavailable) => Err(Recheck::Unavailable),
        Err(crate::accounts::vault::VaultError::Store(e)) => Err(Recheck::Store(e)),
        Err(_) => {
            let gid = grant.id.clone();
            state.db.write(move |c| crate::store::grants::revoke(c, &gid, now)).await?;
            Err(Recheck::Refused)
        }
    }
}
