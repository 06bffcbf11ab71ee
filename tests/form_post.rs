//! OAuth 2.0 Form Post Response Mode, security.md [FP-1]..[FP-3]: the answer as an auto-submitting form under a
//! CSP without `unsafe-inline`.

mod common;

use common::TestApp;
use common::oauth::*;

/// The `(name, value)` pairs of the hidden inputs of the form page.
fn fields(page: &str) -> Vec<(String, String)> {
    page.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let name = &rest[..rest.find('"').unwrap()];
            (name.to_string(), hidden(page, name))
        })
        .collect()
}

/// Checks the page's CSP: a nonce-allowed script that is the page's only script, posting only to the app's
/// origin, and nothing inline allowed otherwise.
fn check_page((status, headers, page): &(u16, reqwest::header::HeaderMap, String), origin: &str) {
    assert_eq!(*status, 200, "{page}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(headers["cache-control"], "no-store");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert!(csp.contains(&format!("form-action {origin};")), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap();
    assert!(nonce.len() >= 22, "{nonce}");
    assert_eq!(page.matches("<script").count(), 1, "one script");
    assert!(page.contains(&format!("<script nonce=\"{nonce}\">")), "{page}");
    assert!(page.contains("<button type=\"submit\""), "a no-JS fallback button");
    assert_eq!(headers["x-frame-options"], "DENY");
}

#[actix_web::test]
async fn fp_1_form_post_answers_with_a_self_submitting_form_to_the_redirect_uri() {
    let app = spawn().await;
    let r = authorize(&app, &auth_query(&[("response_mode", "form_post")])).await;
    let r = until_page(&app, r, "allow").await;
    let got = read(r).await;
    check_page(&got, "https://rp.example");
    let page = got.2;
    assert!(page.contains(&format!("action=\"{}\"", RP.replace('/', "&#x2F;"))), "{page}");
    let f = fields(&page);
    let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["code", "state", "iss"]);
    assert_eq!(f[1].1, "st-1");
    assert_eq!(f[2].1, app.base);
    assert!(!page.contains(&format!("{RP}?code")), "nothing in a query");
    let tokens = exchange(&app, &f[0].1).await;
    assert!(tokens["access_token"].is_string());
}

#[actix_web::test]
async fn fp_2_errors_are_posted_too_and_state_is_escaped() {
    let app = spawn().await;
    let q = auth_query(&[("response_mode", "form_post"), ("prompt", "bogus"), ("state", "\"><script>x</script>")]);
    let r = authorize(&app, &q).await;
    let got = read(r).await;
    check_page(&got, "https://rp.example");
    let page = got.2;
    let f = fields(&page);
    assert_eq!(f[0], ("error".into(), "invalid_request".into()));
    assert!(!page.contains("<script>x"), "the state is escaped");
    assert_eq!(page.matches("<script").count(), 1);
    // Denying consent is answered the same way.
    let r = authorize(&app, &auth_query(&[("response_mode", "form_post")])).await;
    let r = until_page(&app, r, "deny").await;
    let got = read(r).await;
    check_page(&got, "https://rp.example");
    assert_eq!(fields(&got.2)[0], ("error".into(), "access_denied".into()));
}

#[actix_web::test]
async fn fp_1_discovery_lists_form_post_and_unknown_modes_stay_refused() {
    let app = spawn().await;
    let d: serde_json::Value =
        app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["response_modes_supported"], serde_json::json!(["query", "form_post"]));
    let r = authorize(&app, &auth_query(&[("response_mode", "fragment")])).await;
    assert_eq!(r.status(), 302);
    assert_eq!(param(&location(&r), "error").as_deref(), Some("invalid_request"));
}

#[actix_web::test]
async fn fp_3_the_page_is_translated() {
    let app = spawn().await;
    let q = auth_query(&[("response_mode", "form_post"), ("prompt", "bogus"), ("ui_locales", "de")]);
    let page = authorize(&app, &q).await.text().await.unwrap();
    assert!(page.contains("Weiter") && page.contains("lang=\"de\""), "{page}");
}

/// Follows sign-in (dev) and consent (`decision`) until a response that is not a redirect: the form page.
async fn until_page(app: &TestApp, mut r: reqwest::Response, decision: &str) -> reqwest::Response {
    for _ in 0..8 {
        if !r.status().is_redirection() {
            return r;
        }
        let loc = location(&r);
        if loc.starts_with("/login") {
            let page = app.http.get(app.url(&loc)).send().await.unwrap();
            if page.status().is_redirection() {
                r = page;
                continue;
            }
            let page = page.text().await.unwrap();
            let mut form = vec![
                ("csrf", hidden(&page, "csrf")),
                ("email", "ada@example.com".to_string()),
                ("name", "Ada".into()),
                ("link", "false".into()),
            ];
            if page.contains("name=\"req\"") {
                form.push(("req", hidden(&page, "req")));
            }
            r = app.http.post(app.url(&attr(&page, "action"))).form(&form).send().await.unwrap();
        } else if loc.starts_with("/consent") {
            let page = app.http.get(app.url(&loc)).send().await.unwrap().text().await.unwrap();
            let form = [("req", hidden(&page, "req")), ("csrf", hidden(&page, "csrf")), ("decision", decision.into())];
            r = app.http.post(app.url("/consent")).form(&form).send().await.unwrap();
        } else {
            assert!(loc.starts_with('/'), "form_post never redirects to the app: {loc}");
            r = app.http.get(app.url(&loc)).send().await.unwrap();
        }
    }
    panic!("flow did not finish");
}

async fn read(r: reqwest::Response) -> (u16, reqwest::header::HeaderMap, String) {
    (r.status().as_u16(), r.headers().clone(), r.text().await.unwrap())
}
