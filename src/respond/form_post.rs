//! [FP-1] [FP-3] OAuth 2.0 Form Post Response Mode: the authorization response as an HTML form POSTed to the
//! client's (trusted) redirect URI. The page submits itself with one script allowed by a per-response CSP nonce
//! (no `unsafe-inline`); without JavaScript the person presses the button. Its own CSP allows posting to exactly
//! the redirect URI's origin (`form-action`) and nothing else.

use actix_web::HttpResponse;

use super::{PageError, Templates, html, page_context};

/// The page, with its own `Content-Security-Policy` (the app-wide default is only added when none is set).
pub fn form_post(
    templates: &Templates,
    settings: &crate::settings::Settings,
    action: &str,
    fields: &[(&str, &str)],
) -> Result<HttpResponse, PageError> {
    let nonce = crate::secret::random_token_bytes(18);
    let mut ctx = page_context(settings);
    ctx.insert("action", action);
    let fields: Vec<serde_json::Value> =
        fields.iter().map(|(name, value)| serde_json::json!({ "name": name, "value": value })).collect();
    ctx.insert("fields", &fields);
    ctx.insert("nonce", &nonce);
    let body = templates.render("form_post.html", &ctx)?;
    let mut r = html(body, None);
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self'; \
         form-action {}; frame-ancestors 'none'; base-uri 'none'",
        form_action_source(action)
    );
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&csp) {
        r.headers_mut().insert(actix_web::http::header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(r)
}

/// The CSP source that admits the redirect URI: its origin for http(s), its scheme for a custom scheme; `'none'`
/// for anything that does not parse (then nothing is posted).
fn form_action_source(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u.origin().ascii_serialization(),
        Ok(u) if u.scheme().bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) => {
            format!("{}:", u.scheme())
        }
        _ => "'none'".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp_3_form_action_admits_only_the_redirect_origin() {
        assert_eq!(form_action_source("https://rp.example:8443/cb?x=1"), "https://rp.example:8443");
        assert_eq!(form_action_source("http://127.0.0.1:9000/cb"), "http://127.0.0.1:9000");
        assert_eq!(form_action_source("com.example.app:/cb"), "com.example.app:");
        assert_eq!(form_action_source("not a uri"), "'none'");
    }
}
