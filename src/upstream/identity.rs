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
    /// [TB-1a] Set by the broker from the provider's config: the email is verified *and* trusted.
    pub email_trusted: bool,
    /// [TB-1c] Set by the broker: identified by (issuer, subject) rather than (provider, subject).
    pub keyed_by_issuer: bool,
}
