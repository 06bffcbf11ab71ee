//! A local upstream for tests: an OpenID Provider (discovery, JWKS, authorize, token, userinfo) and a
//! GitHub-shaped OAuth2 API (authorize, token, /user, /user/emails, /user/orgs), with knobs to make every
//! verification the broker does fail on purpose.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use bridgekeeper::tokens::jws;
use bridgekeeper::tokens::keys::{Alg, SigningKey, generate};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tamper {
    #[default]
    None,
    BadSignature,
    WrongIss,
    WrongAud,
    WrongNonce,
    Expired,
    NoIssParam,
    WrongIssParam,
    BadAtHash,
    UserinfoOtherSub,
    NoIdToken,
    AlgNone,
    /// Reports an authentication from an hour ago (ignores prompt=login).
    StaleAuthTime,
    /// The token endpoint answers after 3 seconds.
    Slow,
    /// The token endpoint answers 200 with an HTML page.
    Garbage,
    /// The token endpoint answers 200 with 2 MB of JSON.
    Huge,
    /// The token response names no `scope` (RFC 6749 §5.1: the scopes asked were granted).
    NoScope,
    /// The ID token names another client as its `azp` (its `aud` is still ours).
    OtherAzp,
}

#[derive(Debug, Clone)]
pub struct User {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: String,
    pub groups: Vec<String>,
    pub github_orgs: Vec<String>,
    /// Microsoft multi-tenant: the person's tenant and object id (`tid`, `oid`); with a tenant, the ID token's
    /// `iss` is `{base}/{tid}/v2.0` and the authorization response carries no `iss` (as Entra ID).
    pub tid: Option<String>,
    pub oid: Option<String>,
}

impl User {
    pub fn new(sub: &str, email: &str) -> Self {
        User {
            sub: sub.into(),
            email: Some(email.into()),
            email_verified: true,
            name: format!("User {sub}"),
            groups: vec![],
            github_orgs: vec![],
            tid: None,
            oid: None,
        }
    }
}

struct Pending {
    nonce: Option<String>,
    challenge: Option<String>,
    user: User,
    /// The scopes asked for (the token response grants them).
    scope: String,
}

pub struct State {
    pub base: String,
    key: SigningKey,
    rogue: SigningKey,
    jwk: serde_json::Value,
    pub user: User,
    pub tamper: Tamper,
    pub advertise_iss: bool,
    codes: HashMap<String, Pending>,
    tokens: HashMap<String, User>,
    refresh_tokens: HashMap<String, User>,
    /// Upstream subjects whose accounts are disabled: their refresh tokens are refused.
    pub disabled: Vec<String>,
    /// Query strings of authorization requests seen.
    pub authorize_requests: Vec<HashMap<String, String>>,
    /// Form bodies of token requests seen.
    pub token_requests: Vec<HashMap<String, String>>,
    /// The `sid` put in ID tokens (the upstream's session), if any.
    pub sid: Option<String>,
    /// Every ID token issued, and the query strings of end-session requests seen.
    pub id_tokens: Vec<String>,
    pub end_session_requests: Vec<HashMap<String, String>>,
    /// `expires_in` of the access tokens issued (seconds).
    pub access_ttl: i64,
    /// Refresh requests wait this long before they are answered (so that concurrent callers pile up).
    pub refresh_delay_ms: u64,
    /// Refresh requests answer 503 with an HTML page (the upstream is down).
    pub refresh_down: bool,
    /// How many refresh requests were answered with new tokens.
    pub refreshes: usize,
    /// How many refresh requests arrived (counted before the delay).
    pub refresh_requests_seen: usize,
    /// How often the JWKS was fetched.
    pub jwks_requests: usize,
    /// Whether discovery names an `end_session_endpoint`.
    pub advertise_end_session: bool,
    /// Multi-tenant: the tenant the ID token's `iss` names instead of the person's `tid` (a forged token).
    pub iss_tenant: Option<String>,
    /// The `issuer` member of the published key (as Microsoft's keys carry), if any.
    pub key_issuer: Option<String>,
    /// A second published key and its `issuer` member; with `sign_with_second`, it signs the ID tokens.
    second: Option<(SigningKey, serde_json::Value)>,
    pub sign_with_second: bool,
    /// Multi-tenant RFC 9207: discovery advertises `authorization_response_iss_parameter_supported`.
    pub ms_advertise_iss: bool,
    /// Multi-tenant RFC 9207: the answer posts `iss` naming this tenant (none when `None`).
    pub ms_iss_param: Option<String>,
    /// The ID token's `email_verified` as sent (a string, say) instead of the person's boolean.
    pub email_verified_claim: Option<serde_json::Value>,
}

#[derive(Clone)]
pub struct FakeIdp {
    pub base: String,
    pub state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

pub const CLIENT_ID: &str = "broker";
pub const CLIENT_SECRET: &str = "upstream-secret";

impl FakeIdp {
    pub async fn start() -> FakeIdp {
        let (listener, base) = super::local_listener();
        let row = generate(Alg::Rs256, 0, bridgekeeper::store::keys::KeyState::Current).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&row.public_jwk).unwrap();
        let state = Arc::new(Mutex::new(State {
            base: base.clone(),
            key: SigningKey::from_row(&row).unwrap(),
            rogue: SigningKey::from_row(
                &generate(Alg::Rs256, 0, bridgekeeper::store::keys::KeyState::Current).unwrap(),
            )
            .unwrap(),
            jwk,
            user: User::new("upstream-sub-1", "ada@upstream.test"),
            tamper: Tamper::None,
            advertise_iss: true,
            codes: HashMap::new(),
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            disabled: vec![],
            authorize_requests: vec![],
            token_requests: vec![],
            sid: None,
            id_tokens: vec![],
            end_session_requests: vec![],
            access_ttl: 300,
            refresh_delay_ms: 0,
            refresh_down: false,
            refreshes: 0,
            refresh_requests_seen: 0,
            jwks_requests: 0,
            advertise_end_session: true,
            iss_tenant: None,
            key_issuer: None,
            second: None,
            sign_with_second: false,
            email_verified_claim: None,
            ms_advertise_iss: false,
            ms_iss_param: None,
        }));
        let data = web::Data::from(state.clone());
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .route("/.well-known/openid-configuration", web::get().to(discovery))
                .route("/jwks", web::get().to(jwks))
                .route("/organizations/v2.0/.well-known/openid-configuration", web::get().to(ms_discovery))
                .route("/common/v2.0/.well-known/openid-configuration", web::get().to(ms_discovery))
                .route("/authorize", web::get().to(authorize))
                .route("/token", web::post().to(token))
                .route("/userinfo", web::get().to(userinfo))
                .route("/logout", web::get().to(end_session))
                .route("/gh/authorize", web::get().to(authorize))
                .route("/gh/token", web::post().to(gh_token))
                .route("/gh/user", web::get().to(gh_user))
                .route("/gh/user/emails", web::get().to(gh_emails))
                .route("/gh/user/orgs", web::get().to(gh_orgs))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        FakeIdp { base, state, handle: super::run_in_background(server) }
    }

    pub fn set_user(&self, user: User) {
        self.state.lock().unwrap().user = user;
    }

    /// The upstream session id the next ID tokens carry as `sid`.
    pub fn set_sid(&self, sid: &str) {
        self.state.lock().unwrap().sid = Some(sid.to_string());
    }

    /// Signs `claims` with the published key under `typ` (a logout token, say); with `rogue`, signs with another
    /// key under the published key's kid.
    pub fn sign(&self, typ: &str, claims: &serde_json::Value, rogue: bool) -> String {
        let s = self.state.lock().unwrap();
        if !rogue {
            return jws::sign(&s.key, typ, claims).unwrap();
        }
        let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let header = serde_json::json!({"alg": "RS256", "typ": typ, "kid": s.key.kid});
        let input = format!("{}.{}", enc(header.to_string().as_bytes()), enc(claims.to_string().as_bytes()));
        let sig = s.rogue.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", enc(&sig))
    }

    /// The upstream rotates its signing key: a new key (new `kid`) is published and signs from now on.
    pub fn rotate_key(&self) {
        let row = generate(Alg::Rs256, 0, bridgekeeper::store::keys::KeyState::Current).unwrap();
        let mut s = self.state.lock().unwrap();
        s.jwk = serde_json::from_str(&row.public_jwk).unwrap();
        s.key = SigningKey::from_row(&row).unwrap();
    }

    pub fn set_tamper(&self, t: Tamper) {
        self.state.lock().unwrap().tamper = t;
    }

    /// Every access and refresh token this fake issued.
    pub fn issued_tokens(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.tokens.keys().chain(s.refresh_tokens.keys()).cloned().collect()
    }

    /// Disables the upstream account `sub`: its refresh tokens stop working.
    pub fn disable(&self, sub: &str) {
        self.state.lock().unwrap().disabled.push(sub.to_string());
    }

    pub fn last_authorize(&self) -> HashMap<String, String> {
        self.state.lock().unwrap().authorize_requests.last().cloned().unwrap_or_default()
    }

    /// Access tokens from now on expire after `secs`.
    pub fn set_access_ttl(&self, secs: i64) {
        self.state.lock().unwrap().access_ttl = secs;
    }

    /// Refreshes are answered after `ms` milliseconds.
    pub fn set_refresh_delay_ms(&self, ms: u64) {
        self.state.lock().unwrap().refresh_delay_ms = ms;
    }

    /// The token endpoint refuses refreshes with a 503 page while `down`.
    pub fn set_refresh_down(&self, down: bool) {
        self.state.lock().unwrap().refresh_down = down;
    }

    /// Refresh requests answered with new tokens so far.
    pub fn refreshes(&self) -> usize {
        self.state.lock().unwrap().refreshes
    }

    /// Refresh requests that arrived (answered or not yet).
    pub fn refresh_requests_seen(&self) -> usize {
        self.state.lock().unwrap().refresh_requests_seen
    }

    /// Does this access token of ours (the upstream's) still work, and for whom?
    pub fn token_user(&self, at: &str) -> Option<String> {
        self.state.lock().unwrap().tokens.get(at).map(|u| u.sub.clone())
    }

    pub fn last_token_request(&self) -> HashMap<String, String> {
        self.state.lock().unwrap().token_requests.last().cloned().unwrap_or_default()
    }

    /// A provider file for this fake as an `oidc` upstream.
    pub fn oidc_toml(&self, id: &str, extra: &str) -> String {
        format!(
            "id = \"{id}\"\nkind = \"oidc\"\ndisplay_name = \"Acme {id}\"\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\nscopes = [\"openid\", \"email\", \"profile\"]\n{extra}\n",
            self.base
        )
    }

    /// A provider file for this fake as a Microsoft multi-tenant `oidc` upstream admitting `tenants`.
    pub fn ms_toml(&self, id: &str, tenants: &[&str], extra: &str) -> String {
        let list = tenants.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
        format!(
            "id = \"{id}\"\nkind = \"oidc\"\ndisplay_name = \"Microsoft\"\nissuer = \"{}\"\ntenants = [{list}]\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\nscopes = [\"openid\", \"email\", \"profile\"]\n{extra}\n",
            ms_template(&self.base)
        )
    }

    /// Multi-tenant: the tenant the next ID tokens' `iss` names (whatever their `tid` says).
    pub fn set_iss_tenant(&self, tenant: Option<&str>) {
        self.state.lock().unwrap().iss_tenant = tenant.map(String::from);
    }

    /// The published key carries `issuer` as its `issuer` member (Microsoft's JWKS shape).
    pub fn set_key_issuer(&self, issuer: Option<&str>) {
        self.state.lock().unwrap().key_issuer = issuer.map(String::from);
    }

    /// Publishes a second key (own `kid`) with `issuer` as its `issuer` member, next to the first.
    pub fn publish_second_key(&self, issuer: Option<&str>) {
        let row = generate(Alg::Rs256, 0, bridgekeeper::store::keys::KeyState::Current).unwrap();
        let mut jwk: serde_json::Value = serde_json::from_str(&row.public_jwk).unwrap();
        if let Some(i) = issuer {
            jwk["issuer"] = i.into();
        }
        self.state.lock().unwrap().second = Some((SigningKey::from_row(&row).unwrap(), jwk));
    }

    /// The next ID tokens are signed with the second published key (or, with false, the first).
    pub fn set_sign_with_second(&self, on: bool) {
        self.state.lock().unwrap().sign_with_second = on;
    }

    /// Multi-tenant RFC 9207: advertise the `iss` parameter, and post one naming `tenant` (or none).
    pub fn set_ms_iss_param(&self, advertise: bool, tenant: Option<&str>) {
        let mut s = self.state.lock().unwrap();
        s.ms_advertise_iss = advertise;
        s.ms_iss_param = tenant.map(String::from);
    }

    /// The next ID tokens carry `email_verified` as `v` (e.g. the string "false").
    pub fn set_email_verified_claim(&self, v: Option<serde_json::Value>) {
        self.state.lock().unwrap().email_verified_claim = v;
    }

    /// A provider file for this fake as a `github` upstream.
    pub fn github_toml(&self, id: &str, extra: &str) -> String {
        let b = &self.base;
        format!(
            "id = \"{id}\"\nkind = \"github\"\ndisplay_name = \"GitHub\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\nscopes = [\"read:user\", \"user:email\"]\nauthorization_url = \"{b}/gh/authorize\"\ntoken_url = \"{b}/gh/token\"\nuserinfo_url = \"{b}/gh/user\"\nemails_url = \"{b}/gh/user/emails\"\norgs_url = \"{b}/gh/user/orgs\"\n{extra}\n"
        )
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn query(s: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

/// The issuer template of the multi-tenant endpoints.
pub fn ms_template(base: &str) -> String {
    format!("{base}/{{tenantid}}/v2.0")
}

/// Entra ID's shared-endpoint discovery: the issuer is the `{tenantid}` template, no RFC 9207 `iss`.
async fn ms_discovery(st: web::Data<Mutex<State>>) -> HttpResponse {
    let (b, advertise) = {
        let s = st.lock().unwrap();
        (s.base.clone(), s.ms_advertise_iss)
    };
    let mut doc = serde_json::json!({
        "issuer": ms_template(&b),
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "jwks_uri": format!("{b}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    if advertise {
        doc["authorization_response_iss_parameter_supported"] = true.into();
    }
    HttpResponse::Ok().json(doc)
}

async fn discovery(st: web::Data<Mutex<State>>) -> HttpResponse {
    let s = st.lock().unwrap();
    let b = &s.base;
    let mut meta = serde_json::json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "userinfo_endpoint": format!("{b}/userinfo"),
        "jwks_uri": format!("{b}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": s.advertise_iss,
        "end_session_endpoint": format!("{b}/logout"),
    });
    if !s.advertise_end_session {
        meta.as_object_mut().unwrap().remove("end_session_endpoint");
    }
    HttpResponse::Ok().json(meta)
}

/// RP-Initiated Logout at the upstream: records the request and sends the browser back with `state`.
async fn end_session(st: web::Data<Mutex<State>>, req: HttpRequest) -> HttpResponse {
    let q = query(req.query_string());
    st.lock().unwrap().end_session_requests.push(q.clone());
    let Some(back) = q.get("post_logout_redirect_uri") else { return HttpResponse::Ok().body("signed out") };
    let mut url = url::Url::parse(back).unwrap();
    if let Some(state) = q.get("state") {
        url.query_pairs_mut().append_pair("state", state);
    }
    HttpResponse::Found().insert_header(("Location", url.to_string())).finish()
}

async fn jwks(st: web::Data<Mutex<State>>) -> HttpResponse {
    let mut s = st.lock().unwrap();
    s.jwks_requests += 1;
    let mut first = s.jwk.clone();
    if let Some(i) = &s.key_issuer {
        first["issuer"] = i.clone().into();
    }
    let mut keys = vec![first];
    keys.extend(s.second.as_ref().map(|(_, jwk)| jwk.clone()));
    HttpResponse::Ok().json(serde_json::json!({ "keys": keys }))
}

async fn authorize(st: web::Data<Mutex<State>>, req: HttpRequest) -> HttpResponse {
    let q = query(req.query_string());
    let mut s = st.lock().unwrap();
    s.authorize_requests.push(q.clone());
    let code = bridgekeeper::secret::random_token();
    let user = s.user.clone();
    let tid = user.tid.clone();
    s.codes.insert(
        code.clone(),
        Pending {
            nonce: q.get("nonce").cloned(),
            challenge: q.get("code_challenge").cloned(),
            user,
            scope: q.get("scope").cloned().unwrap_or_default(),
        },
    );
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = q.get("state") {
        params.push(("state", state));
    }
    let wrong = format!("{}/evil", s.base);
    let github = req.path().starts_with("/gh/");
    let ms_iss = s.ms_iss_param.as_ref().map(|t| ms_template(&s.base).replace("{tenantid}", t));
    match s.tamper {
        _ if tid.is_some() => params.extend(ms_iss.as_deref().map(|i| ("iss", i))),
        _ if github => {}
        Tamper::NoIssParam => {}
        Tamper::WrongIssParam => params.push(("iss", &wrong)),
        _ => params.push(("iss", &s.base)),
    }
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    let mut url = url::Url::parse(&redirect).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    HttpResponse::Found().insert_header(("Location", url.to_string())).finish()
}

/// Checks client authentication and the PKCE verifier; returns the pending login.
fn redeem(s: &mut State, req: &HttpRequest, form: &HashMap<String, String>) -> Result<Pending, Box<HttpResponse>> {
    let bad = |e: &str| Err(Box::new(HttpResponse::BadRequest().json(serde_json::json!({"error": e}))));
    let basic =
        req.headers().get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Basic ")).map(
            |b| {
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default())
                    .unwrap_or_default()
            },
        );
    let authed = match basic {
        Some(b) => b == format!("{CLIENT_ID}:{CLIENT_SECRET}"),
        None => {
            form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
        }
    };
    if !authed {
        return Err(Box::new(HttpResponse::Unauthorized().json(serde_json::json!({"error": "invalid_client"}))));
    }
    let Some(p) = form.get("code").and_then(|c| s.codes.remove(c)) else { return bad("invalid_grant") };
    match (&p.challenge, form.get("code_verifier")) {
        (Some(ch), Some(v)) if jws::pkce_matches(v, ch) => Ok(p),
        (None, None) => Ok(p),
        _ => bad("invalid_grant"),
    }
}

async fn token(st: web::Data<Mutex<State>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let tamper = st.lock().unwrap().tamper;
    match tamper {
        Tamper::Slow => actix_web::rt::time::sleep(std::time::Duration::from_secs(3)).await,
        Tamper::Garbage => return HttpResponse::Ok().content_type("application/json").body("<html>oops</html>"),
        Tamper::Huge => {
            let big = format!("{{\"access_token\": \"{}\", \"token_type\": \"Bearer\"}}", "x".repeat(2 * 1024 * 1024));
            return HttpResponse::Ok().content_type("application/json").body(big);
        }
        _ => {}
    }
    let form = query(std::str::from_utf8(&body).unwrap_or(""));
    let refresh = form.get("grant_type").map(String::as_str) == Some("refresh_token");
    let (delay, down) = {
        let mut s = st.lock().unwrap();
        if refresh {
            s.refresh_requests_seen += 1;
        }
        (s.refresh_delay_ms, s.refresh_down)
    };
    if refresh && delay > 0 {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let mut s = st.lock().unwrap();
    s.token_requests.push(form.clone());
    if refresh {
        if down {
            return HttpResponse::ServiceUnavailable().content_type("text/html").body("<html>down</html>");
        }
        // Rotating refresh tokens: a refresh token works once.
        let user = form.get("refresh_token").and_then(|t| s.refresh_tokens.remove(t));
        return match user.filter(|u| !s.disabled.contains(&u.sub)) {
            Some(u) => {
                let (at, rt) = (bridgekeeper::secret::random_token(), bridgekeeper::secret::random_token());
                s.tokens.insert(at.clone(), u.clone());
                s.refresh_tokens.insert(rt.clone(), u);
                s.refreshes += 1;
                let ttl = s.access_ttl;
                HttpResponse::Ok().json(serde_json::json!({"access_token": at, "token_type": "Bearer", "expires_in": ttl, "refresh_token": rt}))
            }
            None => HttpResponse::BadRequest().json(serde_json::json!({"error": "invalid_grant"})),
        };
    }
    let p = match redeem(&mut s, &req, &form) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let at = bridgekeeper::secret::random_token();
    s.tokens.insert(at.clone(), p.user.clone());
    let upstream_rt = bridgekeeper::secret::random_token();
    s.refresh_tokens.insert(upstream_rt.clone(), p.user.clone());
    let t = s.tamper;
    let n = now();
    let mut claims = serde_json::json!({
        "iss": if t == Tamper::WrongIss { format!("{}/other", s.base) } else { s.base.clone() },
        "sub": p.user.sub,
        "aud": if t == Tamper::WrongAud { "someone-else".to_string() } else { CLIENT_ID.to_string() },
        "iat": n,
        "auth_time": if t == Tamper::StaleAuthTime { n - 3600 } else { n },
        "exp": if t == Tamper::Expired { n - 60 } else { n + 300 },
        "at_hash": if t == Tamper::BadAtHash { jws::half_hash("other") } else { jws::half_hash(&at) },
        "email": p.user.email,
        "email_verified": p.user.email_verified,
        "name": p.user.name,
        "groups": p.user.groups,
    });
    if let Some(sid) = &s.sid {
        claims["sid"] = sid.clone().into();
    }
    if let Some(v) = &s.email_verified_claim {
        claims["email_verified"] = v.clone();
    }
    if t == Tamper::OtherAzp {
        claims["azp"] = "someone-else".into();
    }
    if let Some(tid) = &p.user.tid {
        let named = s.iss_tenant.clone().unwrap_or_else(|| tid.clone());
        claims["iss"] = ms_template(&s.base).replace("{tenantid}", &named).into();
        claims["tid"] = tid.clone().into();
        claims["oid"] = p.user.oid.clone().into();
    }
    if let Some(nonce) = p.nonce {
        claims["nonce"] = if t == Tamper::WrongNonce { "not-the-nonce".into() } else { nonce.into() };
    }
    let key = match (&s.second, s.sign_with_second) {
        _ if t == Tamper::BadSignature => &s.rogue,
        (Some((k, _)), true) => k,
        _ => &s.key,
    };
    let mut id_token = jws::sign(key, "JWT", &claims).unwrap();
    if t == Tamper::BadSignature {
        // Same kid as the published key, signature from another key.
        let good_kid = s.key.kid.clone();
        let mut parts: Vec<String> = id_token.split('.').map(String::from).collect();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": good_kid});
        let new_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header.to_string());
        let signing_input = format!("{new_header}.{}", parts[1]);
        let sig = s.rogue.sign(signing_input.as_bytes()).unwrap();
        parts[0] = new_header;
        parts[2] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
        id_token = parts.join(".");
    }
    if t == Tamper::AlgNone {
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = id_token.split('.').nth(1).unwrap().to_string();
        id_token = format!("{header}.{payload}.");
    }
    let mut resp = serde_json::json!({"access_token": at, "token_type": "Bearer", "expires_in": s.access_ttl, "refresh_token": upstream_rt, "scope": p.scope});
    if t == Tamper::NoScope {
        resp.as_object_mut().unwrap().remove("scope");
    }
    if t != Tamper::NoIdToken {
        s.id_tokens.push(id_token.clone());
        resp["id_token"] = id_token.into();
    }
    HttpResponse::Ok().json(resp)
}

fn bearer_user(s: &State, req: &HttpRequest) -> Option<User> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let t = h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))?;
    s.tokens.get(t).cloned()
}

async fn userinfo(st: web::Data<Mutex<State>>, req: HttpRequest) -> HttpResponse {
    let s = st.lock().unwrap();
    let Some(u) = bearer_user(&s, &req) else { return HttpResponse::Unauthorized().finish() };
    let sub = if s.tamper == Tamper::UserinfoOtherSub { "someone-else".to_string() } else { u.sub.clone() };
    HttpResponse::Ok().json(serde_json::json!({"sub": sub, "email": u.email, "email_verified": u.email_verified, "name": u.name, "groups": u.groups}))
}

async fn gh_token(st: web::Data<Mutex<State>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = query(std::str::from_utf8(&body).unwrap_or(""));
    let mut s = st.lock().unwrap();
    s.token_requests.push(form.clone());
    let scope = s.authorize_requests.last().and_then(|q| q.get("scope").cloned()).unwrap_or_default();
    let p = match redeem(&mut s, &req, &form) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let at = bridgekeeper::secret::random_token();
    s.tokens.insert(at.clone(), p.user);
    // GitHub lists granted scopes comma-separated.
    HttpResponse::Ok()
        .json(serde_json::json!({"access_token": at, "token_type": "bearer", "scope": scope.replace(' ', ",")}))
}

async fn gh_user(st: web::Data<Mutex<State>>, req: HttpRequest) -> HttpResponse {
    let s = st.lock().unwrap();
    let Some(u) = bearer_user(&s, &req) else { return HttpResponse::Unauthorized().finish() };
    let id: u64 = u.sub.bytes().map(u64::from).sum::<u64>() + 1000;
    HttpResponse::Ok().json(serde_json::json!({"id": id, "login": u.sub, "name": u.name, "email": null, "avatar_url": "https://avatars.example/u.png"}))
}

async fn gh_emails(st: web::Data<Mutex<State>>, req: HttpRequest) -> HttpResponse {
    let s = st.lock().unwrap();
    let Some(u) = bearer_user(&s, &req) else { return HttpResponse::Unauthorized().finish() };
    HttpResponse::Ok().json(serde_json::json!([
        {"email": "unverified-secondary@upstream.test", "primary": false, "verified": false},
        {"email": u.email, "primary": true, "verified": u.email_verified},
    ]))
}

async fn gh_orgs(st: web::Data<Mutex<State>>, req: HttpRequest) -> HttpResponse {
    let s = st.lock().unwrap();
    let Some(u) = bearer_user(&s, &req) else { return HttpResponse::Unauthorized().finish() };
    HttpResponse::Ok().json(u.github_orgs.iter().map(|o| serde_json::json!({"login": o})).collect::<Vec<_>>())
}
