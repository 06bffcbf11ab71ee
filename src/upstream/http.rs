//! The HTTP client for upstream calls: timeouts on every call, no redirects followed, bounded response size; each
//! call timed and counted by provider and call (`metrics::UpstreamMetrics`) when the client is instrumented.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::reqwest;

/// Largest upstream response body we read (discovery, JWKS, tokens, userinfo).
pub const MAX_BODY: usize = 512 * 1024;

#[derive(Clone)]
pub struct UpstreamHttp {
    client: reqwest::Client,
    metrics: Option<crate::metrics::UpstreamMetrics>,
    /// The provider the calls are made for (the metrics label), set by `for_provider`.
    provider: Option<std::sync::Arc<str>>,
    /// [OT-2] The calls go to hosts someone other than the admin chose (a registered client's `jwks_uri`): their
    /// spans name [`REGISTERED_CLIENT_HOST`] as `server.address`, never the host.
    registered_client: bool,
}

/// [OT-2] The `server.address` of a call to a host a registered client chose.
pub const REGISTERED_CLIENT_HOST: &str = "registered-client";

impl std::fmt::Debug for UpstreamHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UpstreamHttp({:?})", self.provider)
    }
}

/// Which upstream call a request is, from its shape: discovery by its well-known path, the token endpoint by
/// POST, userinfo (and GitHub's user APIs) by a bearer token; any other GET is the JWKS.
fn call_of(request: &reqwest::Request) -> &'static str {
    if request.url().path().ends_with("/.well-known/openid-configuration") {
        "discovery"
    } else if request.headers().get(reqwest::header::ACCEPT).is_some_and(|a| a == SAML_METADATA) {
        "metadata"
    } else if request.method() == reqwest::Method::POST {
        "token"
    } else if request.headers().contains_key(reqwest::header::AUTHORIZATION) {
        "userinfo"
    } else {
        "jwks"
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("request failed: {0}")]
    Request(String),
    #[error("response larger than {MAX_BODY} bytes")]
    TooLarge,
}

impl UpstreamHttp {
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("bridgekeeper/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(UpstreamHttp { client, metrics: None, provider: None, registered_client: false })
    }

    /// [HR-7] A new client with another timeout, instrumented as this one (a reload's `upstream_timeout_secs`).
    pub fn with_timeout(&self, timeout: Duration) -> Result<Self, String> {
        Ok(UpstreamHttp { metrics: self.metrics.clone(), ..Self::new(timeout)? })
    }

    /// Times and counts every call from now on (set once, before the client is shared).
    pub fn instrument(&mut self, metrics: crate::metrics::UpstreamMetrics) {
        self.metrics = Some(metrics);
    }

    /// The same client, with its calls labelled as made for `provider` (cheap: the pool is shared).
    pub fn for_provider(&self, provider: &str) -> UpstreamHttp {
        UpstreamHttp { provider: Some(provider.into()), registered_client: false, ..self.clone() }
    }

    /// The same client for calls to hosts a registered client chose, labelled `label` (their spans keep the host
    /// out, [OT-2]).
    pub fn for_registered_client(&self, label: &str) -> UpstreamHttp {
        UpstreamHttp { provider: Some(label.into()), registered_client: true, ..self.clone() }
    }

    /// [OT-2] The `server.address` of a call to `url`: its host for the admin's providers, a fixed word otherwise.
    fn server_address<'a>(&self, url: &'a reqwest::Url) -> &'a str {
        if self.registered_client { REGISTERED_CLIENT_HOST } else { url.host_str().unwrap_or_default() }
    }

    async fn execute(&self, request: reqwest::Request) -> Result<oauth2::HttpResponse, HttpError> {
        let call = call_of(&request);
        let provider = self.provider.as_deref().unwrap_or("unknown");
        // [OT-1] A child of the request's span: provider, call, method and host (never the URL).
        let span = crate::telemetry::client_span(
            provider,
            call,
            request.method().as_str(),
            self.server_address(request.url()),
        );
        let started = std::time::Instant::now();
        let result = tracing::Instrument::instrument(self.execute_plain(request), span.clone()).await;
        let status = result.as_ref().ok().map(|r| r.status());
        crate::telemetry::finish_client_span(&span, status.map(|s| s.as_u16()));
        let Some(metrics) = &self.metrics else { return result };
        metrics.observe(
            provider,
            call,
            started.elapsed().as_secs_f64(),
            status.is_some_and(|s| s.is_success()),
            status.is_some_and(|s| !s.is_server_error()),
        );
        result
    }

    async fn execute_plain(&self, request: reqwest::Request) -> Result<oauth2::HttpResponse, HttpError> {
        let mut response =
            self.client.execute(request).await.map_err(|e| HttpError::Request(e.without_url().to_string()))?;
        let mut builder = oauth2::http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        if response.content_length().is_some_and(|n| n as usize > MAX_BODY) {
            return Err(HttpError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| HttpError::Request(e.without_url().to_string()))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        builder.body(body).map_err(|e| HttpError::Request(e.to_string()))
    }

    /// GET a JSON document with an optional bearer token; non-2xx is an error.
    pub async fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<serde_json::Value, HttpError> {
        let mut req = self.client.get(url).header("Accept", "application/json");
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let req = req.build().map_err(|e| HttpError::Request(e.without_url().to_string()))?;
        let resp = self.execute(req).await?;
        if !resp.status().is_success() {
            return Err(HttpError::Request(format!("status {}", resp.status())));
        }
        serde_json::from_slice(resp.body()).map_err(|e| HttpError::Request(format!("invalid JSON: {e}")))
    }
}

/// The media type of SAML metadata (the `Accept` of a metadata fetch, which also labels its metric).
const SAML_METADATA: &str = "application/samlmetadata+xml";

impl UpstreamHttp {
    /// [SA-1] GET a SAML metadata document (UTF-8 text, at most the body limit); non-2xx is an error.
    pub async fn get_metadata(&self, url: &str) -> Result<String, HttpError> {
        let req = self
            .client
            .get(url)
            .header("Accept", SAML_METADATA)
            .build()
            .map_err(|e| HttpError::Request(e.without_url().to_string()))?;
        let resp = self.execute(req).await?;
        if !resp.status().is_success() {
            return Err(HttpError::Request(format!("status {}", resp.status())));
        }
        String::from_utf8(resp.into_body()).map_err(|_| HttpError::Request("metadata is not UTF-8".into()))
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for UpstreamHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + Sync + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let req = reqwest::Request::try_from(request).map_err(|e| HttpError::Request(e.to_string()))?;
            self.execute(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [OT-2] A configured provider's calls name their host; a registered client's `jwks_uri` host never does.
    #[test]
    fn ot_2_the_host_of_a_registered_clients_call_is_not_recorded() {
        let http = UpstreamHttp::new(Duration::from_secs(1)).unwrap();
        let url = reqwest::Url::parse("https://attacker-chosen.example/keys").unwrap();
        assert_eq!(http.server_address(&url), "attacker-chosen.example", "the registry's own calls");
        assert_eq!(http.for_provider("acme").server_address(&url), "attacker-chosen.example");
        assert_eq!(http.for_registered_client("client-jwks").server_address(&url), REGISTERED_CLIENT_HOST);
    }
}
