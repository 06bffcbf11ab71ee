//! Provider plugin files: any text either loads as a valid provider or is refused with a message.
#![no_main]

use bridgekeeper::upstream::config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = vec![("SECRET".to_string(), "s".to_string())];
    match config::parse(text, std::path::Path::new("providers/fuzz.toml"), &env) {
        Ok(p) => assert!(!p.id.is_empty()),
        Err(e) => assert!(e.starts_with("providers/fuzz.toml")),
    }
});
