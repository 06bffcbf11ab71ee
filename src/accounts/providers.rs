//! What the stored accounts must agree with when the provider set is put in force (at start and at each reload
//! that changes it, [HR-4]): OAuth2 identities' issuer names ([TB-1c]), the upstream token vault ([TX-11]) and
//! email trust ([TB-1a]).

use std::sync::Arc;

use crate::crypto::Sealer;
use crate::store::{Db, StoreError};
use crate::upstream::Registry;

/// Brings the database in line with `registry`; logs what it changed.
pub async fn reconcile(
    db: &Db,
    sealer: Arc<Sealer>,
    registry: &Registry,
    now: i64,
) -> Result<super::users::EmailTrustReconciled, StoreError> {
    let trusted = registry.email_trusted_providers();
    let renamed = registry.oauth2_issuers();
    let ids = |f: fn(&crate::upstream::config::ProviderConfig) -> bool| -> Vec<String> {
        registry.list().filter(|p| f(&p.cfg)).map(|p| p.cfg.id.clone()).collect()
    };
    let (stored, rechecked) = (ids(|c| c.store_tokens), ids(|c| c.refresh_upstream));
    let (changed, purged) = db
        .run(move |c| {
            // [TB-1c] Identities of OAuth2 providers recorded before they had an issuer name of their own.
            for (provider, issuer) in &renamed {
                crate::store::identities::set_issuer_for_provider(c, provider, issuer)?;
            }
            // [TX-11] Upstream tokens of providers no longer kept in the vault go.
            let purged = super::upstream_tokens::purge_vault(c, &sealer, &stored, &rechecked)?;
            Ok((super::users::reconcile_email_trust(c, &trusted, now)?, purged))
        })
        .await?;
    if changed.changed > 0 {
        tracing::info!(users = changed.changed, "email trust brought in line with the providers' trust_email");
    }
    if !changed.scanned_users {
        tracing::debug!("[TB-1h] trusted providers as last reconciled: the scan of every user skipped");
    }
    if purged > 0 {
        tracing::warn!(rows = purged, "upstream tokens of providers without store_tokens deleted from the vault");
    }
    Ok(changed)
}
