//! The grants' ports over the server: the database (codes, grants, refresh tokens, users), the keys that sign,
//! the upstream re-check and the clock. The rules and their order live in `bridgekeeper_core::token`.

use bridgekeeper_core::token::ports::{
    CodeRecord, GrantPolicy, GrantRecord, Grants, Hop, Minter, Ports, RefreshRecord, Stop, Subject, Upstreams,
};
use bridgekeeper_core::token::{TokenClient, TokenOutcome, TokenRequest};

use super::issue;
use super::{ErrorCode, OAuthError};
use crate::accounts::upstream_tokens::{self, Recheck};
use crate::accounts::users::find_for_scope as users_for_claims;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::codes::AuthCode;
use crate::store::grants;
use crate::store::refresh::RefreshToken;
use crate::store::users::User;

/// Runs one token request for an authenticated client that may use its grant type.
pub async fn exchange(
    state: &actix_web::web::Data<AppState>,
    client: &Client,
    req: &TokenRequest,
    dpop_jkt: Option<&str>,
) -> Result<TokenOutcome, OAuthError> {
    let view = TokenClient {
        client_id: &client.client_id,
        may_refresh: client.allows_grant("refresh_token"),
        allowed_scopes: &client.allowed_scopes,
        public: client.is_public(),
        dpop_jkt,
        rotate: client.profile().rotates_refresh_tokens(),
    };
    let ports = ServerPorts(state, state.upstreams(), state.settings(), dpop_jkt.map(String::from));
    bridgekeeper_core::token::exchange(&ports, &view, req).await
}

/// The server as the grants' ports, with the provider set and the settings in force when the request began
/// ([HR-4] [HR-7]: one snapshot for the whole request), and the thumbprint of the request's DPoP key, which the
/// access tokens it mints are bound to ([DP-4]).
pub(super) struct ServerPorts<'a>(
    pub(super) &'a actix_web::web::Data<AppState>,
    pub(super) std::sync::Arc<crate::upstream::Registry>,
    pub(super) std::sync::Arc<crate::settings::Settings>,
    pub(super) Option<String>,
);

impl Subject for User {
    fn disabled(&self) -> bool {
        self.disabled
    }
}

impl Ports for ServerPorts<'_> {
    type Subject = User;
    type Grants = Self;
    type Minter = Self;
    type Upstreams = Self;
    type Exchanges = Self;
    fn grants(&self) -> &Self {
        self
    }
    fn exchanges(&self) -> &Self {
        self
    }
    fn minter(&self) -> &Self {
        self
    }
    fn upstreams(&self) -> &Self {
        self
    }
    fn policy(&self) -> GrantPolicy<'_> {
        let s = &self.2;
        GrantPolicy { refresh_reuse_grace_secs: s.tokens.refresh_reuse_grace_secs, catalogue: &s.scopes, apis: &s.apis }
    }
    fn now(&self) -> i64 {
        self.0.clock.now()
    }
}

pub(super) fn code_record(c: AuthCode) -> CodeRecord {
    CodeRecord {
        grant_id: c.grant_id,
        client_id: c.client_id,
        user_id: c.user_id,
        redirect_uri: c.redirect_uri,
        scope: c.scope,
        nonce: c.nonce,
        code_challenge: c.code_challenge,
        expires_at: c.expires_at,
        dpop_jkt: c.dpop_jkt,
    }
}

pub(super) fn grant_record((g, resources): (grants::Grant, Vec<String>)) -> GrantRecord {
    GrantRecord {
        id: g.id,
        client_id: g.client_id,
        user_id: g.user_id,
        session: g.session_hash,
        auth_time: g.auth_time,
        created_at: g.created_at,
        expires_at: g.expires_at,
        revoked_at: g.revoked_at,
        resources,
    }
}

pub(super) fn refresh_record(t: RefreshToken) -> RefreshRecord {
    RefreshRecord {
        token_hash: t.token_hash,
        grant_id: t.grant_id,
        client_id: t.client_id,
        user_id: t.user_id,
        scope: t.scope,
        created_at: t.created_at,
        expires_at: t.expires_at,
        used_at: t.used_at,
        revoked_at: t.revoked_at,
        dpop_jkt: t.dpop_jkt,
    }
}

pub(super) fn refresh_row(r: RefreshRecord) -> RefreshToken {
    RefreshToken {
        token_hash: r.token_hash,
        grant_id: r.grant_id,
        client_id: r.client_id,
        user_id: r.user_id,
        scope: r.scope,
        created_at: r.created_at,
        expires_at: r.expires_at,
        used_at: r.used_at,
        revoked_at: r.revoked_at,
        dpop_jkt: r.dpop_jkt,
    }
}

impl Grants for ServerPorts<'_> {
    type Subject = User;

    async fn one_hop<T, F>(&self, f: F) -> Result<T, OAuthError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Hop<Subject = User>) -> Result<T, Stop> + Send + 'static,
    {
        let ctx = super::grant_hop::HopCtx {
            state: self.0.clone(),
            upstreams: self.1.clone(),
            settings: self.2.clone(),
            dpop_jkt: self.3.clone(),
        };
        super::grant_hop::run(ctx, f).await
    }

    async fn grant_and_subject(
        &self,
        grant_id: &str,
        user_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<(Option<GrantRecord>, Option<User>), OAuthError> {
        let (gid, uid, scope) = (grant_id.to_string(), user_id.to_string(), scope.to_string());
        let ages = self.1.group_ages.clone();
        let (grant, user) = self
            .0
            .db
            .run(move |c| Ok((grants::find_with_resources(c, &gid)?, users_for_claims(c, &uid, &scope, &ages, now)?)))
            .await?;
        Ok((grant.map(grant_record), user))
    }

    async fn store_refresh(&self, row: RefreshRecord) -> Result<(), OAuthError> {
        let row = refresh_row(row);
        Ok(self.0.db.run(move |c| crate::store::refresh::insert(c, &row)).await?)
    }
}

impl Minter for ServerPorts<'_> {
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
        let to = issue::Target { audience, dpop_jkt: self.3.as_deref(), settings: &self.2 };
        issue::for_user(self.0, grant, user, scope, nonce, with_refresh, to)
    }

    fn refresh_token(&self, grant: &GrantRecord, user_id: &str, scope: &str) -> (String, RefreshRecord) {
        issue::refresh_token(self.0, grant, user_id, scope)
    }

    fn for_client_to(&self, client_id: &str, scope: &str, audience: Option<&str>) -> Result<TokenOutcome, OAuthError> {
        let to = issue::Target { audience, dpop_jkt: self.3.as_deref(), settings: &self.2 };
        issue::for_client(self.0, client_id, scope, to)
    }
}

impl Upstreams for ServerPorts<'_> {
    async fn recheck(&self, grant: &GrantRecord) -> Result<(), OAuthError> {
        match upstream_tokens::recheck(&self.0.clone().into_inner(), grant).await {
            Ok(()) => Ok(()),
            Err(Recheck::Refused) => Err(OAuthError::invalid_grant("the upstream account is no longer valid")),
            Err(Recheck::Unavailable) => {
                Err(OAuthError::new(ErrorCode::TemporarilyUnavailable, "the upstream provider cannot be reached"))
            }
            Err(Recheck::Store(e)) => Err(e.into()),
        }
    }
}
