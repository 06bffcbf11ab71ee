//! [DP-2] `jti`s of DPoP proofs already accepted: the SHA-256 of (key thumbprint, `jti`), kept until the proof's
//! `iat` window has passed on every instance (the caller passes that time), then swept.

use std::collections::HashSet;

use diesel::prelude::*;

use super::schema::dpop_proof_jtis;
use super::{DbConn, StoreError, StoreResult};

/// Remembers a proof; `false` when it was seen before (a replay), on any instance: the primary key decides, so two
/// requests racing with one proof cannot both pass.
pub fn remember(conn: &mut DbConn, jti_hash: &str, expires_at: i64) -> StoreResult<bool> {
    let inserted = diesel::insert_into(dpop_proof_jtis::table)
        .values((dpop_proof_jtis::jti_hash.eq(jti_hash), dpop_proof_jtis::expires_at.eq(expires_at)))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict => Ok(false),
            other => Err(other),
        },
    }
}

/// [DP-2] Which marks of a batch are the first of their key (the others are replays within it), and the firsts to
/// insert, sorted by key: two batches that share keys then take their index entries in one order and never
/// deadlock (PostgreSQL inserts a multi-row `VALUES` in its order, waiting on a key another open insert holds).
pub fn insert_order(marks: &[(String, i64)]) -> (Vec<bool>, Vec<(&str, i64)>) {
    let mut seen = HashSet::with_capacity(marks.len());
    let firsts: Vec<bool> = marks.iter().map(|(k, _)| seen.insert(k.as_str())).collect();
    let mut new: Vec<(&str, i64)> =
        marks.iter().zip(&firsts).filter(|(_, first)| **first).map(|((k, until), _)| (k.as_str(), *until)).collect();
    new.sort_unstable_by(|a, b| a.0.cmp(b.0));
    (firsts, new)
}

/// [DP-2] [`remember`] for many proofs at once (the group commit of `store::replay_batch`), in one statement on
/// PostgreSQL and one transaction on SQLite: for each `(jti_hash, expires_at)`, in order, whether it was new. The
/// primary key still decides between instances; within the batch the first of two equal keys is the new one.
/// Rows go in key order ([`insert_order`]).
pub fn remember_many(conn: &mut DbConn, marks: &[(String, i64)]) -> StoreResult<Vec<bool>> {
    let (firsts, new) = insert_order(marks);
    let row =
        |(k, until): (&str, i64)| (dpop_proof_jtis::jti_hash.eq(k.to_string()), dpop_proof_jtis::expires_at.eq(until));
    let fresh: HashSet<String> = match conn {
        _ if new.is_empty() => HashSet::new(),
        DbConn::Postgres(c) => diesel::insert_into(dpop_proof_jtis::table)
            .values(new.iter().copied().map(row).collect::<Vec<_>>())
            .on_conflict_do_nothing()
            .returning(dpop_proof_jtis::jti_hash)
            .get_results::<String>(c)?
            .into_iter()
            .collect(),
        DbConn::Sqlite(c) => c.transaction(|c| {
            let mut fresh = HashSet::with_capacity(new.len());
            for mark in &new {
                let n = diesel::insert_into(dpop_proof_jtis::table)
                    .values(row(*mark))
                    .on_conflict_do_nothing()
                    .execute(c)?;
                if n == 1 {
                    fresh.insert(mark.0.to_string());
                }
            }
            Ok::<_, diesel::result::Error>(fresh)
        })?,
    };
    Ok(marks.iter().zip(firsts).map(|((k, _), first)| first && fresh.contains(k)).collect())
}
