//! A local Sign in with Apple, as Apple documents it: discovery, JWKS (`/auth/keys`), `/auth/authorize` answering
//! with a page that POSTs (`response_mode=form_post`) `code`, `state` and — on a person's first authorization only —
//! the `user` JSON to the redirect URI, and `/auth/token`, which accepts only a client secret that is an ES256 JWT
//! over the configured team key with `iss` = team id, `sub` = service id, `aud` = Apple's issuer and an `exp` at
//! most six months ahead, and answers with RS256 ID tokens (`email_verified` and `is_private_email` as strings).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use bridgekeeper::tokens::jws;
use bridgekeeper::tokens::keys::{Alg, SigningKey, generate};

pub const SERVICE_ID: &str = "com.example.broker";
pub const TEAM_ID: &str = "TEAM123456";
pub const KEY_ID: &str = "KEY1234567";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tamper {
    #[default]
    None,
    WrongAud,
    WrongIss,
    WrongNonce,
}

#[derive(Debug, Clone)]
pub struct AppleUser {
    pub sub: String,
    pub email: String,
    pub private_relay: bool,
    pub first: String,
    pub last: String,
}

struct Pending {
    nonce: Option<String>,
    challenge: Option<String>,
    redirect: String,
    user: AppleUser,
}

pub struct State {
    base: String,
    key: SigningKey,
    jwk: serde_json::Value,
    /// The public half of the team's `.p8` key (x, y of P-256), to check client secrets with.
    team_key: (String, String),
    pub user: AppleUser,
    pub tamper: Tamper,
    /// People who already authorized the service: Apple sends `user` only the first time.
    authorized: HashSet<String>,
    codes: HashMap<String, Pending>,
    /// The verified claims (and the header's kid) of every client secret received, and each secret as sent.
    pub client_secrets: Vec<(serde_json::Value, String)>,
    /// Token requests refused for their client secret.
    pub refused_secrets: usize,
    pub authorize_requests: Vec<HashMap<String, String>>,
    /// RFC 9207: when set, discovery advertises `authorization_response_iss_parameter_supported` and the answer
    /// posts `iss` (this value, `{base}` standing for the fake's issuer).
    pub iss_param: Option<String>,
}

#[derive(Clone)]
pub struct FakeApple {
    pub base: String,
    pub state: Arc<Mutex<State>>,
    /// The team key as a `.p8` (PKCS#8 PEM), for the broker's provider file.
    pub p8: String,
}

/// A new P-256 key: its PKCS#8 PEM and the public point's x, y (base64url).
pub fn team_key() -> (String, (String, String)) {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let k = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
    let point = k.public_key().as_ref().to_vec();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let body = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
    let lines: Vec<String> = body.as_bytes().chunks(64).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
    (pem, (b64(&point[1..33]), b64(&point[33..65])))
}

impl FakeApple {
    pub async fn start() -> FakeApple {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let row = generate(Alg::Rs256, 0, bridgekeeper::store::keys::KeyState::Current).unwrap();
        let (p8, team) = team_key();
        let state = Arc::new(Mutex::new(State {
            base: base.clone(),
            key: SigningKey::from_row(&row).unwrap(),
            jwk: serde_json::from_str(&row.public_jwk).unwrap(),
            team_key: team,
            user: AppleUser {
                sub: "001234.abcdef.0042".into(),
                email: "ada@example.com".into(),
                private_relay: false,
                first: "Ada".into(),
                last: "Lovelace".into(),
            },
            tamper: Tamper::None,
            authorized: HashSet::new(),
            codes: HashMap::new(),
            client_secrets: vec![],
            refused_secrets: 0,
            authorize_requests: vec![],
            iss_param: None,
        }));
        let data = web::Data::from(state.clone());
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .route("/.well-known/openid-configuration", web::get().to(discovery))
                .route("/auth/keys", web::get().to(keys))
                .route("/auth/authorize", web::get().to(authorize))
                .route("/auth/token", web::post().to(token))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        FakeApple { base, state, p8 }
    }

    /// A provider file for this fake (the key in `key_file`).
    pub fn toml(&self, id: &str, key_file: &std::path::Path, extra: &str) -> String {
        format!(
            "id = \"{id}\"\nkind = \"apple\"\ndisplay_name = \"Apple\"\nissuer = \"{}\"\nclient_id = \"{SERVICE_ID}\"\nteam_id = \"{TEAM_ID}\"\nkey_id = \"{KEY_ID}\"\nprivate_key_file = \"{}\"\nscopes = [\"name\", \"email\"]\n{extra}\n",
            self.base,
            key_file.display()
        )
    }

    pub fn set_user(&self, u: AppleUser) {
        self.state.lock().unwrap().user = u;
    }

    /// RFC 9207 `iss` in the answer (advertised in discovery); `{base}` is the fake's issuer.
    pub fn set_iss_param(&self, iss: Option<&str>) {
        self.state.lock().unwrap().iss_param = iss.map(String::from);
    }

    pub fn set_tamper(&self, t: Tamper) {
        self.state.lock().unwrap().tamper = t;
    }

    pub fn client_secrets(&self) -> Vec<(serde_json::Value, String)> {
        self.state.lock().unwrap().client_secrets.clone()
    }

    pub fn refused_secrets(&self) -> usize {
        self.state.lock().unwrap().refused_secrets
    }

    pub fn last_authorize(&self) -> HashMap<String, String> {
        self.state.lock().unwrap().authorize_requests.last().cloned().unwrap_or_default()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn form(s: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(s).into_owned().collect()
}

async fn discovery(st: web::Data<Mutex<State>>) -> HttpResponse {
    let (b, iss) = {
        let s = st.lock().unwrap();
        (s.base.clone(), s.iss_param.is_some())
    };
    let mut doc = serde_json::json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/auth/authorize"),
        "token_endpoint": format!("{b}/auth/token"),
        "revocation_endpoint": format!("{b}/auth/revoke"),
        "jwks_uri": format!("{b}/auth/keys"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "name"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "is_private_email", "iss", "nonce", "nonce_supported", "real_user_status", "sub", "transfer_sub"],
    });
    if iss {
        doc["authorization_response_iss_parameter_supported"] = true.into();
    }
    HttpResponse::Ok().json(doc)
}

async fn keys(st: web::Data<Mutex<State>>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"keys": [st.lock().unwrap().jwk]}))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Apple's consent, already given: the page that POSTs the answer to the redirect URI.
async fn authorize(st: web::Data<Mutex<State>>, req: HttpRequest) -> HttpResponse {
    let q = form(req.query_string().as_bytes());
    let mut s = st.lock().unwrap();
    s.authorize_requests.push(q.clone());
    let scopes = q.get("scope").cloned().unwrap_or_default();
    let wants_user_data = scopes.split(' ').any(|x| x == "name" || x == "email");
    if wants_user_data && q.get("response_mode").map(String::as_str) != Some("form_post") {
        return HttpResponse::BadRequest().body("invalid_request: response_mode must be form_post");
    }
    if q.get("client_id").map(String::as_str) != Some(SERVICE_ID) {
        return HttpResponse::BadRequest().body("invalid_client");
    }
    let code = bridgekeeper::secret::random_token();
    let user = s.user.clone();
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    let first = s.authorized.insert(user.sub.clone());
    s.codes.insert(
        code.clone(),
        Pending {
            nonce: q.get("nonce").cloned(),
            challenge: q.get("code_challenge").cloned(),
            redirect: redirect.clone(),
            user: user.clone(),
        },
    );
    let mut fields = vec![("code".to_string(), code)];
    if let Some(st) = q.get("state") {
        fields.push(("state".into(), st.clone()));
    }
    if let Some(iss) = &s.iss_param {
        fields.push(("iss".into(), iss.replace("{base}", &s.base)));
    }
    if first && wants_user_data {
        let u = serde_json::json!({"name": {"firstName": user.first, "lastName": user.last}, "email": user.email});
        fields.push(("user".into(), u.to_string()));
    }
    let inputs: String =
        fields.iter().map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", escape(v))).collect();
    HttpResponse::Ok()
        .content_type("text/html")
        .body(format!("<form method=\"post\" action=\"{}\">{inputs}</form>", escape(&redirect)))
}

/// Verifies the client secret as Apple does; `Some(claims)` when good.
fn check_secret(s: &State, secret: &str) -> Option<serde_json::Value> {
    let header = jsonwebtoken::decode_header(secret).ok()?;
    if header.alg != jsonwebtoken::Algorithm::ES256 || header.kid.as_deref() != Some(KEY_ID) {
        return None;
    }
    let key = jsonwebtoken::DecodingKey::from_ec_components(&s.team_key.0, &s.team_key.1).ok()?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&[s.base.as_str()]);
    v.set_issuer(&[TEAM_ID]);
    v.sub = Some(SERVICE_ID.into());
    v.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(secret, &key, &v).ok()?.claims;
    let (iat, exp) = (claims["iat"].as_i64()?, claims["exp"].as_i64()?);
    (exp - iat <= 15_777_000 && iat <= now() + 60).then_some(claims)
}

async fn token(st: web::Data<Mutex<State>>, body: web::Bytes) -> HttpResponse {
    let f = form(&body);
    let mut s = st.lock().unwrap();
    let bad = |e: &str| HttpResponse::BadRequest().json(serde_json::json!({"error": e}));
    let secret = f.get("client_secret").cloned().unwrap_or_default();
    let Some(claims) = check_secret(&s, &secret).filter(|_| f.get("client_id").map(String::as_str) == Some(SERVICE_ID))
    else {
        s.refused_secrets += 1;
        return bad("invalid_client");
    };
    s.client_secrets.push((claims, secret));
    if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return bad("unsupported_grant_type");
    }
    let Some(p) = f.get("code").and_then(|c| s.codes.remove(c)) else { return bad("invalid_grant") };
    if f.get("redirect_uri") != Some(&p.redirect) {
        return bad("invalid_grant");
    }
    match (&p.challenge, f.get("code_verifier")) {
        (Some(ch), Some(v)) if jws::pkce_matches(v, ch) => {}
        (None, None) => {}
        _ => return bad("invalid_grant"),
    }
    let at = bridgekeeper::secret::random_token();
    let (t, n) = (s.tamper, now());
    let mut id = serde_json::json!({
        "iss": if t == Tamper::WrongIss { "https://appleid.apple.com.evil".to_string() } else { s.base.clone() },
        "aud": if t == Tamper::WrongAud { "com.example.other".to_string() } else { SERVICE_ID.to_string() },
        "exp": n + 600, "iat": n, "auth_time": n,
        "sub": p.user.sub,
        "at_hash": jws::half_hash(&at),
        "email": p.user.email,
        "email_verified": "true",
        "is_private_email": if p.user.private_relay { "true" } else { "false" },
        "nonce_supported": true,
        "real_user_status": 2,
    });
    if let Some(nonce) = p.nonce {
        id["nonce"] = if t == Tamper::WrongNonce { "other".into() } else { nonce.into() };
    }
    let id_token = jws::sign(&s.key, "JWT", &id).unwrap();
    HttpResponse::Ok().json(serde_json::json!({
        "access_token": at, "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": bridgekeeper::secret::random_token(), "id_token": id_token,
    }))
}
