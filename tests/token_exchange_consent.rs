//! RFC 8693 token exchange: the consent page's "may act for you at" lines ([TX-3b]): what is consented is what the
//! page showed.

mod common;

use common::exchange::*;
use common::oauth::*;

async fn only_user(w: &World) -> String {
    w.app.state.db.run(|c| bridgekeeper::store::users::list(c, 10, 0)).await.unwrap()[0].id.clone()
}

async fn exchange_consents(w: &World, uid: &str) -> Vec<(String, String)> {
    let u = uid.to_string();
    w.app.state.db.run(move |c| bridgekeeper::store::vault::exchange_consents_of(c, &u)).await.unwrap()
}

/// Follows the flow at `w`'s own browser until the consent page, and returns it.
async fn consent_page(w: &World, mut r: reqwest::Response) -> String {
    for _ in 0..8 {
        let loc = location(&r);
        if loc.starts_with("/consent") {
            return w.app.http.get(w.app.url(&loc)).send().await.unwrap().text().await.unwrap();
        }
        let loc = loc.strip_prefix("/login?").map(|q| format!("/login/acme?{q}")).unwrap_or(loc);
        r = if loc.starts_with('/') { w.app.http.get(w.app.url(&loc)) } else { w.app.http.get(&loc) }
            .send()
            .await
            .unwrap();
    }
    panic!("no consent page");
}

/// The act-for lines consented are the ones the page showed: a POST naming other lines (the page was rendered
/// before an identity was linked or unlinked) saves nothing and shows the page again; a page that carries no list
/// consents to none.
#[actix_web::test]
async fn tx_3b_only_the_act_for_lines_shown_are_consented() {
    let w = world().await;
    let q = auth_query(&[("scope", "openid email")]);
    let page = consent_page(&w, authorize(&w.app, &q).await).await;
    assert_eq!(hidden(&page, "act_for"), "acme", "the page carries the lines it shows");
    let uid = only_user(&w).await;
    let mut form = consent_form(&page);
    form.retain(|(k, _)| *k != "act_for");
    form.push(("act_for", String::new()));
    let r = w.app.http.post(w.app.url("/consent")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/consent?req="), "shown again: {}", location(&r));
    assert!(exchange_consents(&w, &uid).await.is_empty(), "a line the page did not show is not consented");
    // The page shown again names the line; a form without the list (a custom template) allows the scopes only.
    let again = w.app.http.get(w.app.url(&location(&r))).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("Mail App may act for you at Acme acme"));
    form.retain(|(k, _)| *k != "act_for");
    let r = w.app.http.post(w.app.url("/consent")).form(&form).send().await.unwrap();
    let loc = drive(&w.app, r).await;
    let at = exchange(&w.app, &param(&loc, "code").unwrap()).await["access_token"].as_str().unwrap().to_string();
    assert!(exchange_consents(&w, &uid).await.is_empty());
    let r = upstream_exchange(&w.app, ("app", SECRET), &at).await;
    assert_eq!(json_error(r).await.1, "invalid_request", "no consent to act for the person");
}
