//! Checking our own access tokens where we are the resource server (userinfo, introspection): signature,
//! `typ`, issuer and expiry, then revocation (jti deny-list, grant revoked, user disabled).

use crate::state::AppState;
use crate::store::{StoreResult, grants, revoked, users};
use crate::tokens::claims::{AccessClaims, verify_access_token};

/// The token's claims and its user (none for client_credentials tokens), if the token is live.
pub async fn check(state: &AppState, token: &str) -> StoreResult<Option<(AccessClaims, Option<users::User>)>> {
    let now = state.clock.now();
    let epoch = state.db.epoch();
    // A live verdict is remembered briefly (see `store::write` and `Caches`): repeated checks of one token skip
    // the signature and the database.
    let cached = state.caches.tokens.get(token).filter(|(e, verdict)| *e == epoch && verdict.0.exp > now);
    state.metrics.cache_lookup("tokens", cached.is_some());
    if let Some((_, verdict)) = cached {
        return Ok(Some((*verdict).clone()));
    }
    let Some(claims) = verify_access_token(&state.keys(), &state.settings().issuer, token, now) else {
        return Ok(None);
    };
    let c = claims.clone();
    let ages = state.upstreams().group_ages.clone();
    let verdict = state
        .db
        .run(move |conn| {
            if revoked::is_revoked(conn, &c.jti)? {
                return Ok(None);
            }
            // A disabled (or deleted) client's tokens are dead too.
            if crate::store::clients::find(conn, &c.client_id)?.is_none_or(|cl| cl.disabled) {
                return Ok(None);
            }
            let Some(gid) = &c.gid else { return Ok(Some((c, None))) };
            if !grants::is_active(conn, gid, now)? {
                return Ok(None);
            }
            match crate::accounts::users::find_for_scope(conn, &c.sub, &c.scope, &ages, now)? {
                Some(u) if !u.disabled => Ok(Some((c, Some(u)))),
                _ => Ok(None),
            }
        })
        .await?;
    if let Some(v) = &verdict {
        state.caches.tokens.insert(token.to_string(), (epoch, std::sync::Arc::new(v.clone())));
    }
    Ok(verdict)
}
