//! Audit events: logins, links, unlinks, consents, revocations, reuse detections, admin actions.

use diesel::prelude::*;

use super::schema::audit_events;
use super::{DbConn, StoreResult};

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
    pub fn new(at: i64, event: &str) -> Self {
        AuditEvent {
            id: super::new_id(),
            at,
            event: event.to_string(),
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
