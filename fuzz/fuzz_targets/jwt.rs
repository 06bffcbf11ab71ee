//! JWT/JWS parsing: our access-token and id_token_hint verification against a real key ring. Nothing the
//! fuzzer makes up may verify.
#![no_main]

use std::sync::OnceLock;

use bridgekeeper::crypto::Sealer;
use bridgekeeper::tokens::KeyRing;
use bridgekeeper::tokens::claims::{verify_access_token, verify_own_id_token};
use bridgekeeper::tokens::keys::{Alg, generate};
use libfuzzer_sys::fuzz_target;

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let rows = vec![
            generate(Alg::Es256, 0, bridgekeeper::store::keys::KeyState::Current).unwrap(),
            generate(Alg::Rs256, 0, bridgekeeper::store::keys::KeyState::Next).unwrap(),
        ];
        KeyRing::from_rows(&rows, &Sealer::from_spec("").unwrap()).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    assert!(verify_access_token(ring(), "https://issuer.example", token, 0).is_none());
    assert!(verify_own_id_token(ring(), "https://issuer.example", token).is_none());
});
