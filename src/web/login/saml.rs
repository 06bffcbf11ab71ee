//! `kind = "saml"` in the sign-in pages: the answer's field names, the one-time assertion IDs ([SA-7]), the GET
//! callback refused ([SA-9]) and our SP metadata for the admin to register at the IdP ([SA-10]).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::{provider, upstream_page};
use crate::respond::PageError;
use crate::state::AppState;
use crate::upstream::config::ProviderKind;
use crate::upstream::{FederatedIdentity, Provider, UpstreamError, UpstreamErrorKind};

/// The names of the answer's fields: OAuth's `state` and `code`, or SAML's `RelayState` and `SAMLResponse`.
pub(super) struct AnswerFields {
    pub state: &'static str,
    pub code: &'static str,
}

impl AnswerFields {
    pub fn of(p: &Provider) -> Self {
        match p.cfg.kind {
            ProviderKind::Saml => AnswerFields { state: "RelayState", code: "SAMLResponse" },
            _ => AnswerFields { state: "state", code: "code" },
        }
    }
}

fn unknown_method() -> PageError {
    PageError::new(StatusCode::METHOD_NOT_ALLOWED, "Unknown sign-in method", "There is no such sign-in method here.")
        .keyed("page-unknown-method")
}

/// [SA-9] A SAML Response comes by the HTTP-POST binding only, never in a URL (so never in a log or `Referer`).
pub(super) fn no_get(p: &Provider) -> Result<(), PageError> {
    if p.cfg.kind == ProviderKind::Saml { Err(unknown_method()) } else { Ok(()) }
}

/// [SA-7] A SAML assertion is believed once, on any instance: SHA-256 of (provider, assertion ID) is kept until the
/// assertion expires (plus the skew); the primary key decides, so two posts racing with one assertion cannot both
/// pass. Other kinds have nothing to spend.
pub(super) async fn spend_assertion(state: &AppState, p: &Provider, fed: &FederatedIdentity) -> Result<(), PageError> {
    let Some((id, keep_until)) = fed.upstream_assertion.clone() else { return Ok(()) };
    let (key, provider_id) = (crate::secret::hash_token(&format!("{}\u{0}{id}", p.cfg.id)), p.cfg.id.clone());
    let fresh =
        state.db.run(move |c| crate::store::saml_assertions::remember(c, &key, &provider_id, keep_until)).await?;
    if fresh {
        return Ok(());
    }
    // [MT-4] Counted once, as rejected{reason="replay"}.
    Err(upstream_page(
        state,
        UpstreamError::new(&p.cfg.id, UpstreamErrorKind::Rejected, "the SAML assertion was used before (replay)")
            .because(crate::upstream::rejection::Rejection::Replay),
    ))
}

/// [SA-10] `GET /saml/{id}/metadata`: our entity id and ACS URL at this provider, as SAML metadata.
pub(super) async fn sp_metadata(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let upstreams = state.upstreams();
    let p = provider(&upstreams, &path)?;
    if p.cfg.kind != ProviderKind::Saml {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Unknown sign-in method",
            "There is no such sign-in method here.",
        )
        .keyed("page-unknown-method"));
    }
    let sp = crate::upstream::saml::metadata::Sp::of(&p.cfg, state.settings().issuer_base());
    let xml = sp.metadata_xml().map_err(|e| {
        tracing::error!(provider = %p.cfg.id, error = %e, "SP metadata could not be written");
        PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "Error", "The metadata could not be written.")
    })?;
    Ok(HttpResponse::Ok().content_type("application/samlmetadata+xml").body(xml))
}
