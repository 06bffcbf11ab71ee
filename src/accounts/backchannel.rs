//! Telling apps that a broker session ended (OpenID Connect Back-Channel Logout 1.0, the broker as OP). Every
//! path that ends a session (RP-initiated logout, `/account` sign-out, an admin disabling or revoking a user, an
//! unlink, the sweeper finding it expired) calls [`queue_for_session`] inside the transaction that ends it, so the
//! Logout Tokens are in the outbox exactly when the session is over ([BL-5]); `crate::logout` delivers them.

use bridgekeeper_core::backchannel::sid_for_session;

use crate::store::outbox::{self, Outgoing};
use crate::store::{DbConn, StoreResult, Write, grants, new_id, sessions};

/// [BL-4] Queues one Logout Token for each app that got an ID token in the session and registered a
/// `backchannel_logout_uri`. `sub` is the user id (the `sub` of its ID tokens), `sid` the session's public handle
/// ([BL-3]). Returns how many were queued.
pub fn queue_for_session(conn: &mut DbConn, session_hash: &str, user_id: &str, now: i64) -> StoreResult<usize> {
    let sid = sid_for_session(session_hash);
    let rows: Vec<Outgoing> = outbox::receivers_for_session(conn, session_hash)?
        .into_iter()
        .map(|(client_id, uri)| Outgoing {
            id: new_id(),
            client_id,
            uri,
            sub: user_id.to_string(),
            sid: Some(sid.clone()),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            claimed_until: 0,
            last_error: None,
        })
        .collect();
    outbox::insert(conn, &rows)
}

/// [BL-4] The sweeper's part: sessions past their expiry are ended (at their expiry), their grants without
/// `offline_access` end, and their apps are told. Each session in its own transaction, claimed by one
/// conditional update, so several instances sweeping at once tell each app once. Returns sessions ended.
/// [BL-11] Apps are told only of sessions that expired at most `tell_within_secs` ago (the delivery give-up
/// window): the first sweep after an upgrade, or after a long stop, ends years of old sessions silently instead of
/// queueing a Logout Token for each (their apps' own sessions are long gone, and such tokens would be given up).
pub fn end_expired_sessions(conn: &mut Write<'_>, now: i64, batch: i64, tell_within_secs: i64) -> StoreResult<usize> {
    let mut ended = 0;
    loop {
        let due = sessions::expired_unended(conn, now, batch)?;
        for (hash, user_id, expires_at) in &due {
            let tell = *expires_at >= now.saturating_sub(tell_within_secs);
            let done = conn.transaction(|c| {
                if !sessions::end_expired(c, hash, now)? {
                    return Ok(false);
                }
                grants::revoke_online_for_session(c, hash, now)?;
                if tell {
                    queue_for_session(c, hash, user_id, now)?;
                }
                Ok(true)
            })?;
            ended += usize::from(done);
        }
        if (due.len() as i64) < batch.max(1) {
            return Ok(ended);
        }
    }
}

/// [UL-3] [UL-4] Carries out a believed upstream Logout Token in one transaction: remembers its `jti` (a replay
/// ends nothing: `None`), ends the broker sessions that came from that upstream session (or, with only `sub`,
/// from that upstream subject), their grants without `offline_access`, and queues the Logout Tokens of their
/// apps. Returns how many sessions ended.
pub fn end_upstream_sessions(
    conn: &mut Write<'_>,
    provider: &str,
    told: &bridgekeeper_core::upstream_logout::LogoutSubject,
    now: i64,
) -> StoreResult<Option<usize>> {
    let jti_hash = crate::secret::hash_token(&format!("{provider}\0{}", told.jti));
    conn.transaction(|c| {
        if !crate::store::logout_jtis::remember(c, &jti_hash, provider, told.keep_until)? {
            return Ok(None);
        }
        let ended = sessions::revoke_for_upstream(c, provider, told.sid.as_deref(), told.sub.as_deref(), now)?;
        for (hash, user_id) in &ended {
            grants::revoke_online_for_session(c, hash, now)?;
            queue_for_session(c, hash, user_id, now)?;
            let event = crate::store::audit::AuditEvent::new(now, crate::store::audit::AuditKind::UpstreamLogout)
                .user(user_id)
                .provider(provider);
            crate::store::audit::record(c, &event)?;
        }
        Ok(Some(ended.len()))
    })
}
