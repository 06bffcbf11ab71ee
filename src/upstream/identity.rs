//! What every upstream kind produces: a verified federated identity.

/// What an upstream asserted about the person, after verification.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FederatedIdentity {
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    pub picture: Option<String>,
    pub groups: Vec<String>,
    /// When the upstream says the person authenticated (OIDC `auth_time`), if it says.
    pub auth_time: Option<i64>,
    /// [UL-4] The raw `sub` of the verified upstream ID token (which an upstream Logout Token names), whatever
    /// `claims.subject` maps `subject` from; `None` for kinds without ID tokens.
    #[serde(default)]
    pub upstream_sub: Option<String>,
    /// [UL-4] The upstream's session id (OIDC `sid`) of this sign-in, if it sent one.
    #[serde(default)]
    pub upstream_sid: Option<String>,
    /// [UL-5] The upstream ID token as received (kept, sealed, only for `logout_upstream = "always"`). Never
    /// serialised.
    #[serde(skip)]
    pub upstream_id_token: Option<crate::secret::Secret>,
    /// The upstream's refresh token, kept (sealed) only for `refresh_upstream = true` providers. Never serialised.
    #[serde(skip)]
    pub upstream_refresh_token: Option<crate::secret::Secret>,
    /// [TX-1] The token endpoint's answer at sign-in (kept, sealed, only for `store_tokens = true`). Never
    /// serialised.
    #[serde(skip)]
    pub upstream_tokens: Option<UpstreamTokens>,
    /// [SA-7] A SAML assertion's ID and until when it must be remembered (the broker refuses it a second time).
    #[serde(skip)]
    pub upstream_assertion: Option<(String, i64)>,
    /// [TB-1a] Set by the broker from the provider's config: the email is verified *and* trusted.
    pub email_trusted: bool,
    /// [TB-1c] Set by the broker: identified by (issuer, subject) rather than (provider, subject).
    pub keyed_by_issuer: bool,
    /// [AP-1] `name` counts only when this identity is new (Apple's first-authorization `user` JSON): a later
    /// sign-in of a known identity never renames the account.
    #[serde(default)]
    pub name_first_sign_in_only: bool,
}

/// [TX-1] What an upstream token endpoint answered (at sign-in or refresh). The token values are secrets (their
/// `Debug` is redacted); never serialised.
#[derive(Debug, Clone)]
pub struct UpstreamTokens {
    pub access_token: crate::secret::Secret,
    /// As the upstream says (`bearer`, `Bearer`, …).
    pub token_type: String,
    pub expires_in: Option<i64>,
    /// Granted scopes, space-separated (GitHub's commas undone); `None` when the upstream did not say.
    pub scope: Option<String>,
    pub refresh_token: Option<crate::secret::Secret>,
}

impl UpstreamTokens {
    /// Reads any OAuth 2.0 token response (the `oauth2` and `openidconnect` crates share the trait).
    pub fn of<R: oauth2::TokenResponse>(t: &R) -> Self {
        let token_type = serde_json::to_value(t.token_type())
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_else(|| "Bearer".into());
        let scope = t.scopes().map(|list| {
            let mut all: Vec<String> = list
                .iter()
                .flat_map(|s| s.split(',').map(|p| p.trim().to_string()).collect::<Vec<_>>())
                .filter(|s| !s.is_empty())
                .collect();
            all.sort();
            all.dedup();
            all.join(" ")
        });
        UpstreamTokens {
            access_token: crate::secret::Secret::new(t.access_token().secret().clone()),
            token_type,
            expires_in: t.expires_in().map(|d| d.as_secs().min(i64::MAX as u64) as i64),
            scope,
            refresh_token: t.refresh_token().map(|r| crate::secret::Secret::new(r.secret().clone())),
        }
    }
}
