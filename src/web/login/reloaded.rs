//! [HR-5] [HR-6] Callbacks of upstream logins that began before a reload. A login through a changed provider
//! finishes with the settings it began with (the registry keeps that generation while such a login can live); one
//! through a provider the reload removed, or whose generation is not known here (a restart since, or an instance
//! that has not reloaded yet), ends with a page that says so: the pending login is spent, nothing else changes. So
//! does one whose generation differs from the one in force in who answers or what is believed ([HR-5b]: the
//! answerer fingerprint).

use std::sync::Arc;

use actix_web::http::StatusCode;

use super::count_login;
use crate::oauth::params::Params;
use crate::respond::PageError;
use crate::secret::hash_token;
use crate::state::AppState;
use crate::store::upstream_logins::{self, UpstreamLogin};
use crate::upstream::config::ProviderKind;
use crate::upstream::{Provider, Registry};

/// [HR-6] The callback of `id`, a provider not configured (any more): when it carries the state of a login begun
/// there, that login is spent and the page says the method was removed; otherwise the page of an unknown method.
pub(super) async fn removed(state: &AppState, id: &str, params: &Params, unknown: PageError) -> PageError {
    // The provider's kind is gone with it: OAuth's `state` or SAML's `RelayState` ([SA-12]).
    let st = params.get("state").or_else(|| params.get("RelayState"));
    let Some(st) = st.filter(|_| params.first_duplicate().is_none()) else { return unknown };
    let (hash, pid, now) = (hash_token(st), id.to_string(), state.clock.now());
    match state.db.run(move |c| upstream_logins::spend(c, &hash, &pid, now)).await {
        // A login row names the provider it began at: the id was configured then ([MT-2]).
        Ok(true) => {
            count_login(state, id, "provider_removed");
            PageError::new(
                StatusCode::GONE,
                "Sign-in method removed",
                "This sign-in method was removed while you were signing in. Nothing was changed. Please start again and choose another one.",
            )
            .keyed("page-method-removed")
        }
        Ok(false) => unknown,
        Err(e) => e.into(),
    }
}

/// [HR-5] The provider as it was when `pending` began, in `upstreams` (the snapshot `current` was taken from), or
/// the page saying it changed since (that generation is no longer kept, or was never known here). [HR-5b] Who may
/// answer and what is believed are the current generation's: a generation whose answerer fingerprint differs from
/// the one in force (anything but the allow-listed members changed) is not used either.
pub(super) fn begun_with(
    state: &AppState,
    upstreams: &Registry,
    current: &Provider,
    pending: &UpstreamLogin,
) -> Result<Arc<Provider>, PageError> {
    let now = state.clock.now();
    if let Some(p) = upstreams.generation(&current.cfg.id, pending.provider_generation.as_deref(), now)
        && crate::upstream::generation::same_answerers(&p.cfg, &current.cfg)
        && !trust_withdrawn(&p, current)
    {
        return Ok(p);
    }
    count_login(state, &current.cfg.id, "provider_changed");
    Err(PageError::new(
        StatusCode::CONFLICT,
        "Sign-in method changed",
        "This sign-in method was changed while you were signing in. Nothing was changed. Please start again.",
    )
    .keyed("page-method-changed"))
}

/// [SA-12] [HR-5b] A SAML provider's pinned IdP certificate and the IdP its metadata file names (entity id, SSO URL)
/// are read from files, so the answerer fingerprint (the config's members) sees their paths, not what they hold: a
/// login begun with a generation whose pinned certificate or IdP is no longer the one in force is not finished with
/// it (an admin who rotates a leaked key by a reload must not leave it signing for the pending logins' lifetime).
fn trust_withdrawn(then: &Provider, now: &Provider) -> bool {
    fn files(p: &Provider) -> Option<(&[u8], Option<&crate::upstream::saml::metadata::Idp>)> {
        p.cfg.saml.as_ref().map(|f| (f.certificate_der.as_slice(), f.idp.as_ref()))
    }
    then.cfg.kind == ProviderKind::Saml && files(then) != files(now)
}
