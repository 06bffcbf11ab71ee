//! `kind = "saml"`: SAML 2.0 Web Browser SSO, SP-initiated ([SA-1]–[SA-10]). The AuthnRequest goes out by
//! HTTP-Redirect (ID = `_` + the pending login's nonce, RelayState = its state); the IdP answers by HTTP-POST to
//! `/callback/{id}` (`web::login::apple` bounces that cross-site POST like Apple's); `verify` checks it. The
//! XML signature work is samael's (libxmlsec1): nothing here parses or checks a signature itself.

pub mod metadata;
mod precheck;
mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use metadata::{Idp, Sp};
use samael::service_provider::ServiceProviderBuilder;

use super::connector::{Fut, HealthCheck};
use super::http::UpstreamHttp;
use super::{Callback, CallbackConnector, FederatedIdentity, LoginRequest, UpstreamError, UpstreamErrorKind};
use crate::upstream::config::ProviderConfig;

/// How long fetched metadata (`idp_metadata_url`) is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// [SA-1] How long a failed fetch of `idp_metadata_url` is remembered: sign-ins (anonymous `GET /login/{id}`) never
/// make the broker fetch it more often than that.
const METADATA_RETRY: Duration = Duration::from_secs(60);

pub struct Saml {
    cfg: Arc<ProviderConfig>,
    /// `idp_metadata_url`: the last metadata fetched and checked.
    fetched: moka::sync::Cache<(), Arc<Idp>>,
    /// Why the last fetch failed, for [`METADATA_RETRY`].
    failed: moka::sync::Cache<(), String>,
    /// One fetch at a time: concurrent sign-ins wait for it instead of fetching too.
    fetching: tokio::sync::Mutex<()>,
    down: AtomicBool,
}

impl Saml {
    pub fn new(cfg: Arc<ProviderConfig>) -> Self {
        Saml {
            cfg,
            fetched: moka::sync::Cache::builder().max_capacity(1).time_to_live(METADATA_TTL).build(),
            failed: moka::sync::Cache::builder().max_capacity(1).time_to_live(METADATA_RETRY).build(),
            fetching: tokio::sync::Mutex::new(()),
            down: AtomicBool::new(false),
        }
    }

    fn err(&self, kind: UpstreamErrorKind, detail: impl Into<String>) -> UpstreamError {
        UpstreamError::new(&self.cfg.id, kind, detail)
    }

    /// [SA-1] The pinned certificate; a provider file without one never loads, so its absence is refused here too.
    fn pinned(&self) -> Result<&[u8], UpstreamError> {
        match &self.cfg.saml {
            Some(f) if !f.certificate_der.is_empty() => Ok(&f.certificate_der),
            _ => Err(self
                .err(UpstreamErrorKind::Rejected, "no pinned IdP signing certificate")
                .because(super::rejection::Rejection::Signature)),
        }
    }

    /// The IdP: from the metadata file, or the (cached) metadata fetched from `idp_metadata_url` ([SA-1]: one fetch
    /// at a time, a failure remembered for [`METADATA_RETRY`]; `force`, the health check, fetches anyway).
    async fn idp(&self, http: &UpstreamHttp, force: bool) -> Result<Arc<Idp>, UpstreamError> {
        let pinned = self.pinned()?;
        if let Some(idp) = self.cfg.saml.as_ref().and_then(|f| f.idp.clone()) {
            return Ok(Arc::new(idp));
        }
        if !force && let Some(known) = self.cached() {
            return known;
        }
        let _one = self.fetching.lock().await;
        if !force && let Some(known) = self.cached() {
            return known;
        }
        let url = self.cfg.idp_metadata_url.clone().unwrap_or_default();
        let got = match http.for_provider(&self.cfg.id).get_metadata(&url).await {
            Ok(xml) => metadata::parse(&xml, pinned),
            Err(e) => Err(e.to_string()),
        };
        self.down.store(got.is_err(), Ordering::Relaxed);
        match got {
            Ok(idp) => {
                let idp = Arc::new(idp);
                self.failed.invalidate(&());
                self.fetched.insert((), idp.clone());
                Ok(idp)
            }
            Err(e) => {
                if !force {
                    self.failed.insert((), e.clone());
                }
                Err(self.err(UpstreamErrorKind::Unavailable, format!("metadata: {e}")))
            }
        }
    }

    /// The metadata fetched, or the failure remembered.
    fn cached(&self) -> Option<Result<Arc<Idp>, UpstreamError>> {
        if let Some(idp) = self.fetched.get(&()) {
            return Some(Ok(idp));
        }
        let e = self.failed.get(&())?;
        Some(Err(self.err(UpstreamErrorKind::Unavailable, format!("metadata: {e} (not fetched again yet)"))))
    }

    /// The HTTP-Redirect URL of the AuthnRequest (samael builds and deflates it; the ID is ours, [SA-4]).
    fn authn_url(&self, idp: &Idp, sp: &Sp, req: &LoginRequest<'_>) -> Result<String, String> {
        let builder = ServiceProviderBuilder::default()
            .entity_id(Some(sp.entity_id.clone()))
            .acs_url(Some(sp.acs_url.clone()))
            .authn_name_id_format(Some(bridgekeeper_core::saml::NAMEID_PERSISTENT.to_string()))
            .force_authn(req.freshness.prompt_login)
            .build()
            .map_err(|e| e.to_string())?;
        let mut authn = builder.make_authentication_request(&idp.sso_url).map_err(|e| e.to_string())?;
        authn.id = bridgekeeper_core::saml::request_id(req.nonce);
        let url = authn.redirect(req.state).map_err(|e| e.to_string())?;
        url.map(String::from).ok_or_else(|| "no SSO URL".to_string())
    }
}

impl CallbackConnector for Saml {
    fn begin<'a>(
        &'a self,
        http: &'a UpstreamHttp,
        req: &'a LoginRequest<'a>,
    ) -> Fut<'a, Result<String, UpstreamError>> {
        Box::pin(async move {
            let idp = self.idp(http, false).await?;
            let sp = Sp::of(&self.cfg, req.issuer);
            self.authn_url(&idp, &sp, req).map_err(|e| self.err(UpstreamErrorKind::Unavailable, e))
        })
    }

    /// `cb.code` is the `SAMLResponse`, `cb.nonce` the pending login's nonce (its request ID).
    fn finish<'a>(
        &'a self,
        http: &'a UpstreamHttp,
        cb: &'a Callback<'a>,
    ) -> Fut<'a, Result<FederatedIdentity, UpstreamError>> {
        Box::pin(async move {
            let idp = self.idp(http, false).await?;
            let pinned = self.pinned()?.to_vec();
            let (cfg, sp) = (self.cfg.clone(), Sp::of(&self.cfg, cb.issuer));
            let (response, request_id, now) =
                (cb.code.to_string(), bridgekeeper_core::saml::request_id(cb.nonce), cb.now);
            let checked = tokio::task::spawn_blocking(move || {
                verify::verify(&verify::Answer {
                    cfg: &cfg,
                    idp: &idp,
                    pinned_der: &pinned,
                    sp: &sp,
                    saml_response: &response,
                    request_id: &request_id,
                    now,
                })
            })
            .await
            .map_err(|e| self.err(UpstreamErrorKind::Unavailable, e.to_string()))?;
            checked.map_err(|(reason, e)| self.err(UpstreamErrorKind::Rejected, e).because(reason))
        })
    }
}

impl HealthCheck for Saml {
    /// Fetches the metadata now (`idp_metadata_url`); a metadata file was checked at load.
    fn check<'a>(&'a self, http: &'a UpstreamHttp) -> Fut<'a, Result<(), UpstreamError>> {
        Box::pin(async move { self.idp(http, true).await.map(|_| ()) })
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }
}
