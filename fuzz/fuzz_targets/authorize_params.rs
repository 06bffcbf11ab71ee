//! Authorization request parameters: parsing, redirect URI matching, scope narrowing, PKCE and prompt rules.
#![no_main]

use bridgekeeper::oauth::params::Params;
use bridgekeeper::oauth::{authorize, redirect};
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
    if let Ok(scopes) = bridgekeeper::scopes::narrow(p.get("scope"), &["openid".into(), "email".into()], &catalogue) {
        assert!(!scopes.is_empty() && scopes.iter().all(|s| s == "openid" || s == "email"));
    }
    if let Some(c) = p.get("code_challenge") {
        let _ = authorize::valid_pkce_value(c);
    }
    let _ = bridgekeeper::upstream::Freshness::from_params(&p);
    let _ = p.to_query();
});
