//! `kind = "oidc"`: discovery (cached), authorization with state + nonce + PKCE S256, code exchange, ID token
//! verification (signature, iss, aud, azp, exp, nonce, at_hash), RFC 9207 `iss` check, userinfo merge.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::FederatedIdentity;
use super::LoginRequest;
use super::config::ProviderConfig;
use super::connector::{Callback, CallbackConnector, Fut, HealthCheck, RefreshConnector};
use super::http::UpstreamHttp;
use super::mapping::identity_from_json;
use super::rejection::Rejection;
use super::{UpstreamError, UpstreamErrorKind};

/// The discovery members we read beyond the core set.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ExtraMetadata {
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// RP-Initiated Logout 1.0 ([UL-5]).
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}
impl openidconnect::AdditionalProviderMetadata for ExtraMetadata {}

pub type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// How long discovery and JWKS are trusted before being fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// A JWKS refetch on an unknown key happens at most this often.
pub(super) const REFETCH_MIN_AGE: Duration = Duration::from_secs(30);

pub(super) struct Discovered {
    pub(super) meta: Metadata,
    pub(super) fetched: Instant,
    /// [MS-3] Multi-tenant: the keys whose JWK names the issuer they sign for (empty otherwise).
    pub(super) key_issuers: super::tenants::KeyIssuers,
}

pub struct Oidc {
    pub(super) cfg: Arc<ProviderConfig>,
    cache: moka::sync::Cache<(), Arc<Discovered>>,
    /// Did the last discovery attempt fail? (Shown on the login page; the next login retries.)
    down: std::sync::atomic::AtomicBool,
    /// [UL-9] When (app clock) keys were last fetched again because none verified a logout token; held while
    /// fetching, so one fetch runs at a time.
    refetch: tokio::sync::Mutex<Option<i64>>,
    /// [MS-1] The admitted tenants, for a Microsoft multi-tenant (`{tenantid}`) issuer.
    tenants: Option<bridgekeeper_core::tenants::Tenants>,
    /// [AP-6] `kind = "apple"`: the signer of the client secret (or why the key did not load).
    apple: Option<Result<super::apple::ClientSecretSigner, String>>,
}

impl Oidc {
    pub fn new(cfg: Arc<ProviderConfig>) -> Self {
        let tenants =
            (!cfg.tenants.is_empty()).then(|| bridgekeeper_core::tenants::Tenants::parse(&cfg.tenants).ok()).flatten();
        let apple =
            (cfg.kind == super::config::ProviderKind::Apple).then(|| super::apple::ClientSecretSigner::new(&cfg));
        Oidc {
            apple,
            tenants,
            cfg,
            cache: moka::sync::Cache::builder().max_capacity(1).time_to_live(DISCOVERY_TTL).build(),
            down: std::sync::atomic::AtomicBool::new(false),
            refetch: tokio::sync::Mutex::new(None),
        }
    }

    fn err(&self, kind: UpstreamErrorKind, detail: impl Into<String>) -> UpstreamError {
        UpstreamError::new(&self.cfg.id, kind, detail)
    }

    pub(super) async fn discovered(&self, http: &UpstreamHttp, force: bool) -> Result<Arc<Discovered>, UpstreamError> {
        if !force && let Some(d) = self.cache.get(&()) {
            return Ok(d);
        }
        let issuer = self.cfg.issuer.clone().unwrap_or_default();
        let meta = match &self.tenants {
            Some(t) => super::tenants::discover(&issuer, t, http).await,
            None => {
                let issuer =
                    IssuerUrl::new(issuer).map_err(|e| self.err(UpstreamErrorKind::Unavailable, e.to_string()))?;
                Metadata::discover_async(issuer, http).await.map(|m| (m, vec![])).map_err(|e| e.to_string())
            }
        };
        self.down.store(meta.is_err(), std::sync::atomic::Ordering::Relaxed);
        let (meta, key_issuers) =
            meta.map_err(|e| self.err(UpstreamErrorKind::Unavailable, format!("discovery failed: {e}")))?;
        let d = Arc::new(Discovered { meta, fetched: Instant::now(), key_issuers });
        self.cache.insert((), d.clone());
        Ok(d)
    }

    /// [UL-9] Fetches the keys again because none of `seen` verified a logout token at `now`: single-flight (one
    /// fetch at a time per provider; whoever waited uses its result) and at most once per `REFETCH_MIN_AGE` of the
    /// app clock, failed attempts included, so forged tokens cannot make the broker hammer the upstream.
    /// `Ok(None)`: not now.
    pub(super) async fn refetch_keys(
        &self,
        http: &UpstreamHttp,
        seen: &Arc<Discovered>,
        now: i64,
    ) -> Result<Option<Arc<Discovered>>, UpstreamError> {
        let mut last = self.refetch.lock().await;
        if let Some(d) = self.cache.get(&())
            && d.fetched > seen.fetched
        {
            return Ok(Some(d));
        }
        let min = REFETCH_MIN_AGE.as_secs() as i64;
        if last.is_some_and(|t| now.saturating_sub(t) < min) {
            return Ok(None);
        }
        *last = Some(now);
        self.discovered(http, true).await.map(Some)
    }

    /// Fetches discovery now (start-up warm-up and `providers check`).
    async fn check(&self, http: &UpstreamHttp) -> Result<(), UpstreamError> {
        let http = &http.for_provider(&self.cfg.id);
        self.discovered(http, true).await.map(|_| ())
    }

    fn client(
        &self,
        meta: &Metadata,
        redirect: &str,
        now: Option<i64>,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        UpstreamError,
    > {
        let redirect = RedirectUrl::new(redirect.to_string())
            .map_err(|e| self.err(UpstreamErrorKind::Unavailable, e.to_string()))?;
        let mut secret = self.cfg.client_secret.as_ref().map(|s| ClientSecret::new(s.expose().to_string()));
        // `now` is None for the authorization URL, which needs no secret.
        if let (Some(signer), Some(now)) = (&self.apple, now) {
            // [AP-6] Apple: an ES256 client secret, sent in the body (its only token endpoint auth method).
            let signed = signer.as_ref().map_err(|e| self.err(UpstreamErrorKind::Unavailable, e.clone()))?.secret(now);
            let signed = signed.map_err(|e| self.err(UpstreamErrorKind::Unavailable, e))?;
            secret = Some(ClientSecret::new(signed.expose().to_string()));
        }
        let client =
            CoreClient::from_provider_metadata(meta.clone(), ClientId::new(self.cfg.client_id.clone()), secret)
                .set_redirect_uri(redirect);
        Ok(if self.apple.is_some() { client.set_auth_type(openidconnect::AuthType::RequestBody) } else { client })
    }

    async fn begin(&self, http: &UpstreamHttp, login: &super::LoginRequest<'_>) -> Result<String, UpstreamError> {
        let http = &http.for_provider(&self.cfg.id);
        let d = self.discovered(http, false).await?;
        let client = self.client(&d.meta, login.redirect, None)?;
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(login.verifier.to_string()));
        let (st, n) = (login.state.to_string(), login.nonce.to_string());
        let mut req = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, move || CsrfToken::new(st), move || Nonce::new(n))
            .set_pkce_challenge(challenge);
        for s in login.scopes.iter().filter(|s| s.as_str() != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        // A fresh login asked downstream must be a fresh login upstream.
        if login.freshness.prompt_login {
            req = req.add_prompt(openidconnect::core::CoreAuthPrompt::Login);
        }
        if let Some(m) = login.freshness.max_age {
            req = req.set_max_age(std::time::Duration::from_secs(m as u64));
        }
        if self.apple.is_some() {
            // [AP-2] Apple answers by POST (it must when the scopes include name or email).
            req = req.add_extra_param("response_mode", "form_post");
        }
        let (url, _, _) = req.url();
        Ok(url.to_string())
    }

    /// Verifies everything the upstream sent before believing any of it.
    async fn finish(&self, http: &UpstreamHttp, cb: &Callback<'_>) -> Result<FederatedIdentity, UpstreamError> {
        let http = &http.for_provider(&self.cfg.id);
        let Callback { redirect, code, iss, nonce, verifier, now, form_user, .. } = *cb;
        let rejected = |d: String| self.err(UpstreamErrorKind::Rejected, d);
        let refused = |(why, d): (Rejection, String)| rejected(d).because(why);
        let d = self.discovered(http, false).await?;
        let issuer = d.meta.issuer().as_str().to_string();
        // RFC 9207: when the upstream says it sends `iss`, it must be there and match; when present, it must match.
        // [MS-3] A multi-tenant `iss` must name an admitted tenant now, and the token's own issuer below.
        let advertised = d.meta.additional_metadata().authorization_response_iss_parameter_supported == Some(true);
        let tenant_iss_ok = |t| bridgekeeper_core::tenants::iss_param_admissible(&issuer, t, iss, advertised);
        match iss {
            _ if self.tenants.as_ref().is_some_and(tenant_iss_ok) => {}
            _ if self.tenants.is_some() => {
                return Err(refused((Rejection::Tenant, "authorization response iss names no admitted tenant".into())));
            }
            Some(i) if i != issuer => {
                return Err(refused((
                    Rejection::Issuer,
                    "authorization response iss does not match the issuer".into(),
                )));
            }
            None if advertised => return Err(refused((Rejection::Issuer, "authorization response lacks iss".into()))),
            _ => {}
        }
        let client = self.client(&d.meta, redirect, Some(now))?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| rejected(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(http)
            .await
            .map_err(|e| match &e {
                // [MT-4] The upstream refused the code (or the PKCE verifier): a rejected answer, not an outage.
                openidconnect::RequestTokenError::ServerResponse(r)
                    if *r.error() == openidconnect::core::CoreErrorResponseType::InvalidGrant =>
                {
                    rejected(format!("code exchange refused: {e}")).because(Rejection::Code)
                }
                _ => self.err(UpstreamErrorKind::Unavailable, format!("code exchange failed: {e}")),
            })?;
        let id_token = token.id_token().ok_or_else(|| rejected("no id_token in the token response".into()))?;
        let at = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
        let verify =
            |client: &CoreClient<_, _, _, _, _, _>, d: &Discovered| -> Result<serde_json::Value, (Rejection, String)> {
                let other = |e: String| (Rejection::Other, e);
                let sig = |e: openidconnect::SignatureVerificationError| (Rejection::Signature, e.to_string());
                // [MS-3] A multi-tenant token's iss names its tenant: checked by `tenants::subject_of` instead.
                let verifier =
                    client.id_token_verifier().set_time_fn(move || at).require_issuer_match(self.tenants.is_none());
                let claims = id_token
                    .claims(&verifier, &Nonce::new(nonce.to_string()))
                    .map_err(|e| (Rejection::of_claims(&e), e.to_string()))?;
                if let Some(azp) = claims.authorized_party()
                    && azp.as_str() != self.cfg.client_id
                {
                    return Err((Rejection::Audience, "azp is not our client id".into()));
                }
                if let Some(expected) = claims.access_token_hash() {
                    let alg = id_token.signing_alg().map_err(sig)?;
                    let key = id_token.signing_key(&verifier).map_err(sig)?;
                    let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                        .map_err(|e| other(e.to_string()))?;
                    if &actual != expected {
                        return Err((Rejection::AtHash, "at_hash does not match the access token".into()));
                    }
                }
                let doc = payload(&id_token.to_string()).ok_or_else(|| other("unreadable id_token payload".into()))?;
                if self.tenants.is_some() {
                    let key = id_token.signing_key(&verifier).map_err(sig)?;
                    super::tenants::check_signing_key(&d.key_issuers, key, &doc).map_err(|e| (Rejection::Tenant, e))?;
                }
                Ok(doc)
            };
        let mut doc = match verify(&client, &d) {
            Ok(doc) => doc,
            // The upstream may have rotated its keys: fetch JWKS again (not more often than REFETCH_MIN_AGE).
            Err(e) if d.fetched.elapsed() >= REFETCH_MIN_AGE => {
                let fresh = self.discovered(http, true).await?;
                verify(&self.client(&fresh.meta, redirect, Some(now))?, &fresh)
                    .map_err(|_| refused((e.0, format!("id_token rejected: {}", e.1))))?
            }
            Err((why, e)) => return Err(refused((why, format!("id_token rejected: {e}")))),
        };
        let subject = doc.get("sub").and_then(|s| s.as_str()).unwrap_or_default().to_string();
        // [MS-1] From the verified ID token alone (before userinfo adds anything).
        let tenant_subject = match &self.tenants {
            Some(t) => {
                Some(super::tenants::subject_of(&issuer, t, iss, &doc).map_err(|e| refused((Rejection::Tenant, e)))?)
            }
            None => None,
        };
        if let Some(ui) = d.meta.userinfo_endpoint() {
            let info = http
                .get_json(ui.as_str(), Some(token.access_token().secret()))
                .await
                .map_err(|e| self.err(UpstreamErrorKind::Unavailable, format!("userinfo failed: {e}")))?;
            // OIDC Core §5.3.4: the userinfo sub must be the ID token's.
            if info.get("sub").and_then(|s| s.as_str()) != Some(subject.as_str()) {
                return Err(refused((Rejection::Subject, "userinfo sub differs from the id_token sub".into())));
            }
            if let (Some(base), Some(extra)) = (doc.as_object_mut(), info.as_object()) {
                for (k, v) in extra {
                    base.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        let mut ident = identity_from_json(&self.cfg, &issuer, &doc).ok_or_else(|| rejected("no subject".into()))?;
        if let Some(s) = tenant_subject {
            ident.subject = s;
        }
        // [AP-1] Apple's first-sign-in `user` JSON gives the name (only that), believed now that the ID token of
        // the same answer verified, and only for a new identity; its email is never read (the ID token's is).
        if self.apple.is_some() {
            ident.name = form_user.and_then(bridgekeeper_core::apple::name_from_user_json);
            ident.name_first_sign_in_only = true;
        }
        ident.auth_time = doc.get("auth_time").and_then(|t| t.as_i64());
        ident.upstream_sub = Some(subject);
        ident.upstream_sid = doc.get("sid").and_then(|s| s.as_str()).map(String::from);
        ident.upstream_id_token = Some(crate::secret::Secret::new(id_token.to_string()));
        ident.upstream_refresh_token = token.refresh_token().map(|r| crate::secret::Secret::new(r.secret().clone()));
        ident.upstream_tokens = Some(super::UpstreamTokens::of(&token));
        Ok(ident)
    }

    /// [TX-2] Uses the upstream refresh token; `invalid_grant` is `Rejected`, anything else that fails `Unavailable`.
    async fn refresh_tokens(&self, http: &UpstreamHttp, token: &str) -> Result<super::UpstreamTokens, UpstreamError> {
        let http = &http.for_provider(&self.cfg.id);
        let d = self.discovered(http, false).await?;
        let redirect = format!("{}/unused", d.meta.issuer().as_str());
        // The client secret (Apple's) is checked against real time at the upstream: the system clock signs it.
        let client = self.client(&d.meta, &redirect, Some(crate::clock::Clock::System.now()))?;
        let rt = openidconnect::RefreshToken::new(token.to_string());
        let req =
            client.exchange_refresh_token(&rt).map_err(|e| self.err(UpstreamErrorKind::Unavailable, e.to_string()))?;
        match req.request_async(http).await {
            Ok(t) => Ok(super::UpstreamTokens::of(&t)),
            Err(openidconnect::RequestTokenError::ServerResponse(e)) => {
                let code = e.error().to_string();
                let kind =
                    if code == "invalid_grant" { UpstreamErrorKind::Rejected } else { UpstreamErrorKind::Unavailable };
                Err(self.err(kind, format!("upstream refused the refresh: {code}")))
            }
            Err(e) => Err(self.err(UpstreamErrorKind::Unavailable, format!("upstream refresh failed: {e}"))),
        }
    }
}

impl CallbackConnector for Oidc {
    fn begin<'a>(
        &'a self,
        http: &'a UpstreamHttp,
        req: &'a LoginRequest<'a>,
    ) -> Fut<'a, Result<String, UpstreamError>> {
        Box::pin(Oidc::begin(self, http, req))
    }
    fn finish<'a>(
        &'a self,
        http: &'a UpstreamHttp,
        cb: &'a Callback<'a>,
    ) -> Fut<'a, Result<FederatedIdentity, UpstreamError>> {
        Box::pin(Oidc::finish(self, http, cb))
    }
}

impl RefreshConnector for Oidc {
    fn refresh_tokens<'a>(
        &'a self,
        http: &'a UpstreamHttp,
        token: &'a str,
    ) -> Fut<'a, Result<super::UpstreamTokens, UpstreamError>> {
        Box::pin(Oidc::refresh_tokens(self, http, token))
    }
}

impl HealthCheck for Oidc {
    fn check<'a>(&'a self, http: &'a UpstreamHttp) -> Fut<'a, Result<(), UpstreamError>> {
        Box::pin(Oidc::check(self, http))
    }
    /// Did the last discovery attempt fail? (Shown on the login page; the next login retries.)
    fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The (already verified) JWT payload as JSON, to read claims beyond the core set (e.g. `groups`).
fn payload(jwt: &str) -> Option<serde_json::Value> {
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}
