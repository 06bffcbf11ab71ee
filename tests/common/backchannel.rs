//! An app's back-channel logout endpoint for tests, and how an RP checks what it receives.
#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::TestApp;
use super::oauth::verify_jwt;

pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// An app's back-channel logout endpoint: records every `logout_token` it is sent and answers 200.
pub struct Receiver {
    addr: std::net::SocketAddr,
    got: Arc<Mutex<Vec<String>>>,
    handle: Option<actix_web::dev::ServerHandle>,
    /// While down: the port, bound but not listening (a connection is refused), so that no other test can take
    /// it before `up`.
    reserved: Option<socket2::Socket>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::start_on(listener, Arc::default())
    }

    /// An address where nothing listens yet (the app is down); `up` starts it there later. The port stays
    /// reserved meanwhile: binding one, dropping it and binding it again later let another test take it first.
    pub fn down() -> Receiver {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        Receiver { addr, got: Arc::default(), handle: None, reserved: Some(socket) }
    }

    /// Nothing listens at `addr` yet; `up` starts it there.
    pub fn down_at(addr: std::net::SocketAddr) -> Receiver {
        Receiver { addr, got: Arc::default(), handle: None, reserved: None }
    }

    pub fn up(&mut self) {
        let listener = match self.reserved.take() {
            Some(socket) => {
                socket.listen(128).unwrap();
                TcpListener::from(socket)
            }
            None => TcpListener::bind(self.addr).unwrap(),
        };
        let r = Self::start_on(listener, self.got.clone());
        self.handle = r.handle;
    }

    fn start_on(listener: TcpListener, got: Arc<Mutex<Vec<String>>>) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let sink = got.clone();
        let server = actix_web::HttpServer::new(move || {
            let sink = sink.clone();
            actix_web::App::new().route(
                "/bc",
                actix_web::web::post().to(move |form: actix_web::web::Form<Vec<(String, String)>>| {
                    let sink = sink.clone();
                    async move {
                        for (k, v) in form.into_inner() {
                            if k == "logout_token" {
                                sink.lock().unwrap().push(v);
                            }
                        }
                        actix_web::HttpResponse::Ok().finish()
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        Receiver { addr, got, handle: Some(super::run_in_background(server)), reserved: None }
    }

    pub fn uri(&self) -> String {
        format!("http://{}/bc", self.addr)
    }

    pub fn tokens(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }
}

/// Polls until `cond` holds, or fails after `secs`.
pub async fn until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// [BL-2] Verifies a Logout Token as an RP must (§2.6) with the broker's JWKS; returns its claims.
pub async fn verified_logout_token(app: &TestApp, token: &str, aud: &str) -> Value {
    let (header, claims) = verify_jwt(app, token).await;
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(claims["iss"], app.base.as_str());
    assert_eq!(claims["aud"], aud);
    let now = app.clock.now();
    assert!(claims["iat"].as_i64().unwrap() <= now && claims["exp"].as_i64().unwrap() > now);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    assert_eq!(claims["events"], serde_json::json!({ EVENT: {} }));
    assert!(claims.get("nonce").is_none(), "a logout token never carries a nonce");
    claims
}

/// A claim of a JWT without verifying it (the test verified it already).
pub fn verify_jwt_claim(token: &str, name: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v[name].as_str().unwrap().to_string()
}
