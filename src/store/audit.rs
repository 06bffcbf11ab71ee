//! Audit events: logins, links, unlinks, consents, revocations, reuse detections, admin actions.

use diesel::prelude::*;

use super::schema::audit_events;
use super::{DbConn, MultiBackend, StoreResult};

/// Every audit event name, so a typo is a compile error and `bridgekeeper audit --event` has a fixed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    ClientAdded,
    ClientCredentialsAllowed,
    ClientCredentialsDenied,
    ClientRegistered,
    ClientRemoved,
    ClientScopeApproved,
    ClientSecretRotated,
    ClientUpdated,
    Consent,
    ConsentRevoked,
    CredentialStuffingSuspected,
    KeysRotated,
    ConfigReloaded,
    Link,
    LinkByEmail,
    LinkConfirmed,
    Login,
    Logout,
    SecretsResealed,
    TokenRevoked,
    Unlink,
    UpstreamRefreshRefused,
    UserCreated,
    UserDisabled,
    UserEnabled,
    UserTokensRevoked,
    CodeReuse,
    RefreshReuse,
    BackchannelLogoutAbandoned,
    UpstreamLogout,
}

impl AuditKind {
    pub const ALL: &[AuditKind] = &[
        AuditKind::ClientAdded,
        AuditKind::ClientCredentialsAllowed,
        AuditKind::ClientCredentialsDenied,
        AuditKind::ClientRegistered,
        AuditKind::ClientRemoved,
        AuditKind::ClientScopeApproved,
        AuditKind::ClientSecretRotated,
        AuditKind::ClientUpdated,
        AuditKind::Consent,
        AuditKind::ConsentRevoked,
        AuditKind::CredentialStuffingSuspected,
        AuditKind::KeysRotated,
        AuditKind::ConfigReloaded,
        AuditKind::Link,
        AuditKind::LinkByEmail,
        AuditKind::LinkConfirmed,
        AuditKind::Login,
        AuditKind::Logout,
        AuditKind::SecretsResealed,
        AuditKind::TokenRevoked,
        AuditKind::Unlink,
        AuditKind::UpstreamRefreshRefused,
        AuditKind::UserCreated,
        AuditKind::UserDisabled,
        AuditKind::UserEnabled,
        AuditKind::UserTokensRevoked,
        AuditKind::CodeReuse,
        AuditKind::RefreshReuse,
        AuditKind::BackchannelLogoutAbandoned,
        AuditKind::UpstreamLogout,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::ClientAdded => "client_added",
            AuditKind::ClientCredentialsAllowed => "client_credentials_allowed",
            AuditKind::ClientCredentialsDenied => "client_credentials_denied",
            AuditKind::ClientRegistered => "client_registered",
            AuditKind::ClientRemoved => "client_removed",
            AuditKind::ClientScopeApproved => "client_scope_approved",
            AuditKind::ClientSecretRotated => "client_secret_rotated",
            AuditKind::ClientUpdated => "client_updated",
            AuditKind::Consent => "consent",
            AuditKind::ConsentRevoked => "consent_revoked",
            AuditKind::CredentialStuffingSuspected => "credential_stuffing_suspected",
            AuditKind::KeysRotated => "keys_rotated",
            AuditKind::ConfigReloaded => "config_reloaded",
            AuditKind::Link => "link",
            AuditKind::LinkByEmail => "link_by_email",
            AuditKind::LinkConfirmed => "link_confirmed",
            AuditKind::Login => "login",
            AuditKind::Logout => "logout",
            AuditKind::SecretsResealed => "secrets_resealed",
            AuditKind::TokenRevoked => "token_revoked",
            AuditKind::Unlink => "unlink",
            AuditKind::UpstreamRefreshRefused => "upstream_refresh_refused",
            AuditKind::UserCreated => "user_created",
            AuditKind::UserDisabled => "user_disabled",
            AuditKind::UserEnabled => "user_enabled",
            AuditKind::UserTokensRevoked => "user_tokens_revoked",
            AuditKind::CodeReuse => "code_reuse",
            AuditKind::RefreshReuse => "refresh_reuse",
            AuditKind::BackchannelLogoutAbandoned => "backchannel_logout_abandoned",
            AuditKind::UpstreamLogout => "upstream_logout",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq, serde::Serialize)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub at: i64,
    pub event: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub provider: Option<String>,
    pub detail: String,
}

impl AuditEvent {
    pub fn new(at: i64, event: AuditKind) -> Self {
        AuditEvent {
            id: super::new_id(),
            at,
            event: event.as_str().to_string(),
            user_id: None,
            client_id: None,
            provider: None,
            detail: "{}".into(),
        }
    }

    pub fn user(mut self, user_id: &str) -> Self {
        self.user_id = Some(user_id.to_string());
        self
    }

    pub fn client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_string());
        self
    }

    pub fn provider(mut self, provider: &str) -> Self {
        self.provider = Some(provider.to_string());
        self
    }
}

/// Stores the event and mirrors it to the `audit` log target.
pub fn record(conn: &mut DbConn, event: &AuditEvent) -> StoreResult<()> {
    tracing::info!(
        target: "audit",
        event = %event.event,
        user = event.user_id.as_deref().unwrap_or("-"),
        client = event.client_id.as_deref().unwrap_or("-"),
        provider = event.provider.as_deref().unwrap_or("-"),
    );
    diesel::insert_into(audit_events::table).values(event).execute(conn)?;
    Ok(())
}

pub fn list(conn: &mut DbConn, limit: i64) -> StoreResult<Vec<AuditEvent>> {
    Ok(audit_events::table
        .order(audit_events::at.desc())
        .then_order_by(audit_events::id.asc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)?)
}

/// Which audit events a listing shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub event: Option<String>,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// Only events at or after this time.
    pub since: Option<i64>,
}

fn filtered(f: &Filter) -> audit_events::BoxedQuery<'static, MultiBackend> {
    let mut q = audit_events::table.into_boxed::<MultiBackend>();
    if let Some(e) = &f.event {
        q = q.filter(audit_events::event.eq(e.clone()));
    }
    if let Some(u) = &f.user_id {
        q = q.filter(audit_events::user_id.eq(u.clone()));
    }
    if let Some(c) = &f.client_id {
        q = q.filter(audit_events::client_id.eq(c.clone()));
    }
    if let Some(t) = f.since {
        q = q.filter(audit_events::at.ge(t));
    }
    q
}

/// One page of events matching `f`, newest first, and the total matching.
pub fn page(conn: &mut DbConn, f: &Filter, limit: i64, offset: i64) -> StoreResult<(Vec<AuditEvent>, i64)> {
    let total: i64 = filtered(f).count().get_result(conn)?;
    let items = filtered(f)
        .order(audit_events::at.desc())
        .then_order_by(audit_events::id.asc())
        .limit(limit)
        .offset(offset)
        .select(AuditEvent::as_select())
        .load(conn)?;
    Ok((items, total))
}
