//! /healthz and /readyz, and the headers every response carries.

mod common;
use common::clients::ClientBuilder;

use common::TestApp;

#[actix_web::test]
async fn healthz_answers_and_carries_request_id_and_security_headers() {
    let app = TestApp::spawn().await;
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert!(h.get("x-request-id").is_some_and(|v| v.len() >= 8));
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(h.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer");
    assert!(h.get("content-security-policy").unwrap().to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(!h.get("content-security-policy").unwrap().to_str().unwrap().contains("unsafe-inline"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[actix_web::test]
async fn readyz_is_ready_with_database_and_keys() {
    let app = TestApp::spawn().await;
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["database"], true);
    assert_eq!(body["keys"], true);
}

#[actix_web::test]
async fn unknown_path_is_404_not_500() {
    let app = TestApp::spawn().await;
    let r = app.http.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

/// A TCP relay to PostgreSQL that the test can cut and restore, to play "database down".
struct Relay {
    port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (d, c) = (down.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if d.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: connection refused in effect
                }
                let target = target.clone();
                let h = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                c.lock().unwrap().push(h);
            }
        });
        Relay { port, down, conns }
    }

    fn cut(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

#[actix_web::test]
async fn readyz_fails_while_database_is_down_and_recovers_by_itself() {
    if !common::backend_is_postgres() {
        eprintln!("skipped on SQLite: an embedded database cannot go away; runs in the PostgreSQL pass");
        return;
    }
    let db = common::test_db();
    let url = url::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = Relay::start(target).await;
    let mut via = url.clone();
    via.set_port(Some(relay.port)).unwrap();
    let via = via.to_string();
    let app = TestApp::spawn_with(move |s| {
        s.database_url = via;
        s.database.connect_timeout_secs = 2;
        s.database.checkout_timeout_ms = 2000;
    })
    .await;
    let ready = || async { app.http.get(app.url("/readyz")).send().await.unwrap().status().as_u16() };
    assert_eq!(ready().await, 200);
    relay.cut();
    let status = ready().await;
    assert_eq!(status, 503, "readyz must report the outage");
    relay.restore();
    let mut recovered = false;
    for _ in 0..20 {
        if ready().await == 200 {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "readyz must recover without a restart");
}

#[actix_web::test]
async fn token_endpoint_answers_503_json_while_the_database_is_down_and_recovers() {
    if !common::backend_is_postgres() {
        eprintln!("skipped on SQLite: an embedded database cannot go away; runs in the PostgreSQL pass");
        return;
    }
    let db = common::test_db();
    let url = url::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = Relay::start(target).await;
    let mut via = url.clone();
    via.set_port(Some(relay.port)).unwrap();
    let via = via.to_string();
    let app = TestApp::spawn_with(move |s| {
        s.database_url = via;
        s.database.connect_timeout_secs = 2;
        s.database.checkout_timeout_ms = 2000;
        s.clients = vec![
            ClientBuilder::confidential("m2m", "pw")
                .scopes(&["email"])
                .grants(&["client_credentials", "refresh_token"])
                .build(),
        ];
    })
    .await;
    let cc = || async {
        app.http
            .post(app.url("/token"))
            .basic_auth("m2m", Some("pw"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    };
    assert_eq!(cc().await.status(), 200);
    // A refresh needs the database whatever is cached (client rows are cached briefly).
    let refresh = || async {
        app.http
            .post(app.url("/token"))
            .basic_auth("m2m", Some("pw"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "not-a-token")])
            .send()
            .await
            .unwrap()
    };
    relay.cut();
    for _ in 0..3 {
        let r = refresh().await;
        assert_eq!(r.status(), 503, "503 while the database is down, never 500");
        assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    let page = app.http.get(app.url("/authorize?client_id=m2m&response_type=code")).send().await.unwrap();
    assert_eq!(page.status(), 503, "people get a readable 503 page");
    assert!(page.text().await.unwrap().contains("Temporarily unavailable"));
    relay.restore();
    let mut ok = false;
    for _ in 0..20 {
        if refresh().await.status() == 400 && cc().await.status() == 200 {
            ok = true;
            break;
        }
    }
    assert!(ok, "full recovery without a restart");
}
