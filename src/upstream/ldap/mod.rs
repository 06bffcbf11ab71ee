//! `kind = "ldap"`: a person types a username and password on the broker's page; the broker binds as the
//! service account, finds exactly one entry with the escaped name, binds as that entry with the typed password,
//! reads the mapped attributes and groups, and unbinds ([LD-2]…[LD-5]). One connection per sign-in (no pool yet),
//! at most `max_connections` at once ([LD-7b]), every step under a timeout, each step on its own task so a
//! misbehaving directory cannot hang or crash a worker. The sign-in is split at the point where the broker
//! decides whether the password may be tried ([LD-7]): `find` (service bind, search) and `verify` (the user's
//! bind, or for a name that found no single entry a bind of a DN that does not exist, so that both cost the
//! directory one bind: [LD-9]).

pub mod config;
mod entry;
mod filter;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ldap3::{Ldap as Handle, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions};

use super::config::ProviderConfig;
use super::connector::{Fut, HealthCheck, PasswordAttempt, PasswordConnector, PasswordLimits};
use super::http::UpstreamHttp;
use super::{FederatedIdentity, UpstreamError, UpstreamErrorKind};
use crate::secret::Secret;
use config::{GroupsFrom, LdapConfig};

/// Longest username looked up (bytes); longer ones fail like a wrong password.
pub const MAX_USERNAME: usize = 256;
/// Longest password sent to the directory (bytes).
pub const MAX_PASSWORD: usize = 1024;
/// At most this many groups are read for a person.
const MAX_GROUPS: i32 = 1000;

/// The identity key of an LDAP provider's people: (provider id, subject attribute) under this issuer name.
pub fn ldap_issuer(provider: &str) -> String {
    format!("urn:bridgekeeper:ldap:{provider}")
}

pub struct Ldap {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: Arc<ProviderConfig>,
    ldap: LdapConfig,
    /// The TLS settings (CA file or system roots), or why they could not be built.
    tls: Result<Arc<rustls::ClientConfig>, String>,
    down: AtomicBool,
    /// [LD-7b] One permit per connection to the directory (`max_connections`).
    connections: Arc<tokio::sync::Semaphore>,
    /// [LD-9] A DN under `user_base` that names no entry (a random RDN value chosen at load): bound with the typed
    /// password when the name found no single entry, so that an unknown name costs what a wrong password does.
    probe_dn: String,
}

/// What went wrong, as the person's page and the log need it.
fn err(p: &str, kind: UpstreamErrorKind, detail: impl Into<String>) -> UpstreamError {
    UpstreamError::new(p, kind, detail)
}

impl Ldap {
    pub fn new(cfg: Arc<ProviderConfig>) -> Option<Self> {
        let ldap = cfg.ldap.clone()?;
        if ldap.is_cleartext_remote() {
            tracing::warn!(provider = %cfg.id, url = %ldap.url, "insecure = true: passwords go to the directory in the clear");
        }
        for w in config::warnings(&cfg) {
            tracing::warn!(provider = %cfg.id, "{w}");
        }
        let tls = tls_config(&ldap);
        if let Err(e) = &tls {
            tracing::warn!(provider = %cfg.id, error = %e, "LDAP TLS settings unusable; sign-ins will fail");
        }
        let connections = Arc::new(tokio::sync::Semaphore::new(ldap.max_connections as usize));
        let probe_dn = format!("cn=bridgekeeper-no-such-entry-{},{}", crate::secret::random_token(), ldap.user_base);
        Some(Ldap { inner: Arc::new(Inner { cfg, ldap, tls, down: AtomicBool::new(false), connections, probe_dn }) })
    }
}

fn tls_config(l: &LdapConfig) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &l.ca_file {
        Some(path) => {
            for c in config::load_ca(path)? {
                roots.add(c).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

impl PasswordConnector for Ldap {
    fn limits(&self) -> PasswordLimits {
        let l = &self.inner.ldap;
        // The attempt in flight binds, reads groups (a bind and a search) and closes: each bounded.
        PasswordLimits {
            budget: l.budget(),
            turn_wait: Duration::from_secs(3 * l.timeout_secs + 1),
            per_address: l.max_attempts_per_address,
        }
    }

    fn find<'a>(&'a self, username: &'a str) -> Fut<'a, Result<Box<dyn PasswordAttempt>, UpstreamError>> {
        let inner = self.inner.clone();
        let username = username.to_string();
        Box::pin(async move {
            let id = inner.cfg.id.clone();
            // Its own task: a panic in the client library becomes an error page, not a dead worker.
            match tokio::spawn(async move { inner.find(username).await }).await {
                Ok(r) => r.map(|a| Box::new(a) as Box<dyn PasswordAttempt>),
                Err(_) => Err(err(&id, UpstreamErrorKind::Unavailable, "the LDAP sign-in task failed")),
            }
        })
    }
}

/// [LD-7] A name looked up, its connection (and the permit that counts it) held until verified or dropped.
struct Attempt {
    conn: Conn,
    username: String,
    user: Option<SearchEntry>,
    account: Option<String>,
    /// [LD-7] The entry's own failure count (`failure_count_attribute`).
    failures: u32,
}

impl PasswordAttempt for Attempt {
    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn upstream_failures(&self) -> u32 {
        self.failures
    }

    fn verify(self: Box<Self>, password: Secret) -> Fut<'static, Result<FederatedIdentity, UpstreamError>> {
        let id = self.conn.inner.cfg.id.clone();
        Box::pin(async move {
            match tokio::spawn(async move { (*self).run(password).await }).await {
                Ok(r) => r,
                Err(_) => Err(err(&id, UpstreamErrorKind::Unavailable, "the LDAP sign-in task failed")),
            }
        })
    }
}

impl Attempt {
    async fn run(mut self, password: Secret) -> Result<FederatedIdentity, UpstreamError> {
        let inner = self.conn.inner.clone();
        let r = self.conn.verify(self.user.take(), &self.username, password.expose()).await;
        self.conn.close().await;
        inner.note(&r);
        r
    }
}

impl HealthCheck for Ldap {
    /// Connects and binds as the service account.
    fn check<'a>(&'a self, _http: &'a UpstreamHttp) -> Fut<'a, Result<(), UpstreamError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let id = inner.cfg.id.clone();
            let r = match tokio::spawn(async move {
                // Not counted against max_connections (rare: start-up, the CLI, the admin API), so that a check
                // never turns a sign-in away.
                let (handle, driver) = inner.open().await?;
                let mut c = Conn { inner: inner.clone(), handle, driver, _permit: None };
                let r = c.service_bind().await;
                c.close().await;
                r
            })
            .await
            {
                Ok(r) => r,
                Err(_) => Err(err(&id, UpstreamErrorKind::Unavailable, "the LDAP check task failed")),
            };
            self.inner.note(&r);
            r
        })
    }

    fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::Relaxed)
    }
}

/// One connection to the directory, a sign-in's counted by its permit; its driver task is stopped when it is
/// closed or dropped.
struct Conn {
    inner: Arc<Inner>,
    handle: Handle,
    driver: tokio::task::JoinHandle<()>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Inner {
    fn op_timeout(&self) -> Duration {
        Duration::from_secs(self.ldap.timeout_secs)
    }

    fn unavailable(&self, detail: impl Into<String>) -> UpstreamError {
        err(&self.cfg.id, UpstreamErrorKind::Unavailable, detail)
    }

    /// [MT-4] Counted as `rejected{reason="password"}`: the page never says whether the name or the password was wrong.
    fn rejected(&self, detail: impl Into<String>) -> UpstreamError {
        err(&self.cfg.id, UpstreamErrorKind::Rejected, detail).because(super::rejection::Rejection::Password)
    }

    /// [LD-7b] A sign-in's connection, if one of the `max_connections` is free (else `Busy` at once: queueing behind a slow
    /// directory only piles up waiting requests).
    async fn connect(this: &Arc<Inner>) -> Result<Conn, UpstreamError> {
        let permit =
            this.connections.clone().try_acquire_owned().map_err(|_| {
                err(&this.cfg.id, UpstreamErrorKind::Busy, "every connection to the directory is in use")
            })?;
        let (handle, driver) = this.open().await?;
        Ok(Conn { inner: this.clone(), handle, driver, _permit: Some(permit) })
    }

    async fn open(&self) -> Result<(Handle, tokio::task::JoinHandle<()>), UpstreamError> {
        let tls = self.tls.clone().map_err(|e| self.unavailable(format!("TLS settings: {e}")))?;
        let connect = Duration::from_secs(self.ldap.connect_timeout_secs);
        let settings =
            LdapConnSettings::new().set_conn_timeout(connect).set_starttls(self.ldap.start_tls).set_config(tls);
        // StartTLS is one more round trip after the TCP connection.
        let opened =
            tokio::time::timeout(connect + self.op_timeout(), LdapConnAsync::with_settings(settings, &self.ldap.url))
                .await
                .map_err(|_| self.unavailable("connecting timed out"))?
                .map_err(|e| self.unavailable(format!("cannot connect: {e}")))?;
        let (conn, handle) = opened;
        let driver = tokio::spawn(async move {
            let _ = conn.drive().await;
        });
        Ok((handle, driver))
    }

    /// [LD-2] [LD-3] [LD-7a] Connects, binds as the service account and looks the name up.
    async fn find(self: Arc<Self>, username: String) -> Result<Attempt, UpstreamError> {
        let mut conn = Inner::connect(&self).await?;
        let r = conn.find(&username).await;
        if r.is_err() {
            conn.close().await;
        }
        let user = r.inspect_err(|e| self.note::<()>(&Err(e.clone())))?;
        let account = user.as_ref().and_then(|u| entry::subject(u, &self.ldap.subject_attribute));
        // [LD-7a] An entry without its subject could be charged only to the typed name: it is never bound.
        if user.is_some() && account.is_none() {
            conn.close().await;
            let attr = &self.ldap.subject_attribute;
            return Err(self.unavailable(format!("the entry has no {attr} (subject_attribute); not bound")));
        }
        let failures = user.as_ref().map_or(0, |u| entry::failure_count(u, &self.ldap.failure_count_attribute));
        Ok(Attempt { conn, username, user, account, failures })
    }

    /// Remembers whether the directory could be asked (shown on the chooser).
    fn note<T>(&self, r: &Result<T, UpstreamError>) {
        let down = match r {
            Err(e) if e.kind == UpstreamErrorKind::Busy => return,
            Err(e) => e.kind == UpstreamErrorKind::Unavailable,
            Ok(_) => false,
        };
        self.down.store(down, Ordering::Relaxed);
    }
}

impl Conn {
    /// Runs one operation under the operation timeout.
    async fn timed<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = ldap3::result::Result<T>>,
    ) -> Result<T, UpstreamError> {
        tokio::time::timeout(self.inner.op_timeout(), f)
            .await
            .map_err(|_| self.inner.unavailable(format!("{what} timed out")))?
            .map_err(|e| self.inner.unavailable(format!("{what}: {e}")))
    }

    async fn service_bind(&mut self) -> Result<(), UpstreamError> {
        let l = &self.inner.ldap;
        let (dn, pw) = (l.bind_dn.clone(), l.bind_password.clone());
        let mut h = self.handle.clone();
        let res = self.timed("service bind", async move { h.simple_bind(&dn, pw.expose()).await }).await?;
        if res.rc != 0 {
            // A configuration problem (or the directory refusing us), never the person's fault.
            return Err(self.inner.unavailable(format!("service bind refused (result code {})", res.rc)));
        }
        Ok(())
    }

    /// The entries found (at most `limit`) and whether the directory had more (sizeLimitExceeded).
    async fn search(
        &self,
        base: &str,
        filter: &str,
        attrs: Vec<String>,
        limit: i32,
    ) -> Result<(Vec<SearchEntry>, bool), UpstreamError> {
        let secs = i32::try_from(self.inner.ldap.timeout_secs).unwrap_or(5);
        let opts = SearchOptions::new().sizelimit(limit).timelimit(secs).deref(ldap3::DerefAliases::Never);
        let (base, filter, mut h) = (base.to_string(), filter.to_string(), self.handle.clone());
        let res =
            self.timed("search", async move {
                h.with_search_options(opts).search(&base, Scope::Subtree, &filter, attrs).await
            })
            .await?;
        if res.1.rc != 0 && res.1.rc != 4 {
            return Err(self.inner.unavailable(format!("search failed (result code {})", res.1.rc)));
        }
        let entries = res.0.into_iter().filter(|e| !e.is_ref() && !e.is_intermediate()).map(SearchEntry::construct);
        Ok((entries.collect(), res.1.rc == 4))
    }

    /// The one entry the typed name finds (none, or more than one, is `None`).
    async fn find(&mut self, username: &str) -> Result<Option<SearchEntry>, UpstreamError> {
        let inner = self.inner.clone();
        let l = &inner.ldap;
        self.service_bind().await?;
        // [LD-3] The typed name is a literal in the filter (RFC 4515 escaping of `*`, `(`, `)`, `\`, NUL).
        let filter = filter::fill(&l.user_filter, &[("{username}", username)]);
        let (mut found, more) = self.search(&l.user_base, &filter, entry::attributes(&self.inner.cfg), 2).await?;
        if found.len() > 1 || more {
            tracing::warn!(provider = %self.inner.cfg.id, "user_filter matched more than one entry; sign-in refused");
        }
        Ok(if found.len() == 1 && !more { found.pop() } else { None })
    }

    /// [LD-2] [LD-4] [LD-9] Binds as the entry with the typed password (or, for no single entry, as a DN that
    /// does not exist, then refuses), reads the groups. `Rejected` is "wrong username or password", whatever the
    /// cause.
    async fn verify(
        &mut self,
        user: Option<SearchEntry>,
        username: &str,
        password: &str,
    ) -> Result<FederatedIdentity, UpstreamError> {
        // [LD-4] An empty password would be an unauthenticated bind (RFC 4513 §5.1.2), which many directories
        // answer with success: refused before it is sent.
        if password.is_empty() || password.len() > MAX_PASSWORD || password.contains('\0') {
            return Err(self.inner.rejected("empty, overlong or NUL-holding password"));
        }
        let dn = user.as_ref().map_or_else(|| self.inner.probe_dn.clone(), |u| u.dn.clone());
        let (pw, mut h) = (password.to_string(), self.handle.clone());
        let res = self.timed("user bind", async move { h.simple_bind(&dn, &pw).await }).await?;
        let Some(user) = user else {
            return Err(self.inner.rejected("no single entry for this username"));
        };
        match res.rc {
            0 => {}
            // busy, unavailable, other: the directory's trouble, not a wrong password.
            51 | 52 | 80 => return Err(self.inner.unavailable(format!("user bind: result code {}", res.rc))),
            rc => return Err(self.inner.rejected(format!("user bind refused (result code {rc})"))),
        }
        let inner = self.inner.clone();
        let l = &inner.ldap;
        let groups = match l.groups {
            GroupsFrom::None => Vec::new(),
            GroupsFrom::MemberOf => entry::member_of(&user, &l.group_attribute, l.group_base.as_deref()),
            GroupsFrom::Search => {
                let name = filter::username_of(&l.user_filter, &user).unwrap_or_else(|| username.to_string());
                self.groups_of(&user.dn, &name).await?
            }
        };
        entry::identity(&self.inner.cfg, &user, groups).ok_or_else(|| {
            self.inner.unavailable(format!("the entry has no {} (subject_attribute)", l.subject_attribute))
        })
    }

    /// [LD-5] The groups a search finds for the user (as the service account again): names and DNs.
    async fn groups_of(&mut self, user_dn: &str, username: &str) -> Result<Vec<String>, UpstreamError> {
        let inner = self.inner.clone();
        let l = &inner.ldap;
        self.service_bind().await?;
        let filter = filter::fill(&l.group_filter, &[("{dn}", user_dn), ("{username}", username)]);
        let base = l.group_base.clone().unwrap_or_default();
        let (found, more) = self.search(&base, &filter, vec![l.group_name_attribute.clone()], MAX_GROUPS).await?;
        if more {
            tracing::warn!(provider = %self.inner.cfg.id, "more than {MAX_GROUPS} groups; the rest are not read");
        }
        Ok(found.iter().flat_map(|g| entry::group_names(g, &l.group_name_attribute, l.group_base.as_deref())).collect())
    }

    /// Unbinds (best effort, bounded) and stops the driver.
    async fn close(&mut self) {
        let mut h = self.handle.clone();
        let _ = tokio::time::timeout(Duration::from_secs(1), async move { h.unbind().await }).await;
        self.driver.abort();
    }
}
