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
use crate::store::codes::{self, Redemption};
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

/// Why a hop's transaction rolls back.
enum Rollback {
    Store(StoreError),
    Aborted(OAuthError),
}

impl From<StoreError> for Rollback {
    fn from(e: StoreError) -> Self {
        Rollback::Store(e)
    }
}

/// Runs `f` in one `BEGIN IMMEDIATE`/`BEGIN` transaction on one pooled connection: committed on `Ok` and on a
/// refusal (which is then the answer), rolled back on a store failure.
pub(super) async fn run<T, F>(ctx: HopCtx, f: F) -> Result<T, OAuthError>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Hop<Subject = User>) -> Result<T, Stop> + Send + 'static,
{
    let db = ctx.state.db.clone();
    db.write(move |w| {
        let ctx = &ctx;
        let done = ctx.state.with_settings(ctx.settings.clone(), || {
            w.immediate(|w| match f(&mut ServerHop { w, ctx }) {
                Ok(v) => Ok(Ok(v)),
                Err(Stop::Refused(e)) => Ok(Err(e)),
                Err(Stop::Aborted(e)) => Err(Rollback::Aborted(e)),
            })
        });
        match done {
            Ok(answer) => Ok(answer),
            Err(Rollback::Aborted(e)) => Ok(Err(e)),
            Err(Rollback::Store(e)) => Err(e),
        }
    })
    .await?
}

struct ServerHop<'a, 'w> {
    w: &'a mut Write<'w>,
    ctx: &'a HopCtx,
}

fn abort(e: StoreError) -> Aborted {
    Aborted(e.into())
}

impl ServerHop<'_, '_> {
    fn conn(&mut self) -> &mut DbConn {
        self.w
    }

    /// The refresh takes the longer path when the grant's sign-in came through a provider that re-checks on
    /// refresh, or when that sign-in is gone (the re-check then refuses: fail closed).
    fn upstream_recheck(&self, grant: Option<&grants::Grant>, signed_in: Option<Option<String>>) -> bool {
        let person = grant.is_some_and(|g| g.user_id.is_some());
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
        let (redemption, grant, user) = codes::redeem_with_grant(self.conn(), &hash, client_id, now).map_err(abort)?;
        let redeemed = match redemption {
            Redemption::Fresh(c) => Redeemed::Fresh(code_record(c)),
            Redemption::Replayed(c) => Redeemed::Replayed(code_record(c)),
            Redemption::Unknown => Redeemed::Unknown,
        };
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
        grants::revoke(self.w, r.grant_id, now).map_err(abort)?;
        audit::record(self.w, &event).map_err(abort)
    }

    fn store_refresh(&mut self, row: RefreshRecord) -> Result<(), Aborted> {
        refresh::insert(self.conn(), &refresh_row(row)).map_err(abort)
    }

    fn rotate(&mut self, old_hash: &str, successor: RefreshRecord, now: i64) -> Result<Rotated, Aborted> {
        Ok(match refresh::rotate_in(self.conn(), old_hash, &refresh_row(successor), now).map_err(abort)? {
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

    fn for_user(
        &self,
        grant: &GrantRecord,
        user: &User,
        scope: &str,
        nonce: Option<&str>,
        with_refresh: bool,
    ) -> Result<(TokenOutcome, Option<RefreshRecord>), OAuthError> {
        issue::for_user(&self.state, grant, user, scope, nonce, with_refresh, self.dpop_jkt.as_deref())
    }

    fn refresh_token(&self, grant: &GrantRecord, user_id: &str, scope: &str) -> (String, RefreshRecord) {
        issue::refresh_token(&self.state, grant, user_id, scope)
    }

    fn for_client(&self, client_id: &str, scope: &str) -> Result<TokenOutcome, OAuthError> {
        issue::for_client(&self.state, client_id, scope, self.dpop_jkt.as_deref())
    }
}
