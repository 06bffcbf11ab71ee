use super::*;

fn catalogue() -> BTreeMap<String, String> {
    ["openid", "email", "profile", "admin"].iter().map(|s| (s.to_string(), String::new())).collect()
}

struct Fixture {
    uris: Vec<String>,
    scopes: Vec<String>,
}

fn fixture() -> Fixture {
    Fixture {
        uris: vec!["https://app.example/cb".into()],
        scopes: vec!["openid".into(), "email".into(), "admin".into()],
    }
}

fn client(f: &Fixture) -> ClientView<'_> {
    ClientView {
        client_id: "app",
        redirect_uris: &f.uris,
        public: false,
        require_pkce: false,
        allows_code_flow: true,
        allowed_scopes: &f.scopes,
    }
}

fn no_hint(_: &str) -> Option<(String, Vec<String>)> {
    None
}

fn run(query: &str) -> Result<AuthorizationRequest, Redirectable> {
    let f = fixture();
    let p = Params::parse(query);
    validate(&p, &client(&f), "https://app.example/cb".into(), &catalogue(), &no_hint)
}

fn code(query: &str) -> ErrorCode {
    run(query).unwrap_err().error.code
}

const BASE: &str = "response_type=code&client_id=app&scope=openid";

#[test]
fn az_2_4_only_registered_redirect_uris_and_the_only_one_when_absent() {
    let f = fixture();
    let c = client(&f);
    assert_eq!(redirect_target(&Params::parse("redirect_uri=https://app.example/cb"), &c).unwrap(), f.uris[0]);
    assert_eq!(redirect_target(&Params::parse(""), &c).unwrap(), f.uris[0]);
    assert_eq!(
        redirect_target(&Params::parse("redirect_uri=https://app.example/cb/"), &c),
        Err(Unanswerable::UnregisteredRedirect)
    );
    let two = vec!["https://a.example/1".to_string(), "https://a.example/2".to_string()];
    let c2 = ClientView { redirect_uris: &two, ..c };
    assert_eq!(redirect_target(&Params::parse(""), &c2), Err(Unanswerable::MissingRedirect));
    assert_eq!(client_id(&Params::parse("client_id=a&client_id=b")), Err(Unanswerable::RepeatedClientOrRedirect));
    assert_eq!(client_id(&Params::parse("")), Err(Unanswerable::MissingClientId));
}

#[test]
fn cl_1_an_overlong_client_id_at_authorize_is_an_unknown_client() {
    let at_limit = format!("client_id={}", "a".repeat(255));
    assert_eq!(client_id(&Params::parse(&at_limit)).map(str::len), Ok(255));
    let over = format!("client_id={}", "a".repeat(256));
    assert_eq!(client_id(&Params::parse(&over)), Err(Unanswerable::UnknownClient));
}

#[test]
fn az_7_8_17_response_type_duplicates_and_request_objects() {
    assert_eq!(code("client_id=app&scope=openid"), ErrorCode::InvalidRequest);
    assert_eq!(code("response_type=token&client_id=app&scope=openid"), ErrorCode::UnsupportedResponseType);
    assert_eq!(code(&format!("{BASE}&scope=email")), ErrorCode::InvalidRequest);
    assert_eq!(code(&format!("{BASE}&request=x")), ErrorCode::RequestNotSupported);
    assert_eq!(code(&format!("{BASE}&request_uri=x")), ErrorCode::RequestUriNotSupported);
    assert!(run(&format!("{BASE}&extra=foobar")).is_ok(), "unknown parameters are ignored");
}

#[test]
fn az_24_unsupported_response_mode_is_refused() {
    assert!(run(&format!("{BASE}&response_mode=query")).is_ok());
    assert_eq!(code(&format!("{BASE}&response_mode=fragment")), ErrorCode::InvalidRequest);
    assert_eq!(code(&format!("{BASE}&response_mode=web_message")), ErrorCode::InvalidRequest);
}

#[test]
fn az_9_18_scopes_are_narrowed_and_reserved_ones_never_granted() {
    let r = run("response_type=code&client_id=app&scope=email%20openid%20profile%20admin").unwrap();
    assert_eq!(r.scopes, vec!["email", "openid"]);
    assert_eq!(code("response_type=code&client_id=app&scope=admin"), ErrorCode::InvalidScope);
}

#[test]
fn pk_1_2_3_pkce_rules() {
    let ch = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    assert_eq!(
        run(&format!("{BASE}&code_challenge={ch}&code_challenge_method=S256")).unwrap().code_challenge.as_deref(),
        Some(ch)
    );
    assert_eq!(code(&format!("{BASE}&code_challenge={ch}&code_challenge_method=plain")), ErrorCode::InvalidRequest);
    assert_eq!(code(&format!("{BASE}&code_challenge={ch}")), ErrorCode::InvalidRequest);
    assert_eq!(code(&format!("{BASE}&code_challenge=short&code_challenge_method=S256")), ErrorCode::InvalidRequest);
    let f = fixture();
    let public = ClientView { public: true, ..client(&f) };
    let e = validate(&Params::parse(BASE), &public, f.uris[0].clone(), &catalogue(), &no_hint).unwrap_err();
    assert_eq!(e.error.code, ErrorCode::InvalidRequest, "public clients need PKCE");
}

#[test]
fn az_12_14_prompt_and_max_age() {
    assert!(run(&format!("{BASE}&prompt=login%20consent")).unwrap().prompt.login);
    assert_eq!(code(&format!("{BASE}&prompt=none%20login")), ErrorCode::InvalidRequest);
    assert_eq!(code(&format!("{BASE}&prompt=bogus")), ErrorCode::InvalidRequest);
    assert_eq!(run(&format!("{BASE}&max_age=0")).unwrap().max_age, Some(0));
    assert!(run(&format!("{BASE}&max_age=0")).unwrap().freshness().prompt_login);
    assert_eq!(code(&format!("{BASE}&max_age=-1")), ErrorCode::InvalidRequest);
    assert_eq!(code(&format!("{BASE}&max_age=soon")), ErrorCode::InvalidRequest);
}

#[test]
fn az_10_state_is_kept_and_an_overlong_one_not_echoed() {
    let r = run(&format!("{BASE}&state=a%2Bb%20c")).unwrap();
    assert_eq!(r.state.as_deref(), Some("a+b c"));
    let e = run(&format!("{BASE}&state={}", "s".repeat(MAX_STATE_LEN + 1))).unwrap_err();
    assert_eq!((e.error.code, e.state), (ErrorCode::InvalidRequest, None));
}

#[test]
fn az_15_id_token_hint_must_be_ours_and_for_this_client() {
    let f = fixture();
    let p = Params::parse(&format!("{BASE}&id_token_hint=tok"));
    let ours = |_: &str| Some(("u1".to_string(), vec!["app".to_string()]));
    let r = validate(&p, &client(&f), f.uris[0].clone(), &catalogue(), &ours).unwrap();
    assert_eq!(r.hint_sub.as_deref(), Some("u1"));
    let other = |_: &str| Some(("u1".to_string(), vec!["other".to_string()]));
    assert!(validate(&p, &client(&f), f.uris[0].clone(), &catalogue(), &other).is_err());
    assert!(validate(&p, &client(&f), f.uris[0].clone(), &catalogue(), &no_hint).is_err());
}

#[test]
fn gc_2_only_understood_parameters_are_kept_within_limits() {
    let big = "x".repeat(60_000);
    let r = run(&format!("{BASE}&unknown={big}&display=page&acr_values=a")).unwrap();
    let stored = r.to_stored();
    assert!(stored.len() < 1024, "unknown parameters are dropped: {}", stored.len());
    assert!(!stored.contains("unknown") && !stored.contains("display"));
    assert_eq!(AuthorizationRequest::from_stored(&stored).as_ref(), Some(&r));
    assert_eq!(code(&format!("{BASE}&login_hint={}", "l".repeat(MAX_HINT_LEN + 1))), ErrorCode::InvalidRequest);
    assert_eq!(code(&format!("{BASE}&nonce={}", "n".repeat(MAX_NONCE_LEN + 1))), ErrorCode::InvalidRequest);
    // Each value within its limit, but together beyond the stored-form ceiling.
    let q = format!(
        "{BASE}&state={}&nonce={}&login_hint={}&ui_locales={}&idp_hint={}",
        "s".repeat(MAX_STATE_LEN),
        "n".repeat(MAX_NONCE_LEN),
        "l".repeat(MAX_HINT_LEN),
        "u".repeat(MAX_HINT_LEN),
        "i".repeat(MAX_HINT_LEN)
    );
    assert!(run(&q).is_ok(), "still below 8 KiB");
    let f = fixture();
    let long_uri = format!("https://app.example/{}", "p".repeat(2500));
    let uris = vec![long_uri.clone()];
    let c = ClientView { redirect_uris: &uris, ..client(&f) };
    let p = Params::parse(&format!("{q}&redirect_uri={long_uri}"));
    let e = validate(&p, &c, long_uri, &catalogue(), &no_hint).unwrap_err();
    assert_eq!(e.error.description, "the authorization request is too large");
}

#[test]
fn a_stored_request_is_rechecked_against_the_client_as_it_is_now() {
    let f = fixture();
    let r = run(&format!("{BASE}%20email")).unwrap();
    assert!(r.still_valid_for(&client(&f)));
    let fewer = vec!["openid".to_string()];
    assert!(!r.still_valid_for(&ClientView { allowed_scopes: &fewer, ..client(&f) }));
    let moved = vec!["https://app.example/other".to_string()];
    assert!(!r.still_valid_for(&ClientView { redirect_uris: &moved, ..client(&f) }));
    assert!(!r.still_valid_for(&ClientView { allows_code_flow: false, ..client(&f) }));
    assert!(!r.still_valid_for(&ClientView { require_pkce: true, ..client(&f) }), "PKCE became required");
    assert!(!r.still_valid_for(&ClientView { public: true, ..client(&f) }), "the client became public");
}

#[test]
fn fp_1_form_post_is_a_supported_response_mode() {
    assert_eq!(run(&format!("{BASE}&response_mode=form_post")).unwrap().response_mode, ResponseMode::FormPost);
    assert_eq!(run(BASE).unwrap().response_mode, ResponseMode::Query);
}

#[test]
fn fp_2_errors_are_answered_in_the_mode_asked_for() {
    let e = run(&format!("{BASE}&response_mode=form_post&prompt=bogus")).unwrap_err();
    assert_eq!(e.response_mode, ResponseMode::FormPost);
    let e = run(&format!("{BASE}&response_mode=fragment&prompt=bogus")).unwrap_err();
    assert_eq!(e.response_mode, ResponseMode::Query);
    let e = run(&format!("{BASE}&response_mode=form_post&response_mode=query")).unwrap_err();
    assert_eq!(e.response_mode, ResponseMode::Query);
}
