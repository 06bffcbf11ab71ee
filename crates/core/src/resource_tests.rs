use super::*;
use std::collections::BTreeMap;

fn api(id: &str, scopes: &[&str], clients: &[&str]) -> Api {
    Api {
        identifier: id.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        access_token_ttl_secs: None,
        clients: clients.iter().map(|s| s.to_string()).collect(),
    }
}

fn apis() -> Vec<Api> {
    vec![
        api("https://orders.example", &["orders.read", "orders.write"], &["app"]),
        Api {
            access_token_ttl_secs: Some(120),
            ..api("https://billing.example/api", &["billing.read"], &["app", "b"])
        },
    ]
}

fn catalogue() -> BTreeMap<String, String> {
    ["openid", "profile", "orders.read", "orders.write", "billing.read", "groups"]
        .iter()
        .map(|s| (s.to_string(), String::new()))
        .collect()
}

const ISSUER: &str = "https://broker.example";

#[test]
fn ri_1_identifiers_are_absolute_uris_without_fragment_and_scopes_are_owned_once() {
    let ok = |a: &Api| check_api(a, ISSUER, &catalogue());
    assert!(ok(&apis()[0]).is_ok());
    assert!(ok(&api("urn:example:orders", &[], &[])).is_ok(), "a URN is an absolute URI");
    for bad in [
        "orders",
        "/orders",
        "https://orders.example/#x",
        "https://a b.example",
        "",
        ISSUER,
        "https://broker.example/",
        "HTTPS://Broker.example:443",
    ] {
        assert_eq!(ok(&api(bad, &[], &["app"])).unwrap_err().0, "identifier", "{bad}");
    }
    assert_eq!(ok(&api("urn:bridgekeeper:provider:gh", &[], &[])).unwrap_err().0, "identifier");
    for s in ["openid", "profile", "offline_access", "email", "groups", "admin"] {
        let e = ok(&api("https://x.example", &[s], &[])).unwrap_err();
        assert_eq!(e.0, "scopes", "{s}");
    }
    assert!(ok(&api("https://x.example", &["not.catalogued"], &[])).unwrap_err().1.contains("catalogue"));
    assert_eq!(ok(&api("https://x.example", &[], &["*"])).unwrap_err().0, "clients");
    assert_eq!(ok(&api("https://x.example", &[], &[" "])).unwrap_err().0, "clients");
    for ttl in [0, -1, MAX_TTL_SECS + 1] {
        let a = Api { access_token_ttl_secs: Some(ttl), ..api("https://x.example", &[], &[]) };
        assert_eq!(ok(&a).unwrap_err().0, "access_token_ttl_secs");
    }
    let mut twice = apis();
    twice.push(api("https://orders.example", &[], &[]));
    assert_eq!(check_apis(&twice).unwrap_err().0, 2);
    let mut shared = apis();
    shared.push(api("https://other.example", &["orders.read"], &[]));
    let e = check_apis(&shared).unwrap_err();
    assert_eq!((e.0, e.1), (2, "scopes"));
    assert!(check_apis(&apis()).is_ok());
    // Review finding 6: two spellings of one URI are one identifier.
    let mut spelled = apis();
    spelled.push(api("HTTPS://Orders.example:443/", &[], &[]));
    assert_eq!(check_apis(&spelled).unwrap_err().0, 2);
    assert_eq!(spelled_like_an_api("https://orders.example/", &apis()), Some("https://orders.example"));
    assert_eq!(spelled_like_an_api("https://orders.example", &apis()), None, "the identifier itself");
    assert_eq!(spelled_like_an_api("https://other.example", &apis()), None);
}

#[test]
fn ri_2_each_resource_at_authorize_must_be_an_api_the_client_may_ask_for() {
    let p = Params::parse(
        "resource=https://orders.example&resource=https://billing.example/api&resource=https://orders.example",
    );
    assert_eq!(at_authorize(&p, "app", &apis()).unwrap(), ["https://billing.example/api", "https://orders.example"]);
    assert_eq!(at_authorize(&p, "b", &apis()).unwrap_err().code, ErrorCode::InvalidTarget, "b may not ask for orders");
    let p = Params::parse("resource=https://unknown.example");
    assert_eq!(at_authorize(&p, "app", &apis()).unwrap_err().code, ErrorCode::InvalidTarget);
    let p = Params::parse("resource=https://orders.example/");
    assert!(at_authorize(&p, "app", &apis()).is_err(), "exact match only");
    assert!(at_authorize(&Params::parse("scope=openid"), "app", &apis()).unwrap().is_empty());
    let long = format!("resource=https://x.example/{}", "a".repeat(5000));
    assert!(
        !at_authorize(&Params::parse(&long), "app", &apis()).unwrap_err().description.contains("x.example"),
        "not echoed"
    );
}

#[test]
fn ri_3_a_grant_holds_an_apis_scopes_only_with_that_api() {
    let s: Vec<String> = ["openid", "orders.read", "billing.read", "groups"].iter().map(|s| s.to_string()).collect();
    assert_eq!(grant_scopes(&s, &["https://orders.example".into()], &apis()), ["openid", "orders.read", "groups"]);
    assert_eq!(grant_scopes(&s, &[], &apis()), ["openid", "groups"]);
    assert_eq!(grant_scopes(&s, &[], &[]), s, "without [[apis]] nothing changes");
}

#[test]
fn ri_4_one_audience_per_token_chosen_from_the_grant() {
    let (o, b) = ("https://orders.example".to_string(), "https://billing.example/api".to_string());
    let both = [b.clone(), o.clone()];
    let pick = |asked, granted: &[String], client| {
        audience_for_grant(asked, granted, client, &apis()).map(|a| a.map(|a| a.identifier.clone()))
    };
    assert_eq!(pick(Some(o.as_str()), &both, "app").unwrap(), Some(o.clone()));
    assert_eq!(pick(None, std::slice::from_ref(&o), "app").unwrap(), Some(o.clone()));
    assert_eq!(pick(None, &[], "app").unwrap(), None, "none granted: the broker's own audience");
    assert_eq!(pick(None, &both, "app").unwrap_err().code, ErrorCode::InvalidTarget, "several and none named");
    assert_eq!(pick(Some(b.as_str()), std::slice::from_ref(&o), "app").unwrap_err().code, ErrorCode::InvalidTarget);
    assert_eq!(pick(Some("https://x"), &[], "app").unwrap_err().code, ErrorCode::InvalidTarget);
    // Withdrawn since (the API gone or the client no longer listed): no longer granted.
    assert_eq!(pick(Some(o.as_str()), std::slice::from_ref(&o), "b").unwrap_err().code, ErrorCode::InvalidTarget);
    assert_eq!(pick(None, &both, "b").unwrap(), Some(b.clone()), "only billing still allows b");
    let e = pick(None, std::slice::from_ref(&o), "b").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidTarget, "all withdrawn: no issuer token in its place");
    assert_eq!(pick(None, &["https://removed.example".into()], "app").unwrap_err().code, ErrorCode::InvalidTarget);
    let cc = |asked| audience_for_client(asked, "b", &apis()).map(|a| a.map(|a| a.identifier.clone()));
    assert_eq!(cc(Some(b.as_str())).unwrap(), Some(b.clone()));
    assert_eq!(cc(Some(o.as_str())).unwrap_err().code, ErrorCode::InvalidTarget);
    assert_eq!(cc(None).unwrap(), None);
    assert!(token_param(&Params::parse("resource=a")).unwrap().is_some());
    assert_eq!(token_param(&Params::parse("resource=a&resource=b")).unwrap_err().code, ErrorCode::InvalidTarget);
}

#[test]
fn ri_5_a_token_carries_only_its_audiences_scopes() {
    let scope = "openid profile orders.read orders.write billing.read groups";
    assert_eq!(token_scope(scope, Some("https://orders.example"), &apis()), "orders.read orders.write");
    assert_eq!(token_scope(scope, Some("https://billing.example/api"), &apis()), "billing.read");
    assert_eq!(token_scope(scope, None, &apis()), "openid profile groups");
    assert_eq!(token_scope(scope, Some("https://not-an-api"), &apis()), "openid profile groups");
    assert_eq!(token_scope(scope, None, &[]), scope);
    assert_eq!(client_scope(true, "orders.read", None, &apis()).unwrap_err().code, ErrorCode::InvalidScope);
    assert_eq!(client_scope(false, "orders.read", None, &apis()).unwrap(), "");
    assert_eq!(client_scope(true, "orders.read", Some("https://orders.example"), &apis()).unwrap(), "orders.read");
}

#[test]
fn ri_6_an_api_may_have_its_own_token_lifetime() {
    assert_eq!(token_ttl(Some("https://billing.example/api"), &apis(), 600), 120);
    assert_eq!(token_ttl(Some("https://orders.example"), &apis(), 600), 600);
    assert_eq!(token_ttl(None, &apis(), 600), 600);
}

#[test]
fn ri_7_userinfo_takes_only_tokens_for_the_broker() {
    assert!(for_the_broker(ISSUER, ISSUER));
    assert!(!for_the_broker("https://orders.example", ISSUER));
}

fn stored_request() -> AuthorizationRequest {
    let json = r#"{"client_id":"app","redirect_uri":"https://app.example/cb","scopes":["openid","orders.read","billing.read"],
        "prompt":{"none":false,"login":false,"consent":false,"select_account":false},"response_mode":"query"}"#;
    AuthorizationRequest::from_stored(json).unwrap()
}

#[test]
fn ri_2_3_a_request_keeps_its_resources_and_their_scopes_within_the_stored_size() {
    let mut req = stored_request();
    apply_to_request(&mut req, &Params::parse("resource=https://billing.example/api"), &apis()).unwrap();
    assert_eq!(
        (req.resources.as_slice(), req.scopes.as_slice()),
        (
            ["https://billing.example/api".to_string()].as_slice(),
            ["openid".to_string(), "billing.read".to_string()].as_slice()
        )
    );
    assert!(request_still_allowed(&req, &apis()));
    assert!(!request_still_allowed(&req, &apis()[..1]), "the API withdrawn since");
    let round = AuthorizationRequest::from_stored(&req.to_stored()).unwrap();
    assert_eq!(round.resources, req.resources);
    // [GC-2] Many long identifiers the client may ask for still cannot make the stored request unbounded.
    let many: Vec<Api> =
        (0..20).map(|i| api(&format!("https://x.example/{i}/{}", "a".repeat(480)), &[], &["app"])).collect();
    let q: String = many.iter().map(|a| format!("resource={}&", a.identifier)).collect();
    let e = apply_to_request(&mut stored_request(), &Params::parse(&q), &many).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
}
