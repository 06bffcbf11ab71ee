//! `kind = "oauth2"` (any OAuth2 API + userinfo + claim mapping) and `kind = "github"` (the same with GitHub's
//! endpoints, its verified primary email from the emails API, and orgs as groups when `read:org` is granted).

use std::sync::Arc;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    Scope, TokenResponse, TokenUrl,
};
use serde_json::Value;

use super::FederatedIdentity;
use super::LoginRequest;
use super::config::{ProviderConfig, ProviderKind};
use super::connector::{Callback, CallbackConnector, Fut, RefreshConnector};
use super::http::UpstreamHttp;
use super::mapping::{identity_from_json, map_groups};
use super::{UpstreamError, UpstreamErrorKind};

const GITHUB_AUTHORIZE: &str = "https://github.com/login/oauth/authorize";
const GITHUB_TOKEN: &str = "https://github.com/login/oauth/access_token";
const GITHUB_USER: &str = "https://api.github.com/user";
const GITHUB_EMAILS: &str = "https://api.github.com/user/emails";
const GITHUB_ORGS: &str = "https://api.github.com/user/orgs";

pub struct OAuth2 {
    cfg: Arc<ProviderConfig>,
}

impl OAuth2 {
    pub fn new(cfg: Arc<ProviderConfig>) -> Self {
        OAuth2 { cfg }
    }

    fn github(&self) -> bool {
        self.cfg.kind == ProviderKind::Github
    }

    fn url<'a>(&'a self, v: &'a Option<String>, github_default: &'a str) -> &'a str {
        v.as_deref().unwrap_or(if self.github() { github_default } else { "" })
    }

    fn err(&self, kind: UpstreamErrorKind, detail: impl Into<String>) -> UpstreamError {
        UpstreamError::new(&self.cfg.id, kind, detail)
    }

    /// [TB-1c] The issuer we record for identities of this provider: a name of our own, so that an OAuth2
    /// identity (keyed by provider and subject) can never answer an OpenID Connect issuer's key.
    pub fn issuer(&self) -> String {
        oauth2_issuer(&self.cfg.id)
    }

    fn client(
        &self,
        redirect: &str,
    ) -> Result<
        BasicClient<
            oauth2::EndpointSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
        UpstreamError,
    > {
        let bad = |e: String| self.err(UpstreamErrorKind::Unavailable, e);
        let mut c = BasicClient::new(ClientId::new(self.cfg.client_id.clone()))
            .set_auth_uri(
                AuthUrl::new(self.url(&self.cfg.authorization_url, GITHUB_AUTHORIZE).to_string())
                    .map_err(|e| bad(e.to_string()))?,
            )
            .set_token_uri(
                TokenUrl::new(self.url(&self.cfg.token_url, GITHUB_TOKEN).to_string())
                    .map_err(|e| bad(e.to_string()))?,
            )
            .set_redirect_uri(RedirectUrl::new(redirect.to_string()).map_err(|e| bad(e.to_string()))?);
        if let Some(s) = &self.cfg.client_secret {
            c = c.set_client_secret(ClientSecret::new(s.expose().to_string()));
        }
        Ok(c)
    }

    fn begin(&self, login: &super::LoginRequest<'_>) -> Result<String, UpstreamError> {
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(login.verifier.to_string()));
        let st = login.state.to_string();
        let client = self.client(login.redirect)?;
        let mut req = client.authorize_url(move || CsrfToken::new(st)).set_pkce_challenge(challenge);
        for s in login.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        if login.freshness.prompt_login {
            // Not standard for plain OAuth2, but widely understood and harmlessly ignored elsewhere.
            req = req.add_extra_param("prompt", "login");
        }
        Ok(req.url().0.to_string())
    }

    /// Plain OAuth2 has no ID token, nonce or `iss`: the code exchange with PKCE and the userinfo answer are all
    /// there is to verify.
    async fn finish(&self, http: &UpstreamHttp, cb: &Callback<'_>) -> Result<FederatedIdentity, UpstreamError> {
        let http = &http.for_provider(&self.cfg.id);
        let Callback { redirect, code, verifier, .. } = *cb;
        let token = self
            .client(redirect)?
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(http)
            .await
            .map_err(|e| self.err(UpstreamErrorKind::Rejected, format!("code exchange failed: {e}")))?;
        let at = token.access_token().secret().clone();
        let unavailable = |e: super::http::HttpError| self.err(UpstreamErrorKind::Unavailable, e.to_string());
        let mut doc =
            http.get_json(self.url(&self.cfg.userinfo_url, GITHUB_USER), Some(&at)).await.map_err(unavailable)?;
        if self.github() {
            self.github_extras(http, &at, &token, &mut doc).await?;
        }
        let mut cfg = (*self.cfg).clone();
        if self.github() {
            let c = &mut cfg.claims;
            c.subject.get_or_insert_with(|| "/id".into());
            c.preferred_username.get_or_insert_with(|| "/login".into());
            c.picture.get_or_insert_with(|| "/avatar_url".into());
            c.email = Some("/verified_primary_email".into());
            c.email_verified = Some("/verified_primary_email_ok".into());
            c.groups = Some("/orgs".into());
        }
        let mut ident = identity_from_json(&cfg, &self.issuer(), &doc)
            .ok_or_else(|| self.err(UpstreamErrorKind::Rejected, "userinfo has no subject"))?;
        if self.github() {
            ident.groups = map_groups(&super::mapping::strings_at(&doc, Some("/orgs")), &self.cfg.group_rules);
        }
        ident.upstream_refresh_token = token.refresh_token().map(|r| crate::secret::Secret::new(r.secret().clone()));
        ident.upstream_tokens = Some(super::UpstreamTokens::of(&token));
        Ok(ident)
    }

    /// [TX-2] Uses the upstream refresh token; `invalid_grant` is `Rejected`, anything else that fails `Unavailable`.
    async fn refresh_tokens(&self, http: &UpstreamHttp, token: &str) -> Result<super::UpstreamTokens, UpstreamError> {
        let http = &http.for_provider(&self.cfg.id);
        let rt = oauth2::RefreshToken::new(token.to_string());
        match self.client("http://127.0.0.1/unused")?.exchange_refresh_token(&rt).request_async(http).await {
            Ok(t) => Ok(super::UpstreamTokens::of(&t)),
            Err(oauth2::RequestTokenError::ServerResponse(e)) => {
                let code = e.error().to_string();
                let kind =
                    if code == "invalid_grant" { UpstreamErrorKind::Rejected } else { UpstreamErrorKind::Unavailable };
                Err(self.err(kind, format!("upstream refused the refresh: {code}")))
            }
            Err(e) => Err(self.err(UpstreamErrorKind::Unavailable, format!("upstream refresh failed: {e}"))),
        }
    }

    /// GitHub: the verified primary address from the emails API (the profile email may be unverified or
    /// hidden), and organisation logins as upstream groups when `read:org` was granted.
    async fn github_extras(
        &self,
        http: &UpstreamHttp,
        at: &str,
        token: &oauth2::basic::BasicTokenResponse,
        doc: &mut Value,
    ) -> Result<(), UpstreamError> {
        let unavailable = |e: super::http::HttpError| self.err(UpstreamErrorKind::Unavailable, e.to_string());
        let emails =
            http.get_json(self.url(&self.cfg.emails_url, GITHUB_EMAILS), Some(at)).await.map_err(unavailable)?;
        let primary = emails.as_array().into_iter().flatten().find(|e| e["primary"] == true && e["verified"] == true);
        // GitHub lists granted scopes comma-separated in one `scope` string.
        let granted: Vec<String> = token
            .scopes()
            .map(|s| s.iter().flat_map(|x| x.split(',').map(|p| p.trim().to_string()).collect::<Vec<_>>()).collect())
            .unwrap_or_default();
        let asked_org = self.cfg.scopes.iter().chain(self.cfg.scope_map.values().flatten()).any(|s| s == "read:org");
        let orgs = if granted.iter().any(|s| s == "read:org") || (token.scopes().is_none() && asked_org) {
            let list = http
                .get_json(self.cfg.orgs_url.as_deref().unwrap_or(GITHUB_ORGS), Some(at))
                .await
                .map_err(unavailable)?;
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o["login"].as_str().map(String::from))
                .collect::<Vec<_>>()
        } else {
            Vec::new()
        };
        if let Some(map) = doc.as_object_mut() {
            if let Some(p) = primary.and_then(|p| p["email"].as_str()) {
                map.insert("verified_primary_email".into(), p.into());
                map.insert("verified_primary_email_ok".into(), true.into());
            }
            map.insert("orgs".into(), orgs.into());
        }
        Ok(())
    }
}

impl CallbackConnector for OAuth2 {
    fn begin<'a>(&'a self, _: &'a UpstreamHttp, req: &'a LoginRequest<'a>) -> Fut<'a, Result<String, UpstreamError>> {
        Box::pin(std::future::ready(OAuth2::begin(self, req)))
    }
    fn finish<'a>(
        &'a self,
        http: &'a UpstreamHttp,
        cb: &'a Callback<'a>,
    ) -> Fut<'a, Result<FederatedIdentity, UpstreamError>> {
        Box::pin(OAuth2::finish(self, http, cb))
    }
}

impl RefreshConnector for OAuth2 {
    fn refresh_tokens<'a>(
        &'a self,
        http: &'a UpstreamHttp,
        token: &'a str,
    ) -> Fut<'a, Result<super::UpstreamTokens, UpstreamError>> {
        Box::pin(OAuth2::refresh_tokens(self, http, token))
    }
}

/// [TB-1c] The issuer recorded for identities of OAuth2 (and GitHub) provider `id`.
pub fn oauth2_issuer(id: &str) -> String {
    format!("urn:bridgekeeper:oauth2:{id}")
}
