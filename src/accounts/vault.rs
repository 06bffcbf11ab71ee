//! [TX-1][TX-2] The upstream token vault as a service: what a sign-in keeps, and a fresh upstream access token on
//! demand. A token within the provider's `refresh_skew_secs` of its expiry is refreshed upstream exactly once per
//! identity at a time: callers of this instance queue on one lock per identity, instances race for the lease row
//! (`store::vault::take_lease`), and the winner commits the new refresh token before anyone sees the new access
//! token. The refresh runs in a task of its own, so a caller that goes away never abandons a rotation half-way.
//! Token values are sealed at rest (bound to the identity and the field) and never logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::crypto::{CryptoError, Sealer};
use crate::secret::Secret;
use crate::state::AppState;
use crate::store::audit::{self, AuditKind};
use crate::store::vault::{self, VaultRow};
use crate::store::{DbConn, StoreError, StoreResult};
use crate::upstream::config::ProviderConfig;
use crate::upstream::{FederatedIdentity, UpstreamErrorKind, UpstreamTokens};

/// A live upstream access token, as handed to a client.
#[derive(Debug, Clone)]
pub struct Fresh {
    pub access_token: Secret,
    pub token_type: String,
    /// Seconds left (`None`: the upstream never said when it expires).
    pub expires_in: Option<i64>,
    pub scope: String,
}

#[derive(Debug)]
pub enum VaultError {
    /// Nothing stored for this identity (never signed in with `store_tokens`, or swept).
    Empty,
    /// [TX-2] The upstream refused the refresh token (or there is none and the access token expired): the person
    /// must sign in at the upstream again.
    NeedsSignIn,
    /// [TX-2] The upstream could not be asked (or another instance's refresh did not finish in time): nothing changed.
    Unavailable,
    /// [TX-10] The stored refresh token does not open: sealed with a key no longer in `encryption_keys`
    /// (`lost_key`: the row is kept, restoring the key brings it back), or corrupt (the row's tokens are cleared
    /// and the identity needs a sign-in). Either way the person must sign in again (which replaces the row).
    Unsealable {
        lost_key: bool,
    },
    Store(StoreError),
}

impl From<StoreError> for VaultError {
    fn from(e: StoreError) -> Self {
        VaultError::Store(e)
    }
}

fn context(identity_id: &str, field: &str) -> String {
    format!("upstream_vault:{identity_id}:{field}")
}

/// [TX-1] How long a refresh may hold the lease (seconds of database time): twice the upstream timeout (a refresh
/// may fetch the discovery document, then post to the token endpoint, each bounded by it) plus room for the pool
/// and the commit. The holder's whole refresh-and-commit runs under a timeout [`LEASE_MARGIN`] shorter.
fn lease_secs(state: &AppState) -> i64 {
    let t = i64::try_from(state.settings().upstream_timeout_secs.clamp(1, 600)).unwrap_or(600);
    2 * t + 10
}

/// What the holder keeps in hand: the refresh token is not sent when less than the upstream timeout plus this
/// is left of the lease, and refresh + commit give up this long before the lease ends.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// [TX-1] Keeps (replaces) an identity's tokens at sign-in. `asked` are the scopes requested upstream, which the
/// upstream granted when its answer names none (RFC 6749 §5.1).
pub fn keep(
    conn: &mut DbConn,
    sealer: &Sealer,
    (identity_id, user_id): (&str, &str),
    p: &ProviderConfig,
    t: &UpstreamTokens,
    now: i64,
) -> StoreResult<()> {
    let row = VaultRow {
        identity_id: identity_id.to_string(),
        user_id: user_id.to_string(),
        provider: p.id.clone(),
        access_token: Some(sealer.seal(t.access_token.expose().as_bytes(), &context(identity_id, "access"))?),
        token_type: t.token_type.clone(),
        access_expires_at: t.expires_in.map(|e| now.saturating_add(e)),
        scope: t.scope.clone().unwrap_or_else(|| p.scopes.join(" ")),
        refresh_token: match &t.refresh_token {
            Some(r) => Some(sealer.seal(r.expose().as_bytes(), &context(identity_id, "refresh"))?),
            None => None,
        },
        generation: 0,
        lease_until: 0,
        lease_id: None,
        needs_sign_in: false,
        updated_at: now,
        last_used_at: now,
        expires_at: now.saturating_add(p.token_retention_secs),
    };
    vault::replace(conn, &row)
}

/// [TX-1] [`keep`] for the identity that signed in (`fed`), if it is `user_id`'s: with two identities at one
/// provider, each keeps its own tokens, which go when that identity is unlinked.
pub async fn keep_at_sign_in(
    state: &AppState,
    cfg: Arc<ProviderConfig>,
    fed: &FederatedIdentity,
    user_id: &str,
    t: UpstreamTokens,
    now: i64,
) -> StoreResult<()> {
    let (sealer, uid, fed) = (state.sealer.clone(), user_id.to_string(), fed.clone());
    state
        .db
        .run(move |c| match signed_in_identity(c, &fed, &uid)? {
            Some(iid) => keep(c, &sealer, (&iid, &uid), &cfg, &t, now),
            None => Ok(()),
        })
        .await
}

/// The id of the identity `fed` signed in with, if it belongs to `user_id`.
pub fn signed_in_identity(conn: &mut DbConn, fed: &FederatedIdentity, user_id: &str) -> StoreResult<Option<String>> {
    let ident = crate::store::identities::find_by_key(conn, crate::accounts::users::key(fed))?;
    Ok(ident.filter(|i| i.user_id == user_id).map(|i| i.id))
}

fn open(sealer: &Sealer, identity_id: &str, field: &str, sealed: &str) -> StoreResult<Secret> {
    Ok(open_token(sealer, identity_id, field, sealed)?)
}

fn open_token(sealer: &Sealer, identity_id: &str, field: &str, sealed: &str) -> Result<Secret, CryptoError> {
    let plain = sealer.open(sealed, &context(identity_id, field))?;
    String::from_utf8(plain).map(Secret::new).map_err(|_| CryptoError::Corrupt)
}

/// The row's refresh token, opened (`None`: it has none).
pub fn open_refresh(sealer: &Sealer, row: &VaultRow) -> Option<Result<Secret, CryptoError>> {
    row.refresh_token.as_deref().map(|sealed| open_token(sealer, &row.identity_id, "refresh", sealed))
}

/// The row's access token if it is good for more than `skew` seconds at `now`. [TX-10] One that does not open
/// is not fresh: the refresh replaces it.
fn fresh(sealer: &Sealer, row: &VaultRow, now: i64, skew: i64) -> Option<Fresh> {
    let sealed = row.access_token.as_deref().filter(|_| !row.needs_sign_in)?;
    // [TX-1] The skew is at most half the token's lifetime: a token shorter-lived than the skew is still used
    // for a while after each refresh, instead of being refreshed at every request.
    if row.access_expires_at.is_some_and(|exp| exp - now <= skew.min(exp.saturating_sub(row.updated_at) / 2)) {
        return None;
    }
    let access_token = open_token(sealer, &row.identity_id, "access", sealed)
        .inspect_err(|e| {
            tracing::warn!(provider = %row.provider, error = %e, "a stored upstream access token does not open; refreshing it");
        })
        .ok()?;
    Some(Fresh {
        access_token,
        token_type: row.token_type.clone(),
        expires_in: row.access_expires_at.map(|exp| exp - now),
        scope: row.scope.clone(),
    })
}

/// Reads the row; returns its token when fresh (recording the use at most once a minute, so that the common case
/// writes nothing).
async fn read_fresh(
    state: &AppState,
    p: &ProviderConfig,
    identity_id: &str,
) -> Result<(Option<VaultRow>, Option<Fresh>), VaultError> {
    let (sealer, iid, now, skew, keep) =
        (state.sealer.clone(), identity_id.to_string(), state.clock.now(), p.refresh_skew_secs, p.token_retention_secs);
    Ok(state
        .db
        .run(move |c| {
            let Some(row) = vault::find(c, &iid)? else { return Ok((None, None)) };
            let f = fresh(&sealer, &row, now, skew);
            if f.is_some() && row.last_used_at < now - 60 {
                vault::touch(c, &iid, now, keep)?;
            }
            Ok((Some(row), f))
        })
        .await?)
}

/// [TX-1] A fresh upstream access token for the identity, refreshing upstream (once, however many callers) when
/// the stored one is within `refresh_skew_secs` of its expiry. `force` refreshes whatever the expiry (the
/// `refresh_upstream` re-check of a provider whose refresh token lives here, so that both use one token).
pub async fn access_token(
    state: Arc<AppState>,
    provider: &str,
    identity_id: &str,
    force: bool,
) -> Result<Fresh, VaultError> {
    let p = state.upstreams().get(provider).map(|p| p.cfg.clone()).ok_or(VaultError::Empty)?;
    match read_fresh(&state, &p, identity_id).await? {
        (None, _) => return Err(VaultError::Empty),
        (Some(r), _) if r.needs_sign_in => return Err(VaultError::NeedsSignIn),
        (_, Some(f)) if !force => return Ok(f),
        _ => {}
    }
    let bound = Duration::from_secs(lease_secs(&state) as u64 + 2);
    let lock = state.caches.vault_locks.get_with(identity_id.to_string(), || Arc::new(tokio::sync::Mutex::new(())));
    let guard = tokio::time::timeout(bound, lock.lock_owned()).await.map_err(|_| VaultError::Unavailable)?;
    // The refresh runs on its own: it holds the lock until it has committed, whether or not this caller waits.
    let (st, iid) = (state.clone(), identity_id.to_string());
    // [OT-1] Its upstream call stays a child of the request's span.
    let task = tokio::spawn(tracing::Instrument::in_current_span(async move {
        let _guard = guard;
        refresh_once(&st, &p, &iid, Instant::now() + bound, force).await
    }));
    task.await.map_err(|_| VaultError::Unavailable)?
}

/// Under this instance's lock: whoever came before may have refreshed already; else take the lease (or wait for
/// the instance that holds it) and refresh.
async fn refresh_once(
    state: &AppState,
    p: &ProviderConfig,
    iid: &str,
    deadline: Instant,
    force: bool,
) -> Result<Fresh, VaultError> {
    loop {
        let now = state.clock.now();
        let (lease, secs, sealer, id) =
            (crate::secret::random_token(), lease_secs(state), state.sealer.clone(), iid.to_string());
        let (l, skew) = (lease.clone(), p.refresh_skew_secs);
        // The lease ends `secs` of database time after it was taken, so no earlier than this (the database's
        // clock has whole seconds: one is given up).
        let lease_end = Instant::now() + Duration::from_secs(secs.max(1) as u64 - 1);
        let (took, row, f) = state
            .db
            .run(move |c| {
                let took = vault::take_lease(c, &id, &l, secs)?;
                let row = vault::find(c, &id)?;
                let f = match &row {
                    Some(r) if !force => fresh(&sealer, r, now, skew),
                    _ => None,
                };
                // [TX-1] Released however this ends here, not left to lapse.
                if took && f.is_some() {
                    vault::release(c, &id, &l)?;
                }
                Ok((took, row, f))
            })
            .await?;
        let Some(row) = row else { return Err(VaultError::Empty) };
        if row.needs_sign_in {
            return Err(VaultError::NeedsSignIn);
        }
        if let Some(f) = f {
            return Ok(f);
        }
        if took {
            return refresh(state, p, row, &lease, lease_end).await;
        }
        // Another instance holds the lease: wait (bounded) for its result.
        if Instant::now() >= deadline {
            return Err(VaultError::Unavailable);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn release(state: &AppState, identity_id: &str, lease: &str) -> StoreResult<()> {
    let (iid, l) = (identity_id.to_string(), lease.to_string());
    state.db.run(move |c| vault::release(c, &iid, &l)).await
}

/// Holding the lease: asks the upstream, then commits (new refresh token first) or marks the identity. [TX-1] The
/// refresh token is not sent unless the upstream timeout and [`LEASE_MARGIN`] fit in what is left of the lease, and
/// the refresh with its commit runs under a timeout ending [`LEASE_MARGIN`] before the lease does, so no other
/// instance can take the lease (and spend the same refresh token) while this one may still use it.
async fn refresh(
    state: &AppState,
    p: &ProviderConfig,
    row: VaultRow,
    lease: &str,
    lease_end: Instant,
) -> Result<Fresh, VaultError> {
    let upstreams = state.upstreams();
    let refresher = upstreams.get(&p.id).and_then(|pr| pr.refresher());
    let (Some(sealed), Some(refresher)) = (row.refresh_token.as_deref(), refresher) else {
        release(state, &row.identity_id, lease).await?;
        return Err(VaultError::NeedsSignIn);
    };
    let rt = match open_token(&state.sealer, &row.identity_id, "refresh", sealed) {
        Ok(rt) => rt,
        Err(e) => return unsealable(state, &row, lease, e).await,
    };
    let upstream = Duration::from_secs(state.settings().upstream_timeout_secs.clamp(1, 600));
    let budget = lease_end.checked_duration_since(Instant::now()).and_then(|d| d.checked_sub(LEASE_MARGIN));
    let Some(budget) = budget.filter(|b| *b >= upstream) else {
        tracing::warn!(provider = %p.id, "too little of the refresh lease left; the refresh token is not sent");
        release(state, &row.identity_id, lease).await?;
        return Err(VaultError::Unavailable);
    };
    let run = async {
        match refresher.refresh_tokens(&upstreams.http, rt.expose()).await {
            Ok(t) => commit(state, p, &row, lease, t).await,
            Err(e) if e.kind == UpstreamErrorKind::Rejected => refused(state, p, &row, lease, &e.detail).await,
            Err(e) => {
                tracing::warn!(provider = %p.id, detail = %e.detail, "upstream refresh unavailable");
                release(state, &row.identity_id, lease).await?;
                Err(VaultError::Unavailable)
            }
        }
    };
    match tokio::time::timeout(budget, run).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(provider = %p.id, "upstream refresh and commit did not finish within the lease");
            release(state, &row.identity_id, lease).await?;
            Err(VaultError::Unavailable)
        }
    }
}

/// [TX-2] The upstream refused the stored refresh token: the identity needs a new sign-in (audited once).
async fn refused(
    state: &AppState,
    p: &ProviderConfig,
    row: &VaultRow,
    lease: &str,
    detail: &str,
) -> Result<Fresh, VaultError> {
    tracing::warn!(provider = %p.id, detail = %detail, "upstream refused the stored refresh token");
    let now = state.clock.now();
    let event = audit::AuditEvent::new(now, AuditKind::UpstreamRefreshRefused).user(&row.user_id).provider(&p.id);
    let (iid, l) = (row.identity_id.clone(), lease.to_string());
    state
        .db
        .run(move |c| {
            if vault::mark_needs_sign_in(c, &iid, &l, now)? {
                audit::record(c, &event)?;
            }
            Ok(())
        })
        .await?;
    Err(VaultError::NeedsSignIn)
}

/// [TX-10] The stored refresh token does not open. A key missing from `encryption_keys` keeps the row (restoring
/// the key brings it back); a corrupt value clears the row's tokens (it can never open again). The lease is
/// released either way; the person must sign in again, which replaces the row.
async fn unsealable(state: &AppState, row: &VaultRow, lease: &str, e: CryptoError) -> Result<Fresh, VaultError> {
    let lost_key = matches!(e, CryptoError::UnknownKey(_));
    tracing::error!(provider = %row.provider, error = %e, "a stored upstream refresh token does not open; the person must sign in again");
    if lost_key {
        release(state, &row.identity_id, lease).await?;
    } else {
        let (iid, l, now) = (row.identity_id.clone(), lease.to_string(), state.clock.now());
        state.db.run(move |c| vault::mark_needs_sign_in(c, &iid, &l, now)).await?;
    }
    Err(VaultError::Unsealable { lost_key })
}

/// Seals and stores the refreshed set while the lease holds; only then is the new access token handed out.
async fn commit(
    state: &AppState,
    p: &ProviderConfig,
    row: &VaultRow,
    lease: &str,
    t: UpstreamTokens,
) -> Result<Fresh, VaultError> {
    let now = state.clock.now();
    let iid = row.identity_id.clone();
    let access =
        state.sealer.seal(t.access_token.expose().as_bytes(), &context(&iid, "access")).map_err(StoreError::from)?;
    let refresh = match &t.refresh_token {
        Some(r) => Some(state.sealer.seal(r.expose().as_bytes(), &context(&iid, "refresh")).map_err(StoreError::from)?),
        None => None,
    };
    let scope = t.scope.clone().unwrap_or_else(|| row.scope.clone());
    let (token_type, exp) = (t.token_type.clone(), t.expires_in.map(|e| now.saturating_add(e)));
    let (l, sc, tt, keep) = (lease.to_string(), scope.clone(), token_type.clone(), p.token_retention_secs);
    let committed = state
        .db
        .run(move |c| {
            let set = vault::Tokens {
                access_token: &access,
                token_type: &tt,
                access_expires_at: exp,
                scope: &sc,
                refresh_token: refresh.as_deref(),
            };
            let ok = vault::commit(c, &iid, &l, &set, now)?;
            if ok {
                vault::touch(c, &iid, now, keep)?;
            }
            Ok(ok)
        })
        .await?;
    if !committed {
        // A sign-in replaced the row meanwhile (its tokens are newer): those are the answer.
        return match read_fresh(state, p, &row.identity_id).await? {
            (_, Some(f)) => Ok(f),
            _ => Err(VaultError::Unavailable),
        };
    }
    Ok(Fresh { access_token: t.access_token, token_type, expires_in: t.expires_in, scope })
}

/// Re-encrypts vault tokens not sealed with the current key; returns how many rows.
pub fn reseal(conn: &mut DbConn, sealer: &Sealer) -> StoreResult<usize> {
    let mut n = 0;
    for (iid, generation, access, refresh) in vault::sealed(conn)? {
        let stale = |v: &Option<String>| v.as_deref().is_some_and(|v| sealer.is_stale(v));
        if !stale(&access) && !stale(&refresh) {
            continue;
        }
        let again = |field: &str, v: Option<String>| -> StoreResult<Option<String>> {
            match v {
                None => Ok(None),
                Some(v) => {
                    let plain = open(sealer, &iid, field, &v)?;
                    Ok(Some(sealer.seal(plain.expose().as_bytes(), &context(&iid, field))?))
                }
            }
        };
        let (a, r) = (again("access", access)?, again("refresh", refresh)?);
        vault::set_sealed(conn, (&iid, generation), a.as_deref(), r.as_deref())?;
        n += 1;
    }
    Ok(n)
}
