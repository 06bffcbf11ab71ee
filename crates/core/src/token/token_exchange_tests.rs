//! RFC 8693 token exchange: the rules one by one, and the grant run against the in-memory ports of
//! `exchange_tests`.

use super::exchange_tests::{Memory, run};
use super::token_exchange::*;
use super::{TokenClient, TokenRequest, exchange};
use crate::error::ErrorCode;
use crate::params::Params;

fn params(pairs: &[(&str, &str)]) -> Params {
    let q: String = pairs.iter().map(|(k, v)| format!("{k}={v}&")).collect();
    Params::parse(&q)
}

fn request(resource: Option<&str>, audience: Option<&str>, scope: Option<&str>) -> ExchangeRequest {
    ExchangeRequest {
        subject_token: "at-ada".into(),
        subject_token_type: ACCESS_TOKEN_TYPE.into(),
        requested_token_type: None,
        resource: resource.map(String::from),
        audience: audience.map(String::from),
        scope: scope.map(String::from),
        actor_token: None,
    }
}

fn subject(client: &str, scope: &str) -> SubjectToken {
    SubjectToken {
        sub: "ada".into(),
        client_id: client.into(),
        aud: "https://broker".into(),
        scope: scope.into(),
        exp: 1_300,
        grant_id: Some("g1".into()),
        actors: vec![],
        jkt: None,
    }
}

fn rule() -> DelegationRule {
    DelegationRule {
        client: "api-a".into(),
        audiences: vec!["https://api-b".into()],
        scopes: vec!["read".into(), "write".into()],
        subject_clients: vec!["app".into()],
        known_as: vec![],
    }
}

#[test]
fn tx_4_subject_token_and_its_type_are_required_and_actor_parameters_come_together() {
    let e = parse(&params(&[("subject_token", "x")])).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    let ok = parse(&params(&[("subject_token", "x"), ("subject_token_type", ACCESS_TOKEN_TYPE)])).unwrap();
    assert_eq!(ok.subject_token, "x");
    let e = parse(&params(&[("subject_token", "x"), ("subject_token_type", "t"), ("actor_token", "y")])).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
}

#[test]
fn tx_4_only_access_tokens_in_and_out_and_no_actor_token() {
    assert!(check_token_types(&request(None, None, None)).is_ok());
    let mut r = request(None, None, None);
    r.subject_token_type = "urn:ietf:params:oauth:token-type:id_token".into();
    assert_eq!(check_token_types(&r).unwrap_err().code, ErrorCode::InvalidRequest);
    let mut r = request(None, None, None);
    r.requested_token_type = Some("urn:ietf:params:oauth:token-type:refresh_token".into());
    assert_eq!(check_token_types(&r).unwrap_err().code, ErrorCode::InvalidRequest, "never an upstream refresh token");
    let mut r = request(None, None, None);
    r.actor_token = Some("x".into());
    assert_eq!(check_token_types(&r).unwrap_err().code, ErrorCode::InvalidRequest);
}

#[test]
fn tx_4_one_target_from_resource_or_audience() {
    let p = |r, a| target(&request(r, a, None));
    assert_eq!(p(Some("urn:bridgekeeper:provider:gh"), None).unwrap(), Target::Provider("gh".into()));
    assert_eq!(p(None, Some("https://api-b")).unwrap(), Target::Audience("https://api-b".into()));
    assert_eq!(p(Some("https://api-b"), Some("https://api-b")).unwrap(), Target::Audience("https://api-b".into()));
    assert_eq!(p(Some("https://api-b"), Some("https://api-c")).unwrap_err().code, ErrorCode::InvalidTarget);
    assert_eq!(p(Some("urn:bridgekeeper:provider:"), None).unwrap_err().code, ErrorCode::InvalidTarget);
    assert_eq!(p(None, None).unwrap_err().code, ErrorCode::InvalidRequest);
}

#[test]
fn tx_5_only_the_clients_own_undelegated_person_token_yields_an_upstream_token() {
    let s = subject("app", "openid");
    assert!(subject_for_upstream(Some(&s), "app").is_ok());
    assert_eq!(subject_for_upstream(None, "app").unwrap_err().code, ErrorCode::InvalidRequest);
    assert_eq!(subject_for_upstream(Some(&s), "other").unwrap_err().code, ErrorCode::InvalidRequest);
    let mut cc = s.clone();
    cc.grant_id = None;
    assert_eq!(subject_for_upstream(Some(&cc), "app").unwrap_err().code, ErrorCode::InvalidRequest);
    let mut delegated = s.clone();
    delegated.actors = vec!["api-a".into()];
    assert_eq!(subject_for_upstream(Some(&delegated), "app").unwrap_err().code, ErrorCode::InvalidRequest);
}

#[test]
fn tx_6_upstream_scopes_must_be_granted() {
    let map = std::collections::BTreeMap::new();
    let all = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let allowed = all(&["read:user", "repo", "admin:org"]);
    assert_eq!(upstream_scope(None, "read:user repo", &allowed, &map).unwrap(), "read:user repo");
    assert_eq!(upstream_scope(Some("repo"), "read:user repo", &allowed, &map).unwrap(), "read:user repo");
    let e = upstream_scope(Some("admin:org"), "read:user repo", &allowed, &map).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    assert_eq!(upstream_scope(Some(" "), "read:user", &allowed, &map).unwrap_err().code, ErrorCode::InvalidScope);
}

#[test]
fn tx_6_upstream_scopes_are_bounded_by_the_subject_tokens_downstream_scopes() {
    let map: std::collections::BTreeMap<String, Vec<String>> =
        [("code".to_string(), vec!["repo".to_string()])].into_iter().collect();
    let base = vec!["read:user".to_string()];
    assert_eq!(upstream_allowed(&base, &map, "openid read"), vec!["read:user".to_string()]);
    assert_eq!(upstream_allowed(&base, &map, "openid code"), vec!["read:user".to_string(), "repo".to_string()]);
    let without_code = upstream_allowed(&base, &map, "openid read");
    // The vault token carries repo (granted through another app): it cannot be narrowed, so it is refused.
    let e = upstream_scope(None, "read:user repo", &without_code, &map).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    assert!(e.description.contains("scope code"), "{}", e.description);
    assert_eq!(check_asked_upstream(Some("repo"), &without_code, &map).unwrap_err().code, ErrorCode::InvalidScope);
    assert!(check_asked_upstream(Some("read:user"), &without_code, &map).is_ok());
    let with_code = upstream_allowed(&base, &map, "openid code");
    assert_eq!(upstream_scope(Some("repo"), "read:user repo", &with_code, &map).unwrap(), "read:user repo");
}

#[test]
fn tx_9_a_missing_upstream_scope_names_the_downstream_scope_that_asks_for_it() {
    let map: std::collections::BTreeMap<String, Vec<String>> =
        [("code".to_string(), vec!["repo".to_string()]), ("groups".to_string(), vec!["read:org".to_string()])]
            .into_iter()
            .collect();
    let allowed: Vec<String> = ["read:user", "repo", "gist"].iter().map(|s| s.to_string()).collect();
    assert_eq!(step_up_scopes(&["repo"], &map), vec!["code".to_string()]);
    assert!(step_up_scopes(&["gist"], &map).is_empty());
    let e = upstream_scope(Some("repo read:user"), "read:user", &allowed, &map).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    assert!(e.description.contains("scope code") && e.description.contains("prompt=login"), "{}", e.description);
    let e = upstream_scope(Some("gist"), "read:user", &allowed, &map).unwrap_err();
    assert!(e.description.contains("no downstream scope"), "{}", e.description);
    let e = check_asked_upstream(Some("repo"), &["read:user".to_string()], &map).unwrap_err();
    assert!(e.description.contains("scope code") && e.description.contains("prompt=login"), "{}", e.description);
}

#[test]
fn tx_7_delegation_needs_a_rule_for_client_and_audience() {
    let rules = [rule()];
    assert!(delegation_rule(&rules, "api-a", "https://api-b").is_ok());
    assert_eq!(delegation_rule(&rules, "api-a", "https://api-c").unwrap_err().code, ErrorCode::InvalidTarget);
    assert_eq!(delegation_rule(&rules, "app", "https://api-b").unwrap_err().code, ErrorCode::InvalidTarget);
}

#[test]
fn tx_7_delegated_scope_only_narrows() {
    let r = rule();
    assert_eq!(delegation_scope(None, "openid read write admin", &r).unwrap(), "read write");
    assert_eq!(delegation_scope(Some("read"), "openid read write", &r).unwrap(), "read");
    assert_eq!(delegation_scope(Some("admin"), "read admin", &r).unwrap_err().code, ErrorCode::InvalidScope);
    assert_eq!(delegation_scope(Some("write"), "read", &r).unwrap_err().code, ErrorCode::InvalidScope);
    assert_eq!(delegation_scope(None, "openid offline_access", &r).unwrap_err().code, ErrorCode::InvalidScope);
}

#[test]
fn tx_8_the_client_is_the_outermost_actor_and_the_token_never_outlives_its_subject() {
    assert_eq!(actor_chain("api-b", &["api-a".into()]), vec!["api-b".to_string(), "api-a".to_string()]);
    assert_eq!(delegated_expiry(1_000, 600, 1_300), 1_300);
    assert_eq!(delegated_expiry(1_000, 600, 9_999), 1_600);
}

fn exchange_memory() -> Memory {
    let mut m = Memory::default();
    m.exchange_clients = vec!["app".into()];
    m.exchange_consents = vec![("ada".into(), "app".into(), "gh".into())];
    m.upstream = Some(UpstreamAccess {
        access_token: "gho_x".into(),
        token_type: "bearer".into(),
        expires_in: None,
        scope: "read:user".into(),
    });
    m.base_scopes = vec!["read:user".into()];
    m.rules = vec![rule()];
    // Expires before a fresh delegated token would (the memory clock is at 0, the delegated lifetime 600 s).
    let s = SubjectToken { exp: 500, ..subject("app", "openid read write") };
    m.subjects = [("at-ada".to_string(), s)].into_iter().collect();
    m
}

fn client(id: &str) -> TokenClient<'_> {
    TokenClient { client_id: id, may_refresh: false, allowed_scopes: &[], public: false, dpop_jkt: None, rotate: true }
}

#[test]
fn tx_3_upstream_exchange_needs_the_client_listed_and_the_persons_consent() {
    let m = exchange_memory();
    let req = TokenRequest::TokenExchange(request(Some("urn:bridgekeeper:provider:gh"), None, None));
    let ok = run(exchange(&m, &client("app"), &req)).unwrap();
    assert_eq!((ok.access_token.as_str(), ok.token_type.as_ref()), ("gho_x", "Bearer"));
    assert_eq!((ok.issued_token_type, ok.refresh_token), (Some(ACCESS_TOKEN_TYPE), None));
    let unlisted = run(exchange(&m, &client("other"), &req)).unwrap_err();
    assert_eq!(unlisted.code, ErrorCode::InvalidTarget);
    let unknown = TokenRequest::TokenExchange(request(Some("urn:bridgekeeper:provider:nope"), None, None));
    assert_eq!(run(exchange(&m, &client("app"), &unknown)).unwrap_err().code, ErrorCode::InvalidTarget);
    let mut no_consent = exchange_memory();
    no_consent.exchange_consents.clear();
    assert_eq!(run(exchange(&no_consent, &client("app"), &req)).unwrap_err().code, ErrorCode::InvalidRequest);
    assert_eq!(no_consent.upstream_calls.get(), 0, "the vault is not touched without consent");
}

#[test]
fn tx_7_delegation_issues_a_token_with_the_actor_and_narrowed_scope() {
    let m = exchange_memory();
    let req = TokenRequest::TokenExchange(request(None, Some("https://api-b"), Some("read")));
    let ok = run(exchange(&m, &client("api-a"), &req)).unwrap();
    assert_eq!(ok.access_token, "delegated:ada:https://api-b:api-a:500", "capped by the subject token");
    assert_eq!(ok.scope, "read");
    assert_eq!(ok.issued_token_type, Some(ACCESS_TOKEN_TYPE));
    let other = TokenRequest::TokenExchange(request(None, Some("https://api-c"), None));
    assert_eq!(run(exchange(&m, &client("api-a"), &other)).unwrap_err().code, ErrorCode::InvalidTarget);
}

#[test]
fn tx_6_a_refused_scope_makes_no_upstream_call() {
    let m = exchange_memory();
    let req = TokenRequest::TokenExchange(request(Some("urn:bridgekeeper:provider:gh"), None, Some("repo")));
    assert_eq!(run(exchange(&m, &client("app"), &req)).unwrap_err().code, ErrorCode::InvalidScope);
    assert_eq!(m.upstream_calls.get(), 0, "refused before the vault is asked");
}

#[test]
fn tx_4_delegation_refuses_a_subject_token_of_a_client_the_rule_does_not_name() {
    let r = rule();
    assert!(subject_for_delegation(Some(&subject("app", "read")), &r).is_ok());
    let e = subject_for_delegation(Some(&subject("other", "read")), &r).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    let none = DelegationRule { subject_clients: vec![], ..rule() };
    assert_eq!(
        subject_for_delegation(Some(&subject("app", "read")), &none).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn tx_4_a_delegated_token_is_exchangeable_only_by_its_audience() {
    let delegated =
        SubjectToken { aud: "https://api-b".into(), actors: vec!["api-a".into()], ..subject("api-a", "read") };
    // api-a named itself as subject client does not let it re-exchange a token issued for api-b.
    let a = DelegationRule { subject_clients: vec!["app".into(), "api-a".into()], ..rule() };
    assert_eq!(subject_for_delegation(Some(&delegated), &a).unwrap_err().code, ErrorCode::InvalidRequest);
    let b = DelegationRule {
        client: "api-b".into(),
        known_as: vec!["https://api-b".into()],
        subject_clients: vec![],
        ..rule()
    };
    assert!(subject_for_delegation(Some(&delegated), &b).is_ok());
}

#[test]
fn tx_1_debug_of_an_upstream_token_and_a_token_outcome_shows_no_token() {
    let up = UpstreamAccess {
        access_token: "gho_secret".into(),
        token_type: "bearer".into(),
        expires_in: None,
        scope: "read:user".into(),
    };
    assert!(!format!("{up:?}").contains("gho_secret"));
    let m = exchange_memory();
    let req = TokenRequest::TokenExchange(request(Some("urn:bridgekeeper:provider:gh"), None, None));
    let ok = run(exchange(&m, &client("app"), &req)).unwrap();
    assert_eq!(ok.access_token, "gho_x");
    assert!(!format!("{ok:?}").contains("gho_x"), "{ok:?}");
}

#[test]
fn dp_7_a_bound_subject_token_needs_a_proof_of_its_key_upstream_and_binds_a_delegation() {
    let mut m = exchange_memory();
    if let Some(s) = m.subjects.get_mut("at-ada") {
        s.jkt = Some("k1".into());
    }
    let up = TokenRequest::TokenExchange(request(Some("urn:bridgekeeper:provider:gh"), None, None));
    for (presented, ok) in [(None, false), (Some("k2"), false), (Some("k1"), true)] {
        let c = TokenClient { dpop_jkt: presented, ..client("app") };
        let r = run(exchange(&m, &c, &up));
        assert_eq!(r.as_ref().err().map(|e| e.code), (!ok).then_some(ErrorCode::InvalidDpopProof), "{presented:?}");
    }
    assert_eq!(m.upstream_calls.get(), 1, "a refused proof asks nothing upstream");
    let del = TokenRequest::TokenExchange(request(None, Some("https://api-b"), Some("read")));
    let e = run(exchange(&m, &client("api-a"), &del)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidDpopProof, "a bound subject never yields a bearer token");
    let api = TokenClient { dpop_jkt: Some("api-key"), ..client("api-a") };
    let ok = run(exchange(&m, &api, &del)).unwrap();
    assert!(ok.access_token.ends_with(":api-key"), "bound to the API's proof key: {}", ok.access_token);
}

/// [RI-5] A delegated token for an API of `[[apis]]` carries only that API's scopes; one for another audience none
/// an API owns (delegation only narrows further).
#[test]
fn ri_5_a_delegated_token_carries_only_its_audiences_scopes() {
    let api = |id: &str, scopes: &[&str]| crate::resource::Api {
        identifier: id.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        access_token_ttl_secs: None,
        clients: vec!["api-a".into()],
    };
    let mut m = exchange_memory();
    m.rules[0].audiences.push("https://api-c".into());
    m.apis = vec![api("https://api-b", &["read"]), api("https://api-x", &["write"])];
    // A token for api-b itself (re-delegation keeps to the subject's scopes), with a broker scope besides.
    let s = SubjectToken { aud: "https://api-b".into(), exp: 500, ..subject("app", "openid read write") };
    m.subjects = [("at-ada".to_string(), s)].into_iter().collect();
    let to = |aud: &str| TokenRequest::TokenExchange(request(None, Some(aud), None));
    assert_eq!(run(exchange(&m, &client("api-a"), &to("https://api-b"))).unwrap().scope, "read");
    let e = run(exchange(&m, &client("api-a"), &to("https://api-c"))).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope, "api-c is no API: neither read (api-b's) nor write (api-x's)");
    m.apis.pop();
    assert_eq!(run(exchange(&m, &client("api-a"), &to("https://api-c"))).unwrap().scope, "write");
}

/// [RI-4] Delegation to an API of `[[apis]]` needs the exchanging client in the API's `clients` as well.
#[test]
fn ri_4_delegation_to_an_api_needs_the_client_on_its_list() {
    let mut m = exchange_memory();
    m.apis = vec![crate::resource::Api {
        identifier: "https://api-b".into(),
        scopes: vec!["read".into()],
        access_token_ttl_secs: None,
        clients: vec!["someone-else".into()],
    }];
    // The subject is the app's own (issuer) token; its grant was made for api-b.
    m.set_grant("g1", "openid read write", &["https://api-b"]);
    let req = TokenRequest::TokenExchange(request(None, Some("https://api-b"), None));
    assert_eq!(run(exchange(&m, &client("api-a"), &req)).unwrap_err().code, ErrorCode::InvalidTarget);
    m.apis[0].clients.extend(["api-a".into(), "app".into()]);
    assert_eq!(run(exchange(&m, &client("api-a"), &req)).unwrap().scope, "read");
}

/// [RI-5] Review finding 2: delegation from a token for API A to API B (both of `[[apis]]`) draws B's scopes from
/// the person's grant, when that grant was made for B; a grant without B is `invalid_target`.
#[test]
fn ri_5_delegation_from_a_token_for_api_a_to_api_b() {
    let api = |id: &str, scope: &str, client: &str| crate::resource::Api {
        identifier: id.into(),
        scopes: vec![scope.into()],
        access_token_ttl_secs: None,
        clients: vec![client.into()],
    };
    let mut m = exchange_memory();
    m.apis = vec![api("https://a.example", "a.read", "app"), api("https://b.example", "b.read", "api-a")];
    m.apis[1].clients.push("app".into());
    m.rules = vec![DelegationRule {
        client: "api-a".into(),
        audiences: vec!["https://b.example".into()],
        scopes: vec!["a.read".into(), "b.read".into()],
        subject_clients: vec![],
        known_as: vec!["https://a.example".into()],
    }];
    // As the server issues it: for A, carrying A's scopes only.
    let s = SubjectToken { aud: "https://a.example".into(), exp: 500, ..subject("app", "a.read") };
    m.subjects = [("at-ada".to_string(), s)].into_iter().collect();
    m.set_grant("g1", "openid a.read b.read", &["https://a.example", "https://b.example"]);
    let req = TokenRequest::TokenExchange(request(None, Some("https://b.example"), None));
    assert_eq!(run(exchange(&m, &client("api-a"), &req)).unwrap().scope, "b.read");
    // Review finding 10: the grant's client withdrawn from B since: its grants are not mined for B tokens.
    m.apis[1].clients.pop();
    assert_eq!(run(exchange(&m, &client("api-a"), &req)).unwrap_err().code, ErrorCode::InvalidTarget);
    m.apis[1].clients.push("app".into());
    // Review finding 11: a delegated (narrowed) subject never reaches back to the grant.
    let d = SubjectToken {
        aud: "https://a.example".into(),
        exp: 500,
        actors: vec!["api-z".into()],
        ..subject("app", "a.read")
    };
    m.subjects.insert("at-ada".into(), d);
    assert_eq!(run(exchange(&m, &client("api-a"), &req)).unwrap_err().code, ErrorCode::InvalidScope);
    let s = SubjectToken { aud: "https://a.example".into(), exp: 500, ..subject("app", "a.read") };
    m.subjects.insert("at-ada".into(), s);
    m.set_grant("g1", "openid a.read", &["https://a.example"]);
    assert_eq!(run(exchange(&m, &client("api-a"), &req)).unwrap_err().code, ErrorCode::InvalidTarget);
}
