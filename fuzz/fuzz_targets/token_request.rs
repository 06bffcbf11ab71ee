//! Token request bodies and `Authorization: Basic` headers: `header \n body`.
#![no_main]

use bridgekeeper::oauth::client_auth;
use bridgekeeper::oauth::params::Params;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (header, body) = text.split_once('\n').unwrap_or(("", text));
    let params = Params::parse(body);
    let _ = client_auth::claimed_id(Some(header), &params);
    let _ = client_auth::claimed_id(None, &params);
    for k in ["grant_type", "code", "code_verifier", "refresh_token", "scope", "redirect_uri"] {
        let _ = params.get(k);
        let _ = params.is_duplicated(k);
    }
});
