//! Upstream JSON: discovery documents and userinfo/ID-token claims through the claim mapping.
#![no_main]

use bridgekeeper::upstream::config;
use bridgekeeper::upstream::mapping::identity_from_json;
use libfuzzer_sys::fuzz_target;

const PROVIDER: &str = "kind = \"oauth2\"\nclient_id = \"x\"\nauthorization_url = \"https://a/x\"\ntoken_url = \"https://a/t\"\nuserinfo_url = \"https://a/u\"\n[claims]\nsubject = \"/id\"\nemail = \"/emails/0/value\"\nemail_verified = \"/verified\"\ngroups = \"/orgs\"\n[[group_rules]]\nupstream = \"acme\"\ngroup = \"staff\"\n";

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<bridgekeeper::upstream::oidc::Metadata>(data);
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let p = config::parse(PROVIDER, std::path::Path::new("fuzz.toml"), &[]).unwrap();
    if let Some(ident) = identity_from_json(&p, "https://a", &doc) {
        assert!(!ident.subject.is_empty());
        assert!(ident.groups.iter().all(|g| g == "staff"), "only mapped groups are released");
    }
});
