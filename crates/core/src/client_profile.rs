//! [FA-1]..[FA-5] Client profiles: the one place that says what a client registered with `profile = "fapi2"`
//! (FAPI 2.0 Security Profile, final) must be, and what its requests must be. The server asks these functions
//! wherever a client is defined (the `[[clients]]` file, the admin API, dynamic registration and its RFC 7592
//! PUT) and at run time (`/par`, `/authorize`, `/token`); nothing else knows what "fapi2" means.

use std::fmt;

/// The wire name of the FAPI 2.0 profile (`profile = "fapi2"`).
pub const FAPI2: &str = "fapi2";
/// [FA-4] FAPI 2.0 SP §5.3.2.1: authorization codes live at most 60 seconds.
pub const FAPI2_MAX_CODE_TTL_SECS: i64 = 60;
/// [FA-6] FAPI 2.0 SP §5.4.1: the only JWS algorithms of a fapi2 client's assertions and proofs, and of the
/// tokens it is given.
pub const FAPI2_ALGS: &[&str] = &["PS256", "ES256", "EdDSA"];
/// [FA-1] The only grant types a fapi2 client may hold.
pub const FAPI2_GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token"];

/// A client's profile: what it must be and what its requests must be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Profile {
    /// The broker's ordinary rules (each client's own flags).
    #[default]
    Default,
    /// FAPI 2.0 Security Profile: PAR, PKCE S256, DPoP-bound tokens, `private_key_jwt`, no rotation.
    Fapi2,
}

impl Profile {
    /// [FA-1] `None` or `""` is the default profile; `fapi2`; anything else is refused by name.
    pub fn parse(s: Option<&str>) -> Result<Profile, Fapi2Violation> {
        match s {
            None | Some("") => Ok(Profile::Default),
            Some(FAPI2) => Ok(Profile::Fapi2),
            Some(other) => Err(Fapi2Violation::UnknownProfile(other.into())),
        }
    }

    /// A stored value: an unknown one (never stored by this server) is read as the strictest profile.
    pub fn from_stored(s: Option<&str>) -> Profile {
        Profile::parse(s).unwrap_or(Profile::Fapi2)
    }

    /// The wire name, `None` for the default profile.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Profile::Default => None,
            Profile::Fapi2 => Some(FAPI2),
        }
    }

    /// [FA-2] Plain authorization requests are refused: the client pushes them (RFC 9126 §6).
    pub fn requires_par(self) -> bool {
        self == Profile::Fapi2
    }

    /// [FA-2] Every authorization request carries an S256 PKCE challenge.
    pub fn requires_pkce(self) -> bool {
        self == Profile::Fapi2
    }

    /// [FA-3] Every token request carries a DPoP proof: every token is sender-constrained.
    pub fn requires_dpop(self) -> bool {
        self == Profile::Fapi2
    }

    /// [FA-5] Are refresh tokens rotated at each use? FAPI 2.0 SP §5.3.2.1: not for fapi2 clients — the same
    /// token stays valid, bound to the client and its DPoP key instead ([`Profile::binds_refresh_to_dpop_key`]).
    pub fn rotates_refresh_tokens(self) -> bool {
        self != Profile::Fapi2
    }

    /// [FA-5] Are refresh tokens bound to the DPoP key of the token request that issued them (as a public
    /// client's are, [DP-4])? For a fapi2 client, whose tokens are not rotated.
    pub fn binds_refresh_to_dpop_key(self) -> bool {
        self == Profile::Fapi2
    }

    /// [FA-6] May a client assertion or DPoP proof of this client be signed with `alg`?
    pub fn alg_allowed(self, alg: &str) -> bool {
        self != Profile::Fapi2 || FAPI2_ALGS.contains(&alg)
    }

    /// [FA-2] FAPI 2.0 SP §5.3.2.2: a pushed request names its `redirect_uri` (never the one registered by default).
    pub fn requires_redirect_uri_in_push(self) -> bool {
        self == Profile::Fapi2
    }

    /// [FA-4] The lifetime of an authorization code: the configured one, at most 60 s for a fapi2 client.
    pub fn code_ttl(self, configured_secs: i64) -> i64 {
        match self {
            Profile::Default => configured_secs,
            Profile::Fapi2 => configured_secs.min(FAPI2_MAX_CODE_TTL_SECS),
        }
    }
}

/// What a client is, as far as its profile cares.
#[derive(Debug, Clone, Copy)]
pub struct ClientFacts<'a> {
    pub token_endpoint_auth_method: &'a str,
    /// It has a client secret (a confidential secret client).
    pub has_secret: bool,
    pub grant_types: &'a [String],
    /// `[par] enabled` and `[dpop] enabled`: the profile cannot be met without them.
    pub par_enabled: bool,
    pub dpop_enabled: bool,
    /// [FA-6] The algorithms the server signs ID tokens and access tokens with.
    pub token_algs: [&'a str; 2],
}

/// Why a client does not meet its profile (named, so every place that defines a client refuses it alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fapi2Violation {
    UnknownProfile(String),
    /// FAPI 2.0 SP §5.3.2.1: only `private_key_jwt` (or mTLS, not offered) authenticates a client.
    AuthMethod(String),
    /// No `client_secret_*`: a fapi2 client has no secret.
    Secret,
    /// Only the authorization code grant and refresh tokens.
    GrantType(String),
    NoCodeFlow,
    ParDisabled,
    DpopDisabled,
    /// [FA-6] The server signs tokens with an algorithm FAPI 2.0 does not allow.
    SigningAlg(String),
    /// [FA-1] A change that would make a fapi2 client something weaker.
    Weakened(&'static str),
}

impl fmt::Display for Fapi2Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownProfile(p) => write!(f, "profile `{p}` is unknown (the only profile is fapi2)"),
            Self::AuthMethod(m) => {
                write!(f, "fapi2 profile: token_endpoint_auth_method must be private_key_jwt, not `{m}`")
            }
            Self::Secret => write!(f, "fapi2 profile: the client has no client secret"),
            Self::GrantType(g) => {
                write!(f, "fapi2 profile: grant type `{g}` is not allowed (authorization_code, refresh_token)")
            }
            Self::NoCodeFlow => write!(f, "fapi2 profile: the client needs the authorization_code grant"),
            Self::ParDisabled => write!(f, "fapi2 profile: needs par.enabled = true"),
            Self::DpopDisabled => write!(f, "fapi2 profile: needs dpop.enabled = true"),
            Self::SigningAlg(a) => {
                write!(f, "fapi2 profile: tokens are signed with {a}; FAPI 2.0 allows PS256, ES256 and EdDSA")
            }
            Self::Weakened(what) => write!(f, "fapi2 profile: {what}"),
        }
    }
}

/// [FA-1] Does a client meet its profile? The default profile asks nothing more than the broker's own rules.
pub fn check_client(profile: Profile, c: &ClientFacts<'_>) -> Result<(), Fapi2Violation> {
    if profile != Profile::Fapi2 {
        return Ok(());
    }
    if c.token_endpoint_auth_method != "private_key_jwt" {
        return Err(Fapi2Violation::AuthMethod(c.token_endpoint_auth_method.into()));
    }
    if c.has_secret {
        return Err(Fapi2Violation::Secret);
    }
    if let Some(g) = c.grant_types.iter().find(|g| !FAPI2_GRANT_TYPES.contains(&g.as_str())) {
        return Err(Fapi2Violation::GrantType(g.clone()));
    }
    if !c.grant_types.iter().any(|g| g == "authorization_code") {
        return Err(Fapi2Violation::NoCodeFlow);
    }
    if !c.par_enabled {
        return Err(Fapi2Violation::ParDisabled);
    }
    if !c.dpop_enabled {
        return Err(Fapi2Violation::DpopDisabled);
    }
    if let Some(a) = c.token_algs.iter().find(|a| !FAPI2_ALGS.contains(a)) {
        return Err(Fapi2Violation::SigningAlg(a.to_string()));
    }
    Ok(())
}

/// [FA-1] A change of a client (admin API PATCH, RFC 7592 PUT) from `current` to `next` with the PAR and DPoP
/// flags it asks for: a fapi2 client stays fapi2, and turning off what the profile requires is refused by name
/// rather than ignored.
pub fn check_change(
    current: Profile,
    next: Profile,
    par: Option<bool>,
    dpop: Option<bool>,
) -> Result<(), Fapi2Violation> {
    if current != Profile::Fapi2 {
        return Ok(());
    }
    if next != Profile::Fapi2 {
        return Err(Fapi2Violation::Weakened("the profile of a fapi2 client cannot be removed"));
    }
    if par == Some(false) {
        return Err(Fapi2Violation::Weakened("a fapi2 client must push its authorization requests"));
    }
    if dpop == Some(false) {
        return Err(Fapi2Violation::Weakened("a fapi2 client's tokens are DPoP-bound"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    fn facts<'a>(method: &'a str, grant_types: &'a [String]) -> ClientFacts<'a> {
        ClientFacts {
            token_endpoint_auth_method: method,
            has_secret: false,
            grant_types,
            par_enabled: true,
            dpop_enabled: true,
            token_algs: ["ES256", "EdDSA"],
        }
    }

    #[test]
    fn fa_1_a_fapi2_client_is_a_private_key_jwt_code_flow_client_and_nothing_else() {
        let code = grants(&["authorization_code", "refresh_token"]);
        assert_eq!(check_client(Profile::Fapi2, &facts("private_key_jwt", &code)), Ok(()));
        for m in ["client_secret_basic", "client_secret_post", "client_secret_basic_or_post", "none"] {
            let e = check_client(Profile::Fapi2, &facts(m, &code)).unwrap_err();
            assert_eq!(e, Fapi2Violation::AuthMethod(m.into()));
            assert!(e.to_string().starts_with("fapi2 profile: "), "{e}");
            assert_eq!(check_client(Profile::Default, &facts(m, &code)), Ok(()), "the default profile");
        }
        let secret = ClientFacts { has_secret: true, ..facts("private_key_jwt", &code) };
        assert_eq!(check_client(Profile::Fapi2, &secret), Err(Fapi2Violation::Secret));
        for g in ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"] {
            let more = grants(&["authorization_code", g]);
            assert_eq!(
                check_client(Profile::Fapi2, &facts("private_key_jwt", &more)),
                Err(Fapi2Violation::GrantType(g.into()))
            );
        }
        let refresh_only = grants(&["refresh_token"]);
        assert_eq!(
            check_client(Profile::Fapi2, &facts("private_key_jwt", &refresh_only)),
            Err(Fapi2Violation::NoCodeFlow)
        );
        let off = ClientFacts { par_enabled: false, ..facts("private_key_jwt", &code) };
        assert_eq!(check_client(Profile::Fapi2, &off), Err(Fapi2Violation::ParDisabled));
        let off = ClientFacts { dpop_enabled: false, ..facts("private_key_jwt", &code) };
        assert_eq!(check_client(Profile::Fapi2, &off), Err(Fapi2Violation::DpopDisabled));
        let rsa = ClientFacts { token_algs: ["RS256", "ES256"], ..facts("private_key_jwt", &code) };
        assert_eq!(check_client(Profile::Fapi2, &rsa), Err(Fapi2Violation::SigningAlg("RS256".into())));
    }

    #[test]
    fn fa_6_a_fapi2_client_signs_with_ps256_es256_or_eddsa_only() {
        for a in ["PS256", "ES256", "EdDSA"] {
            assert!(Profile::Fapi2.alg_allowed(a));
        }
        for a in ["RS256", "RS384", "ES384", "HS256", "none"] {
            assert!(!Profile::Fapi2.alg_allowed(a), "{a}");
        }
        assert!(Profile::Default.alg_allowed("RS256"));
    }

    #[test]
    fn fa_1_profiles_parse_by_name_and_a_stored_unknown_one_is_the_strictest() {
        assert_eq!(Profile::parse(None), Ok(Profile::Default));
        assert_eq!(Profile::parse(Some("")), Ok(Profile::Default));
        assert_eq!(Profile::parse(Some("fapi2")), Ok(Profile::Fapi2));
        assert_eq!(Profile::parse(Some("FAPI2")), Err(Fapi2Violation::UnknownProfile("FAPI2".into())));
        assert_eq!(Profile::from_stored(Some("fapi3")), Profile::Fapi2);
        assert_eq!(Profile::Fapi2.as_str(), Some("fapi2"));
        assert_eq!(Profile::Default.as_str(), None);
    }

    #[test]
    fn fa_1_a_fapi2_client_cannot_be_changed_into_something_weaker() {
        assert!(check_change(Profile::Fapi2, Profile::Fapi2, None, None).is_ok());
        assert!(check_change(Profile::Fapi2, Profile::Fapi2, Some(true), Some(true)).is_ok());
        assert!(check_change(Profile::Fapi2, Profile::Default, None, None).is_err());
        assert!(check_change(Profile::Fapi2, Profile::Fapi2, Some(false), None).is_err());
        assert!(check_change(Profile::Fapi2, Profile::Fapi2, None, Some(false)).is_err());
        assert!(check_change(Profile::Default, Profile::Fapi2, None, None).is_ok(), "upgrading is a new check");
        assert!(check_change(Profile::Default, Profile::Default, Some(false), Some(false)).is_ok());
    }

    #[test]
    fn fa_2_3_5_what_a_fapi2_clients_requests_must_be() {
        let f = Profile::Fapi2;
        assert!(f.requires_par() && f.requires_pkce() && f.requires_dpop());
        assert!(!f.rotates_refresh_tokens() && f.binds_refresh_to_dpop_key());
        let d = Profile::Default;
        assert!(!d.requires_par() && !d.requires_pkce() && !d.requires_dpop());
        assert!(d.rotates_refresh_tokens() && !d.binds_refresh_to_dpop_key());
    }

    #[test]
    fn fa_4_a_fapi2_code_lives_at_most_sixty_seconds() {
        assert_eq!(Profile::Fapi2.code_ttl(30), 30);
        assert_eq!(Profile::Fapi2.code_ttl(60), 60);
        assert_eq!(Profile::Fapi2.code_ttl(600), 60);
        assert_eq!(Profile::Default.code_ttl(600), 600);
    }
}
