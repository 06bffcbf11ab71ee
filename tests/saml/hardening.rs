//! [SA-11] [SA-1] [SA-9] Attack-review findings against the real IdP's signed answers: what xmlsec must never be
//! given (References outside the document, transforms that compute or fetch), metadata fetching, body sizes.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::fixture::{PROVIDER, Setup, World, identities, to_idp};

/// A local TCP listener that counts the connections it accepts (each is closed at once). A connection is counted
/// before it is closed, and whoever connected sees the close only after that: counting after the broker answered
/// is deterministic.
struct Listener {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Listener {
    fn start() -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(s);
            }
        });
        Listener { port, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// One sign-in whose IdP answer is changed by `hooks`: the broker must answer it quickly with the readable
/// refusal page (400, HTML), never a 500 or a hang.
async fn refused_quickly(w: &World, hooks: &str) {
    let browser = w.app.view();
    let p = to_idp(&browser, &format!("/login/{PROVIDER}"), hooks).await;
    let form = [("SAMLResponse", p.saml_response.as_str()), ("RelayState", p.relay_state.as_str())];
    let r = browser
        .http
        .post(w.app.url(&format!("/callback/{PROVIDER}")))
        .timeout(Duration::from_secs(10))
        .form(&form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{hooks}: no answer in time ({e})"));
    assert_eq!(r.status(), 400, "{hooks}");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{hooks}");
    let page = r.text().await.unwrap();
    assert!(page.contains("<html") || page.contains("<!DOCTYPE"), "{hooks}: {page}");
}

#[actix_web::test]
async fn sa_11_a_reference_uri_outside_the_document_is_refused_before_xmlsec() {
    let w = World::start().await;
    let l = Listener::start();
    refused_quickly(&w, &format!("ref=http&port={}", l.port)).await;
    assert_eq!(l.hits(), 0, "xmlsec was handed a Reference to a URL and fetched it");
    assert!(identities(&w.app).await.is_empty());
    assert!(super::fixture::sign_in(&w, "").await.is_ok(), "an honest answer still works");
}

#[actix_web::test]
async fn sa_11_file_dev_zero_reference_is_refused() {
    let w = World::start().await;
    refused_quickly(&w, "ref=file").await;
    assert!(identities(&w.app).await.is_empty());
}

#[actix_web::test]
async fn sa_11_xpath_xslt_and_unknown_transforms_are_refused() {
    let w = World::start().await;
    let l = Listener::start();
    for t in ["xslt", "xpath", "unknown", "c14n-comments"] {
        refused_quickly(&w, &format!("transform={t}&port={}", l.port)).await;
    }
    assert_eq!(l.hits(), 0, "an XSLT transform's document() was run");
    assert!(identities(&w.app).await.is_empty());
}

#[actix_web::test]
async fn sa_11_more_than_two_signatures_or_references_are_refused() {
    let w = World::start().await;
    let l = Listener::start();
    refused_quickly(&w, &format!("refs=2&port={}", l.port)).await;
    assert_eq!(l.hits(), 0, "a second Reference (to a URL) was processed");
    refused_quickly(&w, "sigs=3").await;
    assert!(identities(&w.app).await.is_empty());
}

/// [SA-1] Metadata that cannot be fetched is not fetched again by every anonymous `GET /login/{id}`.
#[actix_web::test]
async fn sa_1_a_failing_metadata_url_is_fetched_at_most_once_per_interval() {
    let l = Listener::start();
    let dir = tempfile::tempdir().unwrap();
    let providers = dir.path().join("providers");
    std::fs::create_dir(&providers).unwrap();
    std::fs::write(dir.path().join("idp.xml"), "").unwrap();
    let line = format!("idp_metadata_url = \"http://127.0.0.1:{}/metadata\"", l.port);
    let toml = super::fixture::provider_toml(dir.path(), Some(&line), "idp", "");
    std::fs::write(providers.join(format!("{PROVIDER}.toml")), toml).unwrap();
    let app = crate::common::TestApp::spawn_with(|s| s.providers_dir = providers).await;
    for _ in 0..4 {
        let r = app.http.get(app.url(&format!("/login/{PROVIDER}"))).send().await.unwrap();
        assert_eq!(r.status(), 502);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    }
    // The start-up check (`warm_up`, in the background) fetches once too, before or after the first sign-in.
    let hits = l.hits();
    assert!((1..=2).contains(&hits), "4 sign-ins and the start-up check fetched the failing URL {hits} times");
}

/// [SA-9] A big (100 KiB) answer reaches the SAML checks and gets the readable refusal page; one over the limit
/// gets a readable 413 page.
#[actix_web::test]
async fn sa_9_a_100_kib_saml_response_gets_a_readable_page_not_a_bare_413() {
    let w = World::start_full(Setup::default(), |_| {}).await;
    let browser = w.app.view();
    let p = to_idp(&browser, &format!("/login/{PROVIDER}"), "").await;
    let url = w.app.url(&format!("/callback/{PROVIDER}"));
    for (size, want) in [(100 * 1024, 400), (1024 * 1024, 413)] {
        let big = "A".repeat(size);
        let form = [("SAMLResponse", big.as_str()), ("RelayState", p.relay_state.as_str())];
        let r = browser.http.post(&url).form(&form).send().await.unwrap();
        assert_eq!(r.status(), want, "{size}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{size}");
        assert!(r.text().await.unwrap().contains("<html"), "{size}: a readable page");
    }
    assert!(identities(&w.app).await.is_empty());
}
