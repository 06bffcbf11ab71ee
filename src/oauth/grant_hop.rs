//! [DB-5] The grants' one hop over the server: one pooled connection, one transaction, on tokio's blocking pool,
//! with the request's settings snapshot ([HR-7]). The rules it runs are `bridgekeeper_core::token`'s.

use std::sync::Arc;

use bridgekeeper_core::token::TokenOutcome;
use bridgekeeper_core::token::ports::{
    Aborted, GrantRecord, Hop, Minter, Redeemed, RefreshLoad, RefreshRecord, Revocation, Revoking, Rotated, Stop,
};

use super::grants::{code_record, grant_record, refresh_record, refresh_row};
use super::{OAuthError, issue};
use crate::accounts::users;
use crate::secret::hash_token;
use crate::state::AppState;
use crate::store::audit::{self, AuditKind};
use crate::store::codes;
use crate::store::refresh::{self, Rotation};
use crate::store::users::User;
use crate::store::{DbConn, StoreError, Write, grants};

/// What a hop needs of the request: the server, the provider set and settings it began with, its DPoP key.
pub(super) struct HopCtx {
    pub(super) state: actix_web::web::Data<AppState>,
    pub(super) upstreams: Arc<crate::upstream::Registry>,
    pub(super) settings: Arc<crate::settings::Settings>,
    pub(super) dpop_jkt: Option<String>,
}

/// Runs `f` on one pooled connection. Its reads take no lock; its first write opens the transaction (SQLite
/// `BEGIN IMMEDIATE`: a refusal from a read never waits for the write lock, and a refresh signs before it takes
/// it), which is committed on `Ok` and on a refusal (then the answer), rolled back on a store failure.
pub(super) async fn run<T, F>(ctx: HopCtx, f: F) -> Result<T, OAuthError>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Hop<Subject = User>) -> Result<T, Stop> + Send + 'static,
{
    let db = ctx.state.db.clone();
    db.write(move |w| {
        let ctx = &ctx;
        ctx.state.with_settings(ctx.settings.clone(), || {
            let mut hop = ServerHop { w, ctx, began: false, deferred: None, lost: None };
            let out = f(&mut hop);
            let out = match out {
                Err(Stop::Aborted(e)) => Err(Stop::Aborted(e)),
                kept => hop.spend_deferred().map_err(|Aborted(e)| Stop::Aborted(e)).and(kept),
            };
            let (began, lost, deferred) = (hop.began, hop.lost.take(), hop.deferred.take());
            match (out, lost) {
                (Err(Stop::Aborted(e)), _) => {
                    if began {
                        let _ = w.rollback();
                    }
                    // [AC-1] Aborted with its spend still deferred (a resource error, a failed mint): the code stays,
                    // unless another redemption spent it meanwhile, which makes this one a replay.
                    match deferred {
                        Some(code) if spent_by_another(w, &code) => lost_race(w, false, &code),
                        _ => Ok(Err(e)),
                    }
                }
                (_, Some(code)) => lost_race(w, began, &code),
                (Ok(v), None) => end(w, began).map(|()| Ok(v)),
                (Err(Stop::Refused(e)), None) => end(w, began).map(|()| Err(e)),
            }
        })
    })
    .await?
}

fn end(w: &mut Write<'_>, began: bool) -> Result<(), StoreError> {
    if began { w.commit() } else { Ok(()) }
}

/// [AC-1] Another redemption spent the code between this hop's read and its deferred spend: nothing this hop
/// wrote stays, the grant is revoked (with its audit record) and the answer is `invalid_grant`.
/// With a transaction open, the revocation joins it: it holds nothing else (the lost spend is the hop's first write,
/// and a lost spend stores nothing after it), and on SQLite it already holds the write lock.
fn lost_race<T>(w: &mut Write<'_>, began: bool, code: &Deferred) -> Result<Result<T, OAuthError>, StoreError> {
    let event = audit::AuditEvent::new(code.now, AuditKind::CodeReuse).user(&code.user_id).client(&code.client_id);
    if !began {
        w.begin_immediate()?;
    }
    grants::revoke(w, &code.grant_id, code.now)?;
    audit::record(w, &event)?;
    w.commit()?;
    Ok(Err(OAuthError::invalid_grant("the authorization code was already used")))
}

/// Was the deferred code spent by another redemption? (A failed read counts as no: the hop's own answer stands.)
fn spent_by_another(w: &mut Write<'_>, code: &Deferred) -> bool {
    matches!(codes::find_with_grant(w, &code.hash), Ok(Some((c, _, _))) if c.used_at.is_some())
}

/// A code read unspent whose spend waits for the hop's first write or its end ([`Hop::redeem_code`]).
struct Deferred {
    hash: String,
    grant_id: String,
    user_id: String,
    client_id: String,
    now: i64,
}

struct ServerHop<'a, 'w> {
    w: &'a mut Write<'w>,
    ctx: &'a HopCtx,
    /// The write transaction is open.
    began: bool,
    /// The code this hop redeems, not yet spent.
    deferred: Option<Deferred>,
    /// The deferred spend found the code spent by another redemption.
    lost: Option<Deferred>,
}

fn abort(e: StoreError) -> Aborted {
    Aborted(e.into())
}

impl<'w> ServerHop<'_, 'w> {
    fn conn(&mut self) -> &mut DbConn {
        self.w
    }

    /// The connection for a write: the transaction opens at the first.
    fn writer(&mut self) -> Result<&mut Write<'w>, Aborted> {
        if !self.began {
            self.w.begin_immediate().map_err(abort)?;
            self.began = true;
        }
        self.spend_deferred()?;
        Ok(self.w)
    }

    /// The deferred spend at the hop's end (no refresh token was stored, or the rules refused): one conditional
    /// update, in the transaction if one is open.
    fn spend_deferred(&mut self) -> Result<(), Aborted> {
        if let Some(d) = self.deferred.take()
            && !codes::spend(self.w, &d.hash, d.now).map_err(abort)?
        {
            self.lost = Some(d);
        }
        Ok(())
    }

    /// The refresh takes the longer path when the grant's sign-in came through a provider that re-checks on
    /// refresh, or when that sign-in is gone (the re-check then refuses: fail closed).
    fn upstream_recheck(
        &self,
        grant: Option<&(grants::Grant, Vec<String>)>,
        signed_in: Option<Option<String>>,
    ) -> bool {
        let person = grant.is_some_and(|(g, _)| g.user_id.is_some());
        person
            && match signed_in {
                None => false,
                Some(None) => true,
                Some(Some(p)) => self.ctx.upstreams.get(&p).is_some_and(|p| p.cfg.refresh_upstream),
            }
    }
}

impl Hop for ServerHop<'_, '_> {
    type Subject = User;

    fn find_refresh(&mut self, token: &str) -> Result<Option<RefreshLoad<User>>, Aborted> {
        let hash = hash_token(token);
        let Some((t, grant, user, signed_in)) = refresh::find_with_grant(self.conn(), &hash).map_err(abort)? else {
            return Ok(None);
        };
        let upstream_recheck = self.upstream_recheck(grant.as_ref(), signed_in);
        Ok(Some(RefreshLoad {
            token: refresh_record(t),
            grant: grant.map(grant_record),
            subject: user,
            upstream_recheck,
        }))
    }

    fn redeem_code(
        &mut self,
        code: &str,
        client_id: &str,
        now: i64,
    ) -> Result<(Redeemed, Option<GrantRecord>, Option<User>), Aborted> {
        let hash = hash_token(code);
        // [AC-2] Unknown, or another client's (left unspent): refused from the read, no lock taken.
        let found = codes::find_with_grant(self.conn(), &hash).map_err(abort)?;
        let Some((code, grant, user)) = found.filter(|(c, _, _)| c.client_id == client_id) else {
            return Ok((Redeemed::Unknown, None, None));
        };
        // The spend waits for the refresh token's insert (one statement with it on PostgreSQL) or the hop's end, so
        // that on SQLite the write lock is not held while the tokens are signed ([DB-5]).
        let fresh = code.used_at.is_none();
        if fresh {
            let (grant_id, user_id) = (code.grant_id.clone(), code.user_id.clone());
            let client_id = code.client_id.clone();
            self.deferred = Some(Deferred { hash, grant_id, user_id, client_id, now });
        }
        let code = code_record(code);
        let redeemed = if fresh { Redeemed::Fresh(code) } else { Redeemed::Replayed(code) };
        Ok((redeemed, grant.map(grant_record), user))
    }

    fn subject_for_scope(&mut self, user: User, scope: &str, now: i64) -> Result<User, Aborted> {
        let ages = self.ctx.upstreams.group_ages.clone();
        users::for_scope(self.conn(), user, scope, &ages, now).map_err(abort)
    }

    fn revoke(&mut self, r: &Revoking<'_>, now: i64) -> Result<(), Aborted> {
        let name = match r.why {
            Revocation::CodeReuse => AuditKind::CodeReuse,
            Revocation::RefreshReuse => AuditKind::RefreshReuse,
        };
        if matches!(r.why, Revocation::RefreshReuse) {
            self.ctx.state.metrics.refresh_reuse.inc();
        }
        let event = audit::AuditEvent::new(now, name).user(r.user_id).client(r.client_id);
        let w = self.writer()?;
        grants::revoke(w, r.grant_id, now).map_err(abort)?;
        audit::record(w, &event).map_err(abort)
    }

    /// After a code's redemption, the deferred spend goes with the insert: one statement on PostgreSQL with no
    /// transaction open ([`codes::spend_and_store`]), else both in the transaction. A lost spend stores nothing.
    fn store_refresh(&mut self, row: RefreshRecord) -> Result<(), Aborted> {
        let row = refresh_row(row);
        if !self.began
            && let Some(d) = self.deferred.take()
        {
            match codes::spend_and_store(self.conn(), &d.hash, d.now, &row).map_err(abort)? {
                Some(true) => return Ok(()),
                Some(false) => {
                    self.lost = Some(d);
                    return Ok(());
                }
                None => self.deferred = Some(d),
            }
        }
        self.writer()?;
        if self.lost.is_some() {
            return Ok(());
        }
        refresh::insert(self.w, &row).map_err(abort)
    }

    /// With nothing written before it in this hop (a plain refresh), PostgreSQL spends and inserts in one
    /// statement outside a transaction ([`refresh::rotate_alone`]); what a refusal writes after it (the family's
    /// revocation, [RT-4]) opens the transaction then.
    fn rotate(&mut self, old_hash: &str, successor: RefreshRecord, now: i64) -> Result<Rotated, Aborted> {
        let row = refresh_row(successor);
        let alone =
            if self.began { None } else { refresh::rotate_alone(self.conn(), old_hash, &row, now).map_err(abort)? };
        let rotation = match alone {
            Some(r) => r,
            None => refresh::rotate_in(self.writer()?, old_hash, &row, now).map_err(abort)?,
        };
        Ok(match rotation {
            Rotation::Rotated => Rotated::Rotated,
            Rotation::Lost(t) => Rotated::Lost(refresh_record(t)),
            Rotation::Dead => Rotated::Dead,
        })
    }

    fn minter(&self) -> &dyn Minter<Subject = User> {
        self.ctx
    }
}

impl Minter for HopCtx {
    type Subject = User;

    fn for_user_to(
        &self,
        grant: &GrantRecord,
        user: &User,
        scope: &str,
        nonce: Option<&str>,
        with_refresh: bool,
        audience: Option<&str>,
    ) -> Result<(TokenOutcome, Option<RefreshRecord>), OAuthError> {
        let to = issue::Target { audience, dpop_jkt: self.dpop_jkt.as_deref(), settings: &self.settings };
        issue::for_user(&self.state, grant, user, scope, nonce, with_refresh, to)
    }

    fn refresh_token(&self, grant: &GrantRecord, user_id: &str, scope: &str) -> (String, RefreshRecord) {
        issue::refresh_token(&self.state, grant, user_id, scope)
    }

    fn for_client_to(&self, client_id: &str, scope: &str, audience: Option<&str>) -> Result<TokenOutcome, OAuthError> {
        let to = issue::Target { audience, dpop_jkt: self.dpop_jkt.as_deref(), settings: &self.settings };
        issue::for_client(&self.state, client_id, scope, to)
    }
}
