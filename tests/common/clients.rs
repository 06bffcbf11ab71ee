//! `[[clients]]` entries for tests, built from one base so a new client setting is added in one place.

use bridgekeeper::secret::Secret;
use bridgekeeper::settings::StaticClient;

/// Builds a `StaticClient`: confidential (a secret) or public, with the defaults of a config file entry.
#[derive(Debug, Clone)]
pub struct ClientBuilder(StaticClient);

impl ClientBuilder {
    fn base(client_id: &str, secret: Option<&str>) -> Self {
        ClientBuilder(StaticClient {
            client_id: client_id.into(),
            client_secret: secret.map(Secret::new),
            name: None,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            allowed_scopes: vec!["openid".into(), "profile".into(), "email".into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            skip_consent: false,
            require_pkce: false,
            token_endpoint_auth_method: None,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            jwks: None,
            require_pushed_authorization_requests: false,
            frontchannel_logout_uri: None,
            frontchannel_logout_session_required: false,
            dpop_bound_access_tokens: false,
            profile: None,
        })
    }

    /// A client with a secret.
    pub fn confidential(client_id: &str, secret: &str) -> Self {
        Self::base(client_id, Some(secret))
    }

    /// A client without a secret (PKCE required by the broker).
    pub fn public(client_id: &str) -> Self {
        Self::base(client_id, None)
    }

    pub fn name(mut self, name: &str) -> Self {
        self.0.name = Some(name.into());
        self
    }

    pub fn redirect(mut self, uri: &str) -> Self {
        self.0.redirect_uris.push(uri.into());
        self
    }

    pub fn post_logout(mut self, uri: &str) -> Self {
        self.0.post_logout_redirect_uris.push(uri.into());
        self
    }

    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.0.allowed_scopes = scopes.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn grants(mut self, grants: &[&str]) -> Self {
        self.0.grant_types = grants.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn skip_consent(mut self) -> Self {
        self.0.skip_consent = true;
        self
    }

    pub fn require_pkce(mut self) -> Self {
        self.0.require_pkce = true;
        self
    }

    pub fn auth_method(mut self, method: &str) -> Self {
        self.0.token_endpoint_auth_method = Some(method.into());
        self
    }

    /// OIDC Back-Channel Logout 1.0: where Logout Tokens go, and whether they must carry `sid`.
    pub fn backchannel_logout(mut self, uri: &str, session_required: bool) -> Self {
        self.0.backchannel_logout_uri = Some(uri.into());
        self.0.backchannel_logout_session_required = session_required;
        self
    }

    /// RFC 7523: no secret, authenticates with a JWT signed by one of these keys (a JWK Set as JSON text).
    pub fn private_key_jwt(client_id: &str, jwks: &str) -> Self {
        let mut b = Self::base(client_id, None);
        b.0.token_endpoint_auth_method = Some("private_key_jwt".into());
        b.0.jwks = Some(jwks.into());
        b
    }

    /// RFC 9126 §6: this client must push its authorization requests.
    pub fn require_par(mut self) -> Self {
        self.0.require_pushed_authorization_requests = true;
        self
    }

    /// OIDC Front-Channel Logout 1.0: the signed-out page's iframe address, and whether it gets `iss` and `sid`.
    pub fn frontchannel_logout(mut self, uri: &str, session_required: bool) -> Self {
        self.0.frontchannel_logout_uri = Some(uri.into());
        self.0.frontchannel_logout_session_required = session_required;
        self
    }

    /// RFC 9449 §5.2: every token request of this client must carry a DPoP proof.
    pub fn dpop_bound(mut self) -> Self {
        self.0.dpop_bound_access_tokens = true;
        self
    }

    /// A client profile (`fapi2`: FAPI 2.0 Security Profile).
    pub fn profile(mut self, profile: &str) -> Self {
        self.0.profile = Some(profile.into());
        self
    }

    pub fn build(self) -> StaticClient {
        self.0
    }
}
