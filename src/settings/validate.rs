//! The checks of the settings that are lists of things an admin declares: `[[clients]]`, the developer portal's
//! scopes and the token-exchange delegation rules (the rest of `Settings::validate` is in `settings.rs`).

use super::*;

impl Settings {
    /// [TX-7] Every delegation rule names a client, at least one audience (never an upstream provider's) and scope.
    pub(super) fn validate_delegation(&self, err: &dyn Fn(&str, String) -> SettingsError) -> Result<(), SettingsError> {
        use bridgekeeper_core::token::token_exchange::PROVIDER_PREFIX;
        for r in &self.token_exchange.delegation {
            let bad = r.client.is_empty()
                || r.audiences.is_empty()
                || r.scopes.is_empty()
                || r.audiences.iter().chain(&r.known_as).any(|a| a.is_empty() || a.starts_with(PROVIDER_PREFIX));
            if bad {
                return Err(err(
                    "token_exchange.delegation",
                    format!(
                        "rule for `{}`: needs a client, audiences and scopes; no empty or provider audience",
                        r.client
                    ),
                ));
            }
        }
        Ok(())
    }

    /// [RI-1] `[[apis]]`: each API by the core's rules (identifier, scopes, lifetime, clients), identifiers unique
    /// and no scope owned twice; every error names `apis[i].key` and the identifier.
    pub(super) fn validate_apis(&self, err: &dyn Fn(&str, String) -> SettingsError) -> Result<(), SettingsError> {
        use bridgekeeper_core::resource;
        for (i, a) in self.apis.iter().enumerate() {
            resource::check_api(a, &self.issuer, &self.scopes)
                .map_err(|(key, why)| err(&format!("apis[{i}].{key}"), why))?;
        }
        resource::check_apis(&self.apis).map_err(|(i, key, why)| err(&format!("apis[{i}].{key}"), why))?;
        for r in &self.token_exchange.delegation {
            if let Some(id) =
                r.audiences.iter().chain(&r.known_as).find_map(|a| resource::spelled_like_an_api(a, &self.apis))
            {
                let why = format!(
                    "rule for `{}`: an audience is spelled like the API `{id}`; write it as the identifier",
                    r.client
                );
                return Err(err("token_exchange.delegation", why));
            }
        }
        Ok(())
    }

    /// [DP-1] [DP-3] `[dpop]`: asymmetric algorithms only, a sane window and nonce step; a client bound to DPoP
    /// needs DPoP on.
    pub(super) fn validate_dpop(&self, err: &dyn Fn(&str, String) -> SettingsError) -> Result<(), SettingsError> {
        let d = &self.dpop;
        if d.algs.is_empty() || d.algs.iter().any(|a| !bridgekeeper_core::dpop::alg_configurable(a)) {
            let known = bridgekeeper_core::dpop::SUPPORTED_ALGS.join(", ");
            return Err(err("dpop.algs", format!("must name one or more of {known} (never none or a MAC)")));
        }
        if !(5..=bridgekeeper_core::dpop::MAX_IAT_WINDOW_SECS).contains(&d.iat_window_secs) {
            return Err(err("dpop.iat_window_secs", "must be between 5 and 300".into()));
        }
        if !(10..=3600).contains(&d.nonce_step_secs) {
            return Err(err("dpop.nonce_step_secs", "must be between 10 and 3600".into()));
        }
        if let Some(c) = self.clients.iter().find(|c| c.dpop_bound_access_tokens && !d.enabled) {
            let key = format!("clients.{}.dpop_bound_access_tokens", c.client_id);
            return Err(err(&key, "needs dpop.enabled = true".into()));
        }
        Ok(())
    }

    /// [FA-1] A `[[clients]]` entry's `profile` is known and met (the rules every place that defines a client asks).
    fn validate_client_profile(
        &self,
        c: &super::StaticClient,
        key: &str,
        err: &dyn Fn(&str, String) -> SettingsError,
    ) -> Result<(), SettingsError> {
        use bridgekeeper_core::client_profile::{ClientFacts, Profile, check_client};
        let profile = Profile::parse(c.profile.as_deref()).map_err(|e| err(key, e.to_string()))?;
        let method = c.token_endpoint_auth_method.as_deref().unwrap_or(if c.client_secret.is_some() {
            crate::store::clients::BASIC_OR_POST
        } else {
            "none"
        });
        let facts = ClientFacts {
            token_endpoint_auth_method: method,
            has_secret: c.client_secret.is_some(),
            grant_types: &c.grant_types,
            par_enabled: self.par.enabled,
            dpop_enabled: self.dpop.enabled,
            token_algs: [self.tokens.id_token_alg().as_str(), self.tokens.access_token_alg().as_str()],
        };
        check_client(profile, &facts).map_err(|e| err(key, e.to_string()))
    }

    pub(super) fn validate_clients(&self, err: &dyn Fn(&str, String) -> SettingsError) -> Result<(), SettingsError> {
        for (i, c) in self.clients.iter().enumerate() {
            let key = |k: &str| format!("clients[{i}].{k}");
            if c.client_id.trim().is_empty() {
                return Err(err(&key("client_id"), "must not be empty".into()));
            }
            // [CL-1] A longer id could never be presented: requests naming it are refused before any lookup.
            if !bridgekeeper_core::client_id::may_name_a_client(&c.client_id) {
                let max = bridgekeeper_core::client_id::MAX_BYTES;
                return Err(err(&key("client_id"), format!("must be at most {max} bytes")));
            }
            for uri in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris) {
                bridgekeeper_core::redirect::validate_registered_uri(uri)
                    .map_err(|why| err(&key("redirect_uris"), format!("{uri}: {why}")))?;
            }
            for g in &c.grant_types {
                if !GRANT_TYPES.contains(&g.as_str()) {
                    return Err(err(&key("grant_types"), format!("unknown grant type `{g}`")));
                }
            }
            self.validate_client_profile(c, &key("profile"), err)?;
            let key_auth = c.token_endpoint_auth_method.as_deref() == Some(crate::store::clients::PRIVATE_KEY_JWT);
            if let Some(m) = &c.token_endpoint_auth_method {
                crate::store::clients::check_auth_method(c.client_secret.is_none() && !key_auth, m)
                    .map_err(|why| err(&key("token_endpoint_auth_method"), why))?;
            }
            // [PJ-1] A private_key_jwt client has its registered keys and no secret.
            match (key_auth, &c.jwks, &c.client_secret) {
                (true, _, Some(_)) => {
                    return Err(err(&key("client_secret"), "a private_key_jwt client has no client_secret".into()));
                }
                (true, Some(j), None) => {
                    crate::tokens::client_keys::parse_jwks(j).map_err(|why| err(&key("jwks"), why))?;
                }
                (true, None, None) => {
                    return Err(err(&key("jwks"), "a private_key_jwt client needs its public keys (jwks)".into()));
                }
                (false, Some(_), _) => {
                    return Err(err(&key("jwks"), "only a private_key_jwt client registers jwks".into()));
                }
                (false, None, _) => {}
            }
            if c.require_pushed_authorization_requests && !self.par.enabled {
                return Err(err(&key("require_pushed_authorization_requests"), "needs par.enabled = true".into()));
            }
            if let Some(uri) = &c.backchannel_logout_uri {
                bridgekeeper_core::backchannel::validate_logout_uri(uri)
                    .map_err(|why| err(&key("backchannel_logout_uri"), format!("{uri}: {why}")))?;
            }
            if let Some(uri) = &c.frontchannel_logout_uri {
                bridgekeeper_core::frontchannel::validate_frontchannel_uri(uri, &c.redirect_uris)
                    .map_err(|why| err(&key("frontchannel_logout_uri"), format!("{uri}: {why}")))?;
            }
            if c.client_secret.is_none()
                && !key_auth
                && c.grant_types
                    .iter()
                    .any(|g| g == "client_credentials" || g == bridgekeeper_core::token::token_exchange::GRANT_TYPE)
            {
                return Err(err(
                    &key("grant_types"),
                    "client_credentials and token exchange need a client_secret or private_key_jwt".into(),
                ));
            }
            for s in &c.allowed_scopes {
                if !self.scopes.contains_key(s) {
                    return Err(err(&key("allowed_scopes"), format!("`{s}` is not in the [scopes] catalogue")));
                }
            }
        }
        Ok(())
    }

    pub(super) fn validate_developers(&self, err: &dyn Fn(&str, String) -> SettingsError) -> Result<(), SettingsError> {
        let d = &self.developers;
        for (key, list) in [("developers.scopes", &d.scopes), ("developers.approval_scopes", &d.approval_scopes)] {
            for s in list {
                if !self.scopes.contains_key(s) {
                    return Err(err(key, format!("`{s}` is not in the [scopes] catalogue")));
                }
                if RESERVED_SCOPES.contains(&s.as_str()) {
                    return Err(err(key, format!("`{s}` is reserved for admin clients")));
                }
            }
        }
        if let Some(s) = d.approval_scopes.iter().find(|s| d.scopes.contains(s)) {
            return Err(err("developers.approval_scopes", format!("`{s}` is also in developers.scopes")));
        }
        for e in &d.allowed_emails {
            if !e.contains('@') {
                return Err(err("developers.allowed_emails", format!("`{e}` is not an email address")));
            }
        }
        for dom in &d.allowed_domains {
            if dom.is_empty() || dom.contains('@') || dom.starts_with('.') {
                return Err(err("developers.allowed_domains", format!("`{dom}` is not a domain (write example.com)")));
            }
        }
        if d.secret_grace_secs < 0 {
            return Err(err("developers.secret_grace_secs", "must not be negative".into()));
        }
        if d.max_apps_per_developer < 1 {
            return Err(err("developers.max_apps_per_developer", "must be at least 1".into()));
        }
        let r = &self.registration;
        if r.enabled && !r.open && r.initial_access_token.expose().len() < 16 {
            return Err(err(
                "registration.initial_access_token",
                "needs at least 16 characters when registration is enabled and not open".into(),
            ));
        }
        Ok(())
    }
}
