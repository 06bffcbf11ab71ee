//! Issue #16, traces: the real binary with `[otel]` pointed at an OTLP/HTTP receiver in this test (protobuf,
//! decoded with `opentelemetry-proto`). A request is a server span named by its route template; a sign-in through
//! the fake upstream has the upstream calls as child spans; a `traceparent` is honoured; no span carries a token,
//! code, email or user id; a collector that hangs changes no answer, and the broker still stops promptly.

mod common;

use std::io::BufRead;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use common::fake_idp::FakeIdp;
use common::oauth::{RP, enc, location, param};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::sync::mpsc;

const SECRET: &str = "otel-client-secret-4711";
const ADMIN_SECRET: &str = "otel-admin-secret-0815";

/// One export the receiver got: its bytes as sent, and the request decoded.
type Export = (Vec<u8>, ExportTraceServiceRequest);

/// An OTLP/HTTP collector on 127.0.0.1: every POST to `/v1/traces`, decoded, on a channel.
struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<Export>,
    got: Vec<Export>,
    _handle: actix_web::dev::ServerHandle,
}

async fn receiver() -> Receiver {
    let (tx, rx) = mpsc::unbounded_channel::<Export>();
    let (listener, url) = common::local_listener();
    let server = HttpServer::new(move || {
        let tx = tx.clone();
        App::new().app_data(web::PayloadConfig::new(16 << 20)).route(
            "/v1/traces",
            web::post().to(move |body: web::Bytes| {
                let tx = tx.clone();
                async move {
                    let decoded = ExportTraceServiceRequest::decode(body.as_ref()).expect("an OTLP protobuf export");
                    let _ = tx.send((body.to_vec(), decoded));
                    HttpResponse::Ok().content_type("application/x-protobuf").body(Vec::new())
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    Receiver { url, rx, got: Vec::new(), _handle: common::run_in_background(server) }
}

impl Receiver {
    fn spans(&self) -> Vec<Span> {
        self.got
            .iter()
            .flat_map(|(_, r)| r.resource_spans.iter())
            .flat_map(|r| r.scope_spans.iter())
            .flat_map(|s| s.spans.iter().cloned())
            .collect()
    }

    /// Waits (on the channel, at most 20 s) until the spans received satisfy `done`.
    async fn until(&mut self, what: &str, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(export)) => self.got.push(export),
                _ => panic!("{what}: not received; spans: {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()),
            }
        }
    }
}

fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a Any> {
    s.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
}

fn text_attr(s: &Span, key: &str) -> String {
    match attr(s, key) {
        Some(Any::StringValue(v)) => v.clone(),
        Some(Any::IntValue(v)) => v.to_string(),
        other => format!("{other:?}"),
    }
}

/// The broker as a process, its log lines read on a thread.
struct Broker {
    child: std::process::Child,
    base: String,
    metrics: String,
    _dir: tempfile::TempDir,
    _db: common::TestDb,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bridgekeeper serve` with the fake IdP as provider `acme`, client `app`, and `otel` as its `[otel]`
/// section; returns once it logged that it is ready.
async fn broker(idp: &FakeIdp, otel: &str) -> Broker {
    let db = common::test_db();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/acme.toml"), idp.oidc_toml("acme", "")).unwrap();
    let (port, metrics_port) = (common::free_port(), common::free_port());
    let cfg = format!(
        "issuer = \"http://127.0.0.1:{port}\"\nbind = \"127.0.0.1:{port}\"\nmetrics_bind = \"127.0.0.1:{metrics_port}\"\n\
         database_url = \"{}\"\nproviders_dir = \"providers\"\nencryption_keys = \"{}\"\n\
         [[clients]]\nclient_id = \"app\"\nclient_secret = \"{SECRET}\"\nredirect_uris = [\"{RP}\"]\n\
         allowed_scopes = [\"openid\", \"email\", \"offline_access\"]\nskip_consent = true\n\
         [[clients]]\nclient_id = \"ops\"\nclient_secret = \"{ADMIN_SECRET}\"\nallowed_scopes = [\"admin\"]\n\
         grant_types = [\"client_credentials\"]\nredirect_uris = []\n\
         [otel]\nservice_name = \"bk-under-test\"\n{otel}\n",
        db.url,
        common::TEST_ENCRYPTION_KEYS
    );
    std::fs::write(dir.path().join("config.toml"), cfg).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bridgekeeper"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("BRIDGEKEEPER__") || k.starts_with("OTEL_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .args(["--config", dir.path().join("config.toml").to_str().unwrap(), "serve"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, mut lines) = mpsc::unbounded_channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Some(l)) if l.contains("bridgekeeper is ready") => break,
            Ok(Some(l)) => seen.push(l),
            _ => panic!("the broker did not start: {}", seen.join("\n")),
        }
    }
    // Later lines are drained (and dropped) so that the pipe never fills.
    tokio::spawn(async move { while lines.recv().await.is_some() {} });
    let base = format!("http://127.0.0.1:{port}");
    Broker { child, base, metrics: format!("http://127.0.0.1:{metrics_port}/metrics"), _dir: dir, _db: db }
}

impl Broker {
    /// SIGTERM, then the exit status (at most `within`).
    async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < within, "the broker did not stop within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What one sign-in through the fake upstream left in the test's hands (every value that must stay out of traces).
struct SignIn {
    upstream_code: String,
    upstream_state: String,
    code: String,
    tokens: Vec<String>,
    user_id: String,
}

async fn sign_in(b: &Broker, http: &reqwest::Client) -> SignIn {
    let q = [
        ("client_id", "app"),
        ("redirect_uri", RP),
        ("response_type", "code"),
        ("scope", "openid email offline_access"),
        ("state", "app-state-1"),
        ("nonce", "app-nonce-1"),
    ];
    let mut r = http.get(format!("{}/authorize", b.base)).query(&q).send().await.unwrap();
    let (mut upstream_code, mut upstream_state) = (String::new(), String::new());
    for _ in 0..12 {
        assert!(r.status().is_redirection(), "{}: {}", r.status(), r.text().await.unwrap());
        let loc = location(&r);
        if loc.starts_with(RP) {
            let code = param(&loc, "code").unwrap();
            let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", RP)];
            let t: serde_json::Value = http
                .post(format!("{}/token", b.base))
                .basic_auth(enc("app"), Some(enc(SECRET)))
                .form(&form)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let at = t["access_token"].as_str().unwrap().to_string();
            let info: serde_json::Value =
                http.get(format!("{}/userinfo", b.base)).bearer_auth(&at).send().await.unwrap().json().await.unwrap();
            let tokens = ["access_token", "refresh_token", "id_token"].map(|k| t[k].as_str().unwrap().to_string());
            let user_id = info["sub"].as_str().unwrap().to_string();
            return SignIn { upstream_code, upstream_state, code, tokens: tokens.to_vec(), user_id };
        }
        if loc.contains("/callback/acme") {
            upstream_code = param(&loc, "code").unwrap();
            upstream_state = param(&loc, "state").unwrap();
        }
        let url = if loc.starts_with('/') { format!("{}{loc}", b.base) } else { loc };
        r = http.get(url).send().await.unwrap();
    }
    panic!("the sign-in did not end");
}

/// [OT-1] [OT-2] [OT-4] One server span per request named by its route template; the upstream calls of a sign-in
/// are its child spans in the same trace; an incoming traceparent is the parent; nothing secret or personal in
/// any export; [OT-3] what is queued at SIGTERM is sent before the process ends (the batch timer never fires
/// here: everything arrives by the shutdown flush).
#[actix_web::test]
async fn ot_1_2_4_requests_and_upstream_calls_are_spans_without_secrets_and_traceparent_is_honoured() {
    let mut rx = receiver().await;
    let idp = FakeIdp::start().await;
    let otel = format!(
        "endpoint = \"{}\"\ntrust_traceparent = true\nbatch_interval_ms = 60000\nbatch_size = 4096\nqueue_size = 4096",
        rx.url
    );
    let mut b = broker(&idp, &otel).await;
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();

    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let r = http
        .get(format!("{}/.well-known/openid-configuration", b.base))
        .header("traceparent", format!("00-{trace}-{parent}-01"))
        .header("tracestate", "vendor=ada@upstream.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s = sign_in(&b, &http).await;
    assert!(b.terminate(Duration::from_secs(30)).await.success());

    let callback = |spans: &[Span]| spans.iter().find(|x| x.name == "GET /callback/{provider}").cloned();
    let spans = rx
        .until("the callback's span and its upstream token call", |spans| {
            callback(spans)
                .is_some_and(|cb| spans.iter().any(|x| x.name == "upstream token" && x.parent_span_id == cb.span_id))
        })
        .await;
    // The server span: route template, method, status, request id; kind SERVER.
    let cb = callback(&spans).unwrap();
    assert_eq!(cb.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(text_attr(&cb, "http.route"), "/callback/{provider}");
    assert_eq!(text_attr(&cb, "http.request.method"), "GET");
    assert_eq!(text_attr(&cb, "http.response.status_code"), "303");
    // The upstream calls of the callback: children of its span, in its trace, kind CLIENT.
    let token = spans.iter().find(|x| x.name == "upstream token" && x.parent_span_id == cb.span_id).unwrap();
    assert_eq!(token.trace_id, cb.trace_id);
    assert_eq!(token.kind, 3, "SPAN_KIND_CLIENT");
    assert_eq!(text_attr(token, "bridgekeeper.provider"), "acme");
    assert_eq!(text_attr(token, "http.request.method"), "POST");
    assert_eq!(text_attr(token, "http.response.status_code"), "200");
    assert_eq!(text_attr(token, "server.address"), "127.0.0.1");
    let children: Vec<&str> =
        spans.iter().filter(|x| x.parent_span_id == cb.span_id).map(|x| x.name.as_str()).collect();
    assert!(children.contains(&"upstream userinfo"), "{children:?}");
    for route in ["GET /authorize", "GET /login/{provider}", "POST /token", "GET /userinfo"] {
        assert!(spans.iter().any(|x| x.name == route), "{route}");
    }
    // [OT-4] The traceparent's trace, with its span as the parent; the tracestate is not carried.
    let discovery = spans.iter().find(|x| x.name == "GET /.well-known/openid-configuration").unwrap();
    assert_eq!(hex(&discovery.trace_id), trace);
    assert_eq!(hex(&discovery.parent_span_id), parent);
    assert_eq!(discovery.trace_state, "");
    assert!(spans.iter().filter(|x| x.trace_id == discovery.trace_id).count() == 1, "one request, one span");
    // A sign-in request without traceparent starts a trace of its own.
    assert_ne!(cb.trace_id, discovery.trace_id);
    // The resource names the service.
    let resource = rx.got[0].1.resource_spans[0].resource.clone().unwrap();
    assert!(resource.attributes.iter().any(|kv| kv.key == "service.name"
        && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Any::StringValue(v)) if v == "bk-under-test")));

    // [OT-2] Only the attributes the broker writes, and no secret or personal value anywhere in any export.
    let allowed = [
        "http.request.method",
        "http.route",
        "http.response.status_code",
        "request_id",
        "bridgekeeper.provider",
        "bridgekeeper.upstream_call",
        "server.address",
    ];
    for x in &spans {
        for kv in &x.attributes {
            assert!(allowed.contains(&kv.key.as_str()), "{}: attribute {}", x.name, kv.key);
        }
        assert!(x.events.is_empty(), "{}: log events are not exported", x.name);
    }
    let mut secrets = vec![
        s.upstream_code.clone(),
        s.upstream_state.clone(),
        s.code.clone(),
        s.user_id.clone(),
        SECRET.to_string(),
        "ada@upstream.test".into(),
        "upstream-sub-1".into(),
        "app-state-1".into(),
        "app-nonce-1".into(),
    ];
    secrets.extend(s.tokens.iter().cloned());
    assert!(rx.got.iter().any(|(raw, _)| contains(raw, b"/callback/{provider}")), "strings are searchable as sent");
    for (raw, _) in &rx.got {
        for secret in &secrets {
            assert!(!contains(raw, secret.as_bytes()), "an export holds {secret}");
        }
    }
    idp.stop().await;
}

/// [OT-3] A collector that accepts connections and never answers: every request is answered as usual, spans
/// beyond the queue are dropped and counted, and SIGTERM still ends the broker promptly (the shutdown flush is
/// bounded by `export_timeout_secs`).
#[actix_web::test]
async fn ot_3_a_collector_that_hangs_changes_no_answer_and_drops_are_counted() {
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let idp = FakeIdp::start().await;
    let otel = format!(
        "endpoint = \"http://{}\"\nexport_timeout_secs = 1\nqueue_size = 1\nbatch_size = 1\nbatch_interval_ms = 10",
        hang.local_addr().unwrap()
    );
    let mut b = broker(&idp, &otel).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for _ in 0..30 {
        let r = http.get(format!("{}/.well-known/openid-configuration", b.base)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(http.get(format!("{}/healthz", b.base)).send().await.unwrap().status(), 200);
    }
    let r = http.get(format!("{}/login/acme", b.base)).send().await.unwrap();
    assert_eq!(r.status(), 302, "a sign-in starts as usual");
    let text = http.get(&b.metrics).send().await.unwrap().text().await.unwrap();
    let dropped: f64 = text
        .lines()
        .filter(|l| l.starts_with("bridgekeeper_otel_spans_dropped_total{reason=\"queue_full\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(dropped >= 1.0, "spans beyond the queue are counted: {text}");
    assert!(b.terminate(Duration::from_secs(30)).await.success());
    drop(hang);
    idp.stop().await;
}

/// `[otel]` sending to `rx` at shutdown only (the batch timer never fires), with `more`.
fn at_shutdown(rx: &Receiver, more: &str) -> String {
    format!("endpoint = \"{}\"\nbatch_interval_ms = 60000\nbatch_size = 4096\nqueue_size = 4096\n{more}", rx.url)
}

/// Every export `rx` got until now (call after the broker ended: its shutdown flush has been answered).
fn drain(rx: &mut Receiver) -> Vec<Span> {
    while let Ok(export) = rx.rx.try_recv() {
        rx.got.push(export);
    }
    rx.spans()
}

async fn discovery_with(b: &Broker, traceparent: &str) {
    let r = reqwest::Client::new()
        .get(format!("{}/.well-known/openid-configuration", b.base))
        .header("traceparent", traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// [OT-4] Even with `trust_traceparent`, the caller chooses neither its request's sampling nor its trace's: flag 00
/// does not hide a request from a broker that samples everything, and flag 01 does not get one recorded by a
/// broker that samples nothing (no flood of the bounded queue); only the trace id and parent are taken. Both
/// brokers export to one receiver, and the one that samples nothing ends first (its shutdown flush answered before
/// it exits): the other's spans arriving there is the positive control that the receiver, and a flush, work.
#[actix_web::test]
async fn ot_4_a_trusted_traceparent_never_decides_the_sampling() {
    let mut rx = receiver().await;
    let idp = FakeIdp::start().await;
    let mut all = broker(&idp, &at_shutdown(&rx, "trust_traceparent = true\nsampling_ratio = 1.0")).await;
    let mut none = broker(&idp, &at_shutdown(&rx, "trust_traceparent = true\nsampling_ratio = 0.0")).await;
    let (trace, parent) = ("5bf92f3577b34da6a3ce929d0e0e4736", "10f067aa0ba902b7");
    let forced_trace = "7bf92f3577b34da6a3ce929d0e0e4736";
    discovery_with(&all, &format!("00-{trace}-{parent}-00")).await;
    for _ in 0..20 {
        discovery_with(&none, &format!("00-{forced_trace}-{parent}-01")).await;
    }
    assert!(none.terminate(Duration::from_secs(30)).await.success());
    assert!(all.terminate(Duration::from_secs(30)).await.success());
    let spans = rx.until("the unsampled caller's request", |s| s.iter().any(|x| hex(&x.trace_id) == trace)).await;
    let span = spans.iter().find(|x| hex(&x.trace_id) == trace).unwrap();
    assert_eq!(
        (span.name.as_str(), hex(&span.parent_span_id)),
        ("GET /.well-known/openid-configuration", parent.into())
    );
    let forced: Vec<String> =
        drain(&mut rx).iter().filter(|x| hex(&x.trace_id) == forced_trace).map(|x| x.name.clone()).collect();
    assert!(forced.is_empty(), "sampling_ratio = 0 records nothing, whatever the caller's flag: {forced:?}");
    idp.stop().await;
}

/// [OT-4] By default a `traceparent` is not trusted: the request's span starts a trace of its own. [OT-2] The call
/// to a registered client's `jwks_uri` (a host that client chose) is a span without that host.
#[actix_web::test]
async fn ot_2_4_by_default_a_traceparent_is_ignored_and_a_registered_clients_host_is_not_recorded() {
    let mut rx = receiver().await;
    let idp = FakeIdp::start().await;
    let mut b = broker(&idp, &at_shutdown(&rx, "")).await;
    let (trace, parent) = ("6bf92f3577b34da6a3ce929d0e0e4736", "20f067aa0ba902b7");
    discovery_with(&b, &format!("00-{trace}-{parent}-01")).await;
    let http = reqwest::Client::new();
    let form = [("grant_type", "client_credentials"), ("scope", "admin")];
    let t: serde_json::Value = http
        .post(format!("{}/token", b.base))
        .basic_auth("ops", Some(ADMIN_SECRET))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = t["access_token"].as_str().expect("an admin token").to_string();
    let client = serde_json::json!({"client_id": "remote", "name": "Remote", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://127.0.0.1:9/chosen-by-the-client"});
    let r = http.post(format!("{}/admin/api/clients", b.base)).bearer_auth(&admin).json(&client).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let assertion = format!(
        "{}.{}.AAAA",
        b64(serde_json::json!({"alg": "ES256", "kid": "k1"})),
        b64(serde_json::json!({"iss": "remote", "sub": "remote", "aud": b.base, "exp": 4_000_000_000u64, "jti": "j1"}))
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "remote"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion.as_str()),
    ];
    let r = http.post(format!("{}/token", b.base)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 401, "its keys cannot be fetched");
    assert!(b.terminate(Duration::from_secs(30)).await.success());
    let fetch = |s: &[Span]| s.iter().find(|x| text_attr(x, "bridgekeeper.provider") == "client-jwks").cloned();
    let spans = rx.until("the jwks_uri fetch", |s| fetch(s).is_some()).await;
    let jwks = fetch(&spans).unwrap();
    assert_eq!(text_attr(&jwks, "server.address"), "registered-client", "never the client's host");
    let discovery = spans.iter().find(|x| x.name == "GET /.well-known/openid-configuration").unwrap();
    assert_ne!(hex(&discovery.trace_id), trace, "a trace of its own");
    assert!(discovery.parent_span_id.is_empty(), "and no parent");
    idp.stop().await;
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
