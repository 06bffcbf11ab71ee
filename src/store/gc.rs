//! The sweeper: deletes rows that can never matter again (security.md [ST-2]), in bounded batches, with the
//! same SQL on both backends, safe with several instances sweeping at once (every statement is an idempotent
//! `DELETE … WHERE key IN (SELECT key … LIMIT n)`, committed on its own: no long transaction, no long lock; a
//! row another instance deleted first is simply not counted twice).
//!
//! What goes, and why it is safe:
//! - `auth_codes` whose expiry is older than `code_keep_secs` (the tombstone of a used code is kept that long,
//!   so a replay still revokes what the first use produced while those access tokens live);
//! - `auth_requests`, `upstream_logins` and `upstream_logouts` past their expiry (nothing can resume or finish
//!   them);
//! - `refresh_tokens` of grants past their absolute lifetime, or revoked more than `revoked_keep_secs` ago
//!   (every token of such a family is refused anyway; a token that was rotated but whose grant lives is kept,
//!   so reuse detection keeps working), then those `grants` themselves once no refresh token points at them
//!   (so the `ON DELETE CASCADE` from grants never deletes an unbounded number of rows);
//! - `sessions` expired or revoked that no grant points at any more (an offline grant keeps its session row,
//!   which says which upstream to re-check on refresh);
//! - `revoked_jtis` past the expiry of the token they deny, `upstream_logout_jtis` past the end of their token's
//!   acceptance window, `pushed_requests` (PAR), `client_assertion_jtis` (private_key_jwt), `dpop_proof_jtis` (DPoP)
//!   and `saml_assertions` (SAML) past their expiry; `device_codes` (RFC 8628) `code_keep_secs` past their expiry and
//!   `device_guesses` past their window; `failure_counts` (the shared failure budgets, [RL-6]) once the next
//!   window has read them as its previous one, or past the account's window of quiet;
//! - `logout_outbox` rows older than their give-up window plus a margin (a worker gives up on them first; this
//!   catches rows no worker ever tried, e.g. delivery turned off on every instance);
//! - `upstream_tokens` unused for their provider's `token_retention_secs` (`expires_at`);
//! - `audit_events` older than the retention.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::{DbConn, StoreResult};

/// What the sweeper keeps, relative to `now`.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Rows per statement.
    pub batch: i64,
    pub code_keep_secs: i64,
    pub revoked_keep_secs: i64,
    pub audit_retention_secs: i64,
    /// Outbox rows older than this go even if no worker gave up on them (delivery off everywhere).
    pub outbox_keep_secs: i64,
}

/// One table's rule: rows `x` of `table` matching `delete` go; `count` estimates the same set without
/// depending on earlier deletions (for `--dry-run`).
struct Rule {
    table: &'static str,
    key: &'static str,
    delete: String,
    count: String,
}

/// Every rule, in an order that respects the references between tables (tokens before grants before sessions).
/// Only integers are formatted into the SQL.
fn rules(now: i64, p: &Policy) -> Vec<Rule> {
    let revoked_before = now - p.revoked_keep_secs;
    let grant_dead = |g: &str| {
        format!("({g}.expires_at < {now} OR ({g}.revoked_at IS NOT NULL AND {g}.revoked_at < {revoked_before}))")
    };
    let simple = |table, key, cond: String| Rule { table, key, delete: cond.clone(), count: cond };
    vec![
        simple("auth_codes", "code_hash", format!("x.expires_at < {}", now - p.code_keep_secs)),
        simple("auth_requests", "id", format!("x.expires_at < {now}")),
        simple("upstream_logins", "state_hash", format!("x.expires_at < {now}")),
        simple("pending_links", "id_hash", format!("x.expires_at < {now}")),
        simple("upstream_logouts", "state_hash", format!("x.expires_at < {now}")),
        simple(
            "refresh_tokens",
            "token_hash",
            format!("x.grant_id IN (SELECT g.id FROM grants g WHERE {})", grant_dead("g")),
        ),
        Rule {
            table: "grants",
            key: "id",
            delete: format!(
                "{} AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = x.id)",
                grant_dead("x")
            ),
            count: grant_dead("x"),
        },
        Rule {
            table: "sessions",
            key: "id_hash",
            delete: format!(
                "(x.expires_at < {now} OR x.revoked_at IS NOT NULL) \
                 AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.session_hash = x.id_hash)"
            ),
            count: format!(
                "(x.expires_at < {now} OR x.revoked_at IS NOT NULL) \
                 AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.session_hash = x.id_hash AND NOT {})",
                grant_dead("g")
            ),
        },
        simple("revoked_jtis", "jti", format!("x.expires_at < {now}")),
        // [TX-1] Upstream tokens unused for the provider's `token_retention_secs`.
        simple("upstream_tokens", "identity_id", format!("x.expires_at < {now}")),
        simple("upstream_logout_jtis", "jti_hash", format!("x.expires_at < {now}")),
        simple("pushed_requests", "uri_hash", format!("x.expires_at < {now}")),
        simple("client_assertion_jtis", "jti_hash", format!("x.expires_at < {now}")),
        simple("dpop_proof_jtis", "jti_hash", format!("x.expires_at < {now}")),
        simple("saml_assertions", "id_hash", format!("x.expires_at < {now}")),
        // [DV-1] [DV-4] Device codes past their expiry plus `code_keep_secs`, wrong user codes
        // past their window.
        // A device code's row is kept as long as a code's tombstone, so that a late poll still hears
        // `expired_token` (RFC 8628 §3.5) rather than `invalid_grant`.
        simple("device_codes", "device_code_hash", format!("x.expires_at < {}", now - p.code_keep_secs)),
        simple("device_guesses", "id", format!("x.expires_at < {now}")),
        // [RL-6] Shared failure windows once the next window has read them, accounts past their window of quiet.
        simple("failure_counts", "id", format!("x.expires_at < {now}")),
        simple("logout_outbox", "id", format!("x.created_at < {}", now.saturating_sub(p.outbox_keep_secs))),
        simple("audit_events", "id", format!("x.at < {}", now.saturating_sub(p.audit_retention_secs))),
    ]
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Rows removed (or, with `dry_run`, that would be removed) per table, in sweeping order.
pub fn sweep(conn: &mut DbConn, now: i64, p: &Policy, dry_run: bool) -> StoreResult<Vec<(&'static str, u64)>> {
    let mut out = Vec::new();
    for r in rules(now, p) {
        let n = if dry_run { count(conn, &r)? } else { delete_all(conn, &r, p.batch)? };
        out.push((r.table, n));
    }
    Ok(out)
}

fn count(conn: &mut DbConn, r: &Rule) -> StoreResult<u64> {
    let sql = format!("SELECT COUNT(*) AS n FROM {} x WHERE {}", r.table, r.count);
    let c: Count = diesel::sql_query(sql).get_result(conn)?;
    Ok(c.n.max(0) as u64)
}

/// Deletes in batches of `batch` rows until a batch comes back short.
fn delete_all(conn: &mut DbConn, r: &Rule, batch: i64) -> StoreResult<u64> {
    let sql = format!(
        "DELETE FROM {t} WHERE {k} IN (SELECT x.{k} FROM {t} x WHERE {c} LIMIT {batch})",
        t = r.table,
        k = r.key,
        c = r.delete
    );
    let mut total = 0u64;
    loop {
        let n = diesel::sql_query(&sql).execute(conn)?;
        total += n as u64;
        if (n as i64) < batch {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_only_format_integers_and_keep_the_reference_order() {
        let p = Policy {
            batch: 10,
            code_keep_secs: 600,
            revoked_keep_secs: 600,
            audit_retention_secs: 86_400,
            outbox_keep_secs: 600,
        };
        let r = rules(1_000_000, &p);
        let order: Vec<&str> = r.iter().map(|r| r.table).collect();
        let pos = |t| order.iter().position(|x| *x == t).unwrap();
        assert!(pos("refresh_tokens") < pos("grants") && pos("grants") < pos("sessions"));
        assert!(r.iter().all(|r| !r.delete.contains('\'') && !r.count.contains('\'')));
        assert!(r[0].delete.contains("999400"), "codes keep their tombstone for code_keep_secs");
    }
}
