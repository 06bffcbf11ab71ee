//! RFC 8693 token exchange over the server ([TX-1]–[TX-8]): the subject token checked as userinfo and
//! introspection check ours (`bearer::check`), the providers' exchange lists, the exchange consents, the upstream
//! token vault (`accounts::vault`) and the minting of delegated access tokens. The rules and their order live in
//! `bridgekeeper_core::token::token_exchange`.

use bridgekeeper_core::token::TokenOutcome;
use bridgekeeper_core::token::ports::Exchanges;
use bridgekeeper_core::token::token_exchange::{Delegation, DelegationRule, SubjectToken, UpstreamAccess};

use super::grants::ServerPorts;
use super::{ErrorCode, OAuthError};
use crate::accounts::vault::{self, VaultError};
use crate::tokens::claims::{ACCESS_TOKEN_TYP, AccessClaims};

/// The actors of an `act` claim, outermost first.
fn actors_of(act: Option<&serde_json::Value>) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = act;
    while let Some(a) = cur {
        let Some(sub) = a.get("sub").and_then(|s| s.as_str()) else { break };
        out.push(sub.to_string());
        cur = a.get("act");
    }
    out
}

/// [TX-8] The nested `act` claim of a chain, outermost first.
fn act_claim(actors: &[String]) -> Option<serde_json::Value> {
    actors.iter().rev().fold(None, |inner, sub| {
        let mut a = serde_json::json!({ "sub": sub });
        if let Some(i) = inner {
            a["act"] = i;
        }
        Some(a)
    })
}

fn must_sign_in(provider: &str) -> OAuthError {
    OAuthError::invalid_grant(format!(
        "the person's grant at {provider} has ended; they must sign in with {provider} again"
    ))
}

impl ServerPorts<'_> {
    /// [TX-11] No vault row, at a provider with `refresh_upstream` too (signed in before `store_tokens` was on):
    /// the identity's own refresh token is adopted into the vault, whose fresh token is then the answer.
    async fn adopted(&self, user_id: &str, provider: &str) -> Result<UpstreamAccess, OAuthError> {
        let state = self.0.clone().into_inner();
        if !state.upstreams().get(provider).is_some_and(|p| p.cfg.refresh_upstream) {
            return Err(must_sign_in(provider));
        }
        let (u, p) = (user_id.to_string(), provider.to_string());
        let ident = state.db.run(move |c| crate::store::identities::find_for_user(c, &u, &p)).await?;
        let Some(ident) = ident else { return Err(must_sign_in(provider)) };
        let got = match crate::accounts::upstream_tokens::adopt(&state, provider, (&ident.id, user_id)).await {
            Ok(()) => vault::access_token(state.clone(), provider, &ident.id, false).await,
            Err(e) => Err(e),
        };
        answer(provider, got)
    }
}

/// The exchange's answer for what the vault said.
fn answer(provider: &str, got: Result<vault::Fresh, VaultError>) -> Result<UpstreamAccess, OAuthError> {
    match got {
        Ok(f) => Ok(UpstreamAccess {
            access_token: f.access_token.expose().to_string(),
            token_type: f.token_type,
            expires_in: f.expires_in,
            scope: f.scope,
        }),
        // [TX-10] A stored token that no longer opens is a grant the broker can no longer use: sign in again.
        Err(VaultError::Empty | VaultError::NeedsSignIn | VaultError::Unsealable { .. }) => Err(must_sign_in(provider)),
        Err(VaultError::Unavailable) => Err(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            format!("{provider} cannot be reached; try again later"),
        )),
        Err(VaultError::Store(e)) => Err(e.into()),
    }
}

impl Exchanges for ServerPorts<'_> {
    async fn subject(&self, token: &str) -> Result<Option<SubjectToken>, OAuthError> {
        let Some((c, _user)) = super::bearer::check(self.0, token).await? else { return Ok(None) };
        let actors = actors_of(c.act.as_ref());
        let jkt = c.dpop_jkt().map(String::from);
        Ok(Some(SubjectToken {
            sub: c.sub,
            client_id: c.client_id,
            aud: c.aud,
            scope: c.scope,
            exp: c.exp,
            grant_id: c.gid,
            actors,
            jkt,
        }))
    }

    fn provider_clients(&self, provider: &str) -> Option<&[String]> {
        self.1.get(provider).filter(|p| p.cfg.store_tokens).map(|p| p.cfg.token_exchange_clients.as_slice())
    }

    fn scope_map(&self, provider: &str) -> Option<&std::collections::BTreeMap<String, Vec<String>>> {
        self.1.get(provider).map(|p| &p.cfg.scope_map)
    }

    fn provider_scopes(&self, provider: &str) -> Option<&[String]> {
        self.1.get(provider).map(|p| p.cfg.scopes.as_slice())
    }

    async fn consented(&self, user_id: &str, client_id: &str, provider: &str) -> Result<bool, OAuthError> {
        let (u, c, p) = (user_id.to_string(), client_id.to_string(), provider.to_string());
        Ok(self
            .0
            .db
            .run(move |conn| {
                // A first-party client (skip_consent) has the admin's consent, as for its scopes.
                let first_party = crate::store::clients::find(conn, &c)?.is_some_and(|cl| cl.skip_consent);
                Ok(first_party || crate::store::vault::exchange_allowed(conn, &u, &c, &p)?)
            })
            .await?)
    }

    async fn upstream_token(&self, user_id: &str, provider: &str) -> Result<UpstreamAccess, OAuthError> {
        let (u, p) = (user_id.to_string(), provider.to_string());
        let ident = self.0.db.run(move |c| crate::store::vault::identity_for(c, &u, &p)).await?;
        let Some(ident) = ident else { return self.adopted(user_id, provider).await };
        answer(provider, vault::access_token(self.0.clone().into_inner(), provider, &ident, false).await)
    }

    async fn grant_scope(&self, grant_id: &str) -> Result<Option<(String, Vec<String>, String)>, OAuthError> {
        let gid = grant_id.to_string();
        let found = self.0.db.run(move |c| crate::store::grants::find_with_resources(c, &gid)).await?;
        Ok(found.map(|(g, resources)| (g.scope, resources, g.client_id)))
    }

    fn delegation_rules(&self) -> &[DelegationRule] {
        &self.2.token_exchange.delegation
    }

    fn delegated_ttl(&self) -> i64 {
        self.2.token_exchange.delegated_ttl_secs
    }

    fn delegated(&self, d: &Delegation<'_>) -> Result<TokenOutcome, OAuthError> {
        let state = self.0;
        let now = state.clock.now();
        let claims = AccessClaims {
            iss: state.settings().issuer.clone(),
            sub: d.subject.sub.clone(),
            aud: d.audience.to_string(),
            client_id: d.client_id.to_string(),
            scope: d.scope.to_string(),
            iat: now,
            exp: d.exp,
            jti: crate::secret::random_token_bytes(16),
            auth_time: None,
            gid: d.subject.grant_id.clone(),
            act: act_claim(d.actors),
            // [DP-7] Bound to the exchange request's proof key, if it sent one (as every token of /token is).
            cnf: d.jkt.map(crate::tokens::claims::Confirmation::jkt),
        };
        let keys = state.keys();
        let token = crate::tokens::jws::sign(
            keys.signer(state.settings().tokens.access_token_alg()),
            ACCESS_TOKEN_TYP,
            &claims,
        )
        .map_err(|_| OAuthError::new(ErrorCode::ServerError, "token signing failed"))?;
        Ok(TokenOutcome {
            access_token: token,
            token_type: if d.jkt.is_some() { "DPoP" } else { "Bearer" }.into(),
            expires_in: Some((d.exp - now).max(0)),
            scope: d.scope.to_string(),
            id_token: None,
            refresh_token: None,
            issued_token_type: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_8_act_nests_earlier_actors_and_reads_back() {
        let chain = vec!["api-b".to_string(), "api-a".to_string()];
        let act = act_claim(&chain).unwrap();
        assert_eq!(act, serde_json::json!({"sub": "api-b", "act": {"sub": "api-a"}}));
        assert_eq!(actors_of(Some(&act)), chain);
        assert_eq!(act_claim(&[]), None);
    }
}
