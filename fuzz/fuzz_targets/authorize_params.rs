//! Authorization request parameters through the protocol core: parsing, redirect URI matching, the typed request
//! (scopes, PKCE, prompt, max_age, limits), its stored form, and the decision.
#![no_main]

use bridgekeeper_core::authorize::{AuthorizationRequest, ClientView, ConsentState, SessionView, decide, request};
use bridgekeeper_core::params::Params;
use bridgekeeper_core::redirect;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let p = Params::parse(text);
    let _ = p.first_duplicate();
    let registered = vec!["https://rp.example/cb".to_string(), "http://127.0.0.1/cb".to_string()];
    if let Some(uri) = p.get("redirect_uri") {
        let exact = redirect::matches_registered(uri, &registered, false);
        if exact {
            assert!(registered.iter().any(|r| r == uri), "confidential clients match exactly");
        }
        let _ = redirect::matches_registered(uri, &registered, true);
        let _ = redirect::validate_registered_uri(uri);
        let _ = redirect::with_params(uri, &[("code", "c"), ("state", p.get("state").unwrap_or(""))]);
    }
    let catalogue = ["openid", "email", "profile"].iter().map(|s| (s.to_string(), String::new())).collect();
    let allowed = vec!["openid".to_string(), "email".to_string()];
    for public in [false, true] {
        let client = ClientView {
            client_id: "app",
            redirect_uris: &registered,
            public,
            require_pkce: false,
            allows_code_flow: true,
            allowed_scopes: &allowed,
        };
        let Ok(uri) = request::redirect_target(&p, &client) else { continue };
        let hint = |h: &str| (h == "ours").then(|| ("u1".to_string(), vec!["app".to_string()]));
        let Ok(req) = request::validate(&p, &client, uri, &catalogue, &hint) else { continue };
        assert!(!req.scopes.is_empty() && req.scopes.iter().all(|s| s == "openid" || s == "email"));
        let stored = req.to_stored();
        assert!(stored.len() <= request::MAX_STORED_LEN);
        assert_eq!(AuthorizationRequest::from_stored(&stored).as_ref(), Some(&req));
        assert!(req.still_valid_for(&client));
        let session = SessionView { user_id: "u1", auth_time: 1000 };
        let _ = decide(&req, Some(session), ConsentState::default(), Some(990), 2000);
        let _ = req.freshness();
    }
    let _ = p.to_query();
});
