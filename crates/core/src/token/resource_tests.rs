//! [RI-4] The audience of each grant's access token, against the in-memory ports of `exchange_tests`.

use super::exchange_tests::{APP, Memory, memory, refresh_row, run};
use super::{TokenRequest, exchange};
use crate::error::ErrorCode;
use crate::resource::Api;

const ORDERS: &str = "https://orders.example";
const BILLING: &str = "https://billing.example";

fn with_apis(resources: &[&str]) -> Memory {
    let mut m = memory();
    m.apis = vec![
        Api {
            identifier: ORDERS.into(),
            scopes: vec!["orders.read".into()],
            access_token_ttl_secs: None,
            clients: vec!["app".into()],
        },
        Api {
            identifier: BILLING.into(),
            scopes: vec!["billing.read".into()],
            access_token_ttl_secs: None,
            clients: vec!["app".into()],
        },
    ];
    m.grants.borrow_mut().get_mut("g").unwrap().resources = resources.iter().map(|s| s.to_string()).collect();
    m
}

fn code(resource: Option<&str>) -> TokenRequest {
    TokenRequest::AuthorizationCode {
        code: "c".into(),
        redirect_uri: None,
        code_verifier: None,
        resource: resource.map(String::from),
    }
}

fn refresh(resource: Option<&str>) -> TokenRequest {
    TokenRequest::RefreshToken { refresh_token: "old".into(), scope: None, resource: resource.map(String::from) }
}

#[test]
fn ri_4_code_and_refresh_tokens_are_for_one_granted_resource() {
    let m = with_apis(&[BILLING, ORDERS]);
    assert_eq!(run(exchange(&m, &APP, &code(None))).unwrap_err().code, ErrorCode::InvalidTarget, "several granted");
    let m = with_apis(&[BILLING, ORDERS]);
    run(exchange(&m, &APP, &code(Some(ORDERS)))).unwrap();
    m.refresh.borrow_mut().insert("old".into(), refresh_row("old", "g", "u", "openid offline_access billing.read"));
    // The family keeps every granted resource: a refresh for the other one works.
    let out = run(exchange(&m, &APP, &refresh(Some(BILLING)))).unwrap();
    assert_eq!(out.scope, "billing.read");
    assert_eq!(m.audiences.borrow().as_slice(), [Some(ORDERS.to_string()), Some(BILLING.to_string())]);
}

#[test]
fn ri_4_a_resource_not_granted_is_invalid_target_and_spends_no_refresh_token() {
    let m = with_apis(&[ORDERS]);
    m.refresh.borrow_mut().insert("old".into(), refresh_row("old", "g", "u", "openid offline_access"));
    assert_eq!(run(exchange(&m, &APP, &refresh(Some(BILLING)))).unwrap_err().code, ErrorCode::InvalidTarget);
    assert!(m.refresh.borrow()["old"].used_at.is_none(), "the refresh token is not spent");
    assert_eq!(m.rechecks.get(), 0, "review finding 8: no upstream re-check for a refused request");
    run(exchange(&m, &APP, &refresh(None))).unwrap();
    assert_eq!(m.audiences.borrow().as_slice(), [Some(ORDERS.to_string())], "the only granted one");
    let none = with_apis(&[]);
    run(exchange(&none, &APP, &code(None))).unwrap();
    assert_eq!(none.audiences.borrow().as_slice(), [None], "nothing granted: the broker's own audience");
    let none = with_apis(&[]);
    assert_eq!(run(exchange(&none, &APP, &code(Some(ORDERS)))).unwrap_err().code, ErrorCode::InvalidTarget);
    // A resource that is no API of this client's is refused before the code is spent.
    let m = with_apis(&[ORDERS]);
    let e = run(exchange(&m, &APP, &code(Some("https://unknown.example")))).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidTarget);
    run(exchange(&m, &APP, &code(None))).unwrap();
}

#[test]
fn ri_4_client_credentials_pick_an_api_the_client_may_ask_for() {
    let m = with_apis(&[]);
    let scopes = ["orders.read".to_string(), "billing.read".to_string()];
    let client = super::TokenClient { allowed_scopes: &scopes, ..APP };
    let cc = |r: Option<&str>, s: Option<&str>| TokenRequest::ClientCredentials {
        scope: s.map(String::from),
        resource: r.map(String::from),
    };
    let out = run(exchange(&m, &client, &cc(Some(ORDERS), None))).unwrap();
    assert_eq!(out.scope, "orders.read");
    let e = run(exchange(&m, &client, &cc(Some("https://nope"), None))).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidTarget);
    let other = super::TokenClient { client_id: "other", ..client.clone() };
    assert_eq!(run(exchange(&m, &other, &cc(Some(ORDERS), None))).unwrap_err().code, ErrorCode::InvalidTarget);
    let e = run(exchange(&m, &client, &cc(None, Some("orders.read")))).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope, "an API's scope without its resource");
    let out = run(exchange(&m, &client, &cc(None, None))).unwrap();
    assert_eq!(out.scope, "", "no API-owned scope without a resource");
}

/// [RI-4] Review finding 1: the audience is decided before the code is spent, so a missing or not-granted
/// `resource` leaves the code for the corrected retry (and never looks like a replay).
#[test]
fn ri_4_a_resource_error_at_the_code_grant_does_not_spend_the_code() {
    let m = with_apis(&[BILLING, ORDERS]);
    assert_eq!(run(exchange(&m, &APP, &code(None))).unwrap_err().code, ErrorCode::InvalidTarget);
    run(exchange(&m, &APP, &code(Some(ORDERS)))).unwrap();
    assert!(m.revoked.borrow().is_empty(), "no replay");
    assert_eq!(m.audiences.borrow().as_slice(), [Some(ORDERS.to_string())]);
    let m = with_apis(&[ORDERS]);
    assert_eq!(run(exchange(&m, &APP, &code(Some(BILLING)))).unwrap_err().code, ErrorCode::InvalidTarget);
    run(exchange(&m, &APP, &code(Some(ORDERS)))).unwrap();
    assert!(m.revoked.borrow().is_empty());
}
