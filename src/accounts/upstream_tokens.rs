//! Upstream refresh tokens kept for `refresh_upstream = true` providers: sealed at rest, bound to their row.

use crate::accounts::vault::{self, VaultError};
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
    let upstreams = state.upstreams();
    let Some(provider) = upstreams.get(&session.provider).filter(|p| p.cfg.refresh_upstream) else {
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
            Some(r) => r.refresh(&upstreams.http, token).await.map_err(|e| {
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
    let outcome = match vault::access_token(state.clone(), provider, &ident.id, true).await {
        // [TX-11] Signed in before `store_tokens` was on: the identity's own refresh token vouches, once.
        Err(VaultError::Empty) => adopt(state, provider, (&ident.id, user_id)).await,
        other => other.map(|_| ()),
    };
    match outcome {
        Ok(()) => {
            // [TB-1f] The upstream still vouches for the person.
            state.db.run(move |c| identities::mark_used(c, &ident.id, now)).await?;
            Ok(())
        }
        // [TX-10] A key missing from `encryption_keys` is the operator's to restore: the grant stays.
        Err(VaultError::Unavailable | VaultError::Unsealable { lost_key: true }) => Err(Recheck::Unavailable),
        Err(VaultError::Store(e)) => Err(Recheck::Store(e)),
        Err(_) => {
            let gid = grant.id.clone();
            state.db.write(move |c| crate::store::grants::revoke(c, &gid, now)).await?;
            Err(Recheck::Refused)
        }
    }
}

/// [TX-11] A `refresh_upstream` re-check of a `store_tokens` provider for an identity with no vault row (it signed
/// in before `store_tokens` was turned on): its own stored refresh token is used, and the answer moves into the
/// vault (the identity's copy is cleared), so that from now on the vault's single-flight refresh is the only user
/// of the token. Nothing stored at all is a refusal, as before. One re-check per identity at a time on this
/// instance (the vault's lock). An exchange at such a provider adopts the same way.
pub async fn adopt(
    state: &std::sync::Arc<AppState>,
    provider: &str,
    (identity_id, user_id): (&str, &str),
) -> Result<(), VaultError> {
    let upstreams = state.upstreams();
    let Some(p) = upstreams.get(provider) else { return Err(VaultError::Empty) };
    let lock = state.caches.vault_locks.get_with(identity_id.to_string(), || std::sync::Arc::new(Default::default()));
    let _guard = lock.lock().await;
    let (sealer, iid) = (state.sealer.clone(), identity_id.to_string());
    let (moved, token) =
        state.db.run(move |c| Ok((crate::store::vault::find(c, &iid)?.is_some(), load(c, &sealer, &iid)?))).await?;
    if moved {
        // Another re-check, an exchange or a sign-in filled the vault just now (it vouched): the vault has it.
        return Ok(());
    }
    let (Some(token), Some(refresher)) = (token, p.refresher()) else { return Err(VaultError::NeedsSignIn) };
    let t = match refresher.refresh_tokens(&upstreams.http, &token).await {
        Ok(t) => t,
        Err(e) if e.kind == UpstreamErrorKind::Rejected => {
            // Spent or revoked: it is not tried again.
            let iid = identity_id.to_string();
            state.db.run(move |c| identities::clear_upstream_token(c, &iid)).await?;
            return Err(VaultError::NeedsSignIn);
        }
        Err(e) => {
            tracing::warn!(provider = %e.provider, detail = %e.detail, "upstream re-check failed");
            return Err(VaultError::Unavailable);
        }
    };
    let (sealer, cfg, now) = (state.sealer.clone(), p.cfg.clone(), state.clock.now());
    let (iid, uid) = (identity_id.to_string(), user_id.to_string());
    state
        .db
        .run(move |c| {
            crate::store::transaction(c, |c| {
                vault::keep(c, &sealer, (&iid, &uid), &cfg, &t, now)?;
                identities::clear_upstream_token(c, &iid)
            })
        })
        .await?;
    Ok(())
}

/// [TX-11] At start: the vault rows of providers not in force with `store_tokens` (turned off, or the provider
/// gone) are deleted; for a provider that still has `refresh_upstream`, the row's refresh token first moves to the
/// identity, so that the re-check of grants signed in while `store_tokens` was on goes on. Returns how many rows.
pub fn purge_vault(conn: &mut DbConn, sealer: &Sealer, stored: &[String], rechecked: &[String]) -> StoreResult<usize> {
    let mut n = 0;
    for row in crate::store::vault::rows_not_of(conn, stored)? {
        crate::store::transaction(conn, |c| {
            if rechecked.contains(&row.provider)
                && let Some(Ok(rt)) = vault::open_refresh(sealer, &row)
            {
                store(c, sealer, &row.identity_id, rt.expose())?;
            }
            n += crate::store::vault::delete_read(c, &row.identity_id, row.generation)?;
            Ok(())
        })?;
    }
    Ok(n)
}
