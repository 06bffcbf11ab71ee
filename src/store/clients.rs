//! Downstream clients (apps): hashed secret (and the previous one during a rotation's grace period), redirect
//! URIs, allowed and pending scopes, grant types, owner, the RFC 7592 registration access token (hashed).

use diesel::prelude::*;

use super::schema::{clients, grants};
use super::{DbConn, MultiBackend, StoreResult, Write, from_json_list, to_json_list};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = clients)]
struct ClientRow {
    client_id: String,
    secret_hash: Option<String>,
    name: String,
    redirect_uris_json: String,
    post_logout_redirect_uris_json: String,
    allowed_scopes_json: String,
    grant_types_json: String,
    skip_consent: bool,
    require_pkce: bool,
    source: String,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
    owner_id: Option<String>,
    logo_uri: Option<String>,
    previous_secret_hash: Option<String>,
    previous_secret_expires_at: Option<i64>,
    pending_scopes_json: String,
    registration_token_hash: Option<String>,
    metadata_json: String,
    token_endpoint_auth_method: String,
    client_credentials_allowed: bool,
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: bool,
    frontchannel_logout_uri: Option<String>,
    frontchannel_logout_session_required: bool,
}

/// The client authentication methods a client can be registered for (RFC 7591 §2).
pub const AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "none", PRIVATE_KEY_JWT];
/// [PJ-1] Authentication by a JWT signed with a key the client registered (RFC 7523); such a client has no secret.
pub const PRIVATE_KEY_JWT: &str = "private_key_jwt";
/// [FA-1] The metadata member naming a client's profile (`fapi2`).
pub const PROFILE: &str = "profile";
/// Clients registered before the method was recorded (and `[[clients]]` without the key) may use either secret
/// method, as they always could.
pub const BASIC_OR_POST: &str = "client_secret_basic_or_post";

/// A registered `token_endpoint_auth_method` must fit the client: `none` exactly for public clients.
pub fn check_auth_method(public: bool, method: &str) -> Result<(), String> {
    let known = AUTH_METHODS.contains(&method) || method == BASIC_OR_POST;
    match (known, public, method == "none") {
        (false, _, _) => Err(format!(
            "token_endpoint_auth_method `{method}` is not supported (client_secret_basic, client_secret_post, \
             private_key_jwt, none)"
        )),
        (true, true, false) => Err("a public client authenticates with `none`".into()),
        (true, false, true) => Err("a confidential client cannot use `none`".into()),
        _ => Ok(()),
    }
}

/// A registered client. `secret_hash` is SHA-256 of the secret; `None` means a public client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes the client may request (approved ones only).
    pub allowed_scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub skip_consent: bool,
    pub require_pkce: bool,
    /// "config" (upserted from the config file), "cli", "api" (admin API), "portal" or "dynamic" (RFC 7591).
    pub source: String,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The user who registered it in the developer portal.
    pub owner_id: Option<String>,
    pub logo_uri: Option<String>,
    /// The secret before the last rotation, accepted until `previous_secret_expires_at`.
    pub previous_secret_hash: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    /// Requested scopes that wait for an admin's approval.
    pub pending_scopes: Vec<String>,
    /// SHA-256 of the RFC 7592 registration access token (dynamically registered clients).
    pub registration_token_hash: Option<String>,
    /// Other registered metadata (RFC 7591), echoed back as registered.
    pub metadata_json: String,
    /// How it must authenticate at the token, introspection and revocation endpoints: one of `AUTH_METHODS`,
    /// or `BASIC_OR_POST` for clients from before the method was recorded.
    pub token_endpoint_auth_method: String,
    /// An admin allowed client_credentials for this portal or dynamically registered client.
    pub client_credentials_allowed: bool,
    /// [BL-1] Where the broker POSTs logout tokens (OpenID Back-Channel Logout 1.0 §2.2).
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in its logout tokens (the broker always sends it).
    pub backchannel_logout_session_required: bool,
    /// [FL-1] The address the signed-out page loads in an iframe (OpenID Front-Channel Logout 1.0 §2).
    pub frontchannel_logout_uri: Option<String>,
    /// [FL-3] The iframe's address gets `iss` and `sid`.
    pub frontchannel_logout_session_required: bool,
}

impl Default for Client {
    /// An empty client whose metadata is the empty JSON object, as stored.
    fn default() -> Self {
        Client {
            client_id: String::new(),
            secret_hash: None,
            name: String::new(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            allowed_scopes: vec![],
            grant_types: vec![],
            skip_consent: false,
            require_pkce: false,
            source: String::new(),
            disabled: false,
            created_at: 0,
            updated_at: 0,
            owner_id: None,
            logo_uri: None,
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            pending_scopes: vec![],
            registration_token_hash: None,
            metadata_json: "{}".into(),
            token_endpoint_auth_method: "client_secret_basic".into(),
            client_credentials_allowed: false,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            frontchannel_logout_uri: None,
            frontchannel_logout_session_required: false,
        }
    }
}

impl Client {
    /// A client without credentials (`none`); a `private_key_jwt` client has no secret but its keys.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none() && self.token_endpoint_auth_method != PRIVATE_KEY_JWT
    }

    /// A member of the registered metadata (`metadata_json`), if present.
    fn metadata(&self, key: &str) -> Option<serde_json::Value> {
        match serde_json::from_str::<serde_json::Value>(&self.metadata_json) {
            Ok(serde_json::Value::Object(mut m)) => m.remove(key),
            _ => None,
        }
    }

    /// [PJ-1] The registered public keys (`jwks` in the metadata), for private_key_jwt.
    pub fn jwks(&self) -> Option<serde_json::Value> {
        self.metadata("jwks")
    }

    /// [PJ-7] The `jwks_uri` the broker may fetch this client's keys from: only for a client an admin registered
    /// through the admin API (`source = "api"`); a self-registered client's `jwks_uri` is never fetched.
    pub fn fetchable_jwks_uri(&self) -> Option<String> {
        (self.source == "api" && self.token_endpoint_auth_method == PRIVATE_KEY_JWT)
            .then(|| self.metadata("jwks_uri"))
            .flatten()
            .and_then(|v| v.as_str().map(String::from))
    }

    /// The `jwks_uri` as registered (whether or not the broker may fetch it: see `fetchable_jwks_uri`).
    pub fn registered_jwks_uri(&self) -> Option<String> {
        self.metadata("jwks_uri").and_then(|v| v.as_str().map(String::from))
    }

    /// [FA-1] The client's profile (`profile` in the metadata; `fapi2`, or the default profile).
    pub fn profile(&self) -> bridgekeeper_core::client_profile::Profile {
        use bridgekeeper_core::client_profile::Profile;
        match self.metadata(PROFILE) {
            None | Some(serde_json::Value::Null) => Profile::Default,
            Some(serde_json::Value::String(s)) => Profile::from_stored(Some(&s)),
            // Not a string: never written by this server; read as the strictest profile.
            Some(_) => Profile::Fapi2,
        }
    }

    /// [PAR-5] [FA-2] Must this client push its authorization requests (`require_pushed_authorization_requests`,
    /// or its profile)?
    pub fn requires_par(&self) -> bool {
        self.metadata("require_pushed_authorization_requests").and_then(|v| v.as_bool()).unwrap_or(false)
            || self.profile().requires_par()
    }

    /// [DP-4] [FA-3] Must every token request of this client carry a DPoP proof (`dpop_bound_access_tokens`,
    /// RFC 9449 §5.2, or its profile)?
    pub fn dpop_bound(&self) -> bool {
        self.metadata("dpop_bound_access_tokens").and_then(|v| v.as_bool()).unwrap_or(false)
            || self.profile().requires_dpop()
    }

    /// [PK-2] [FA-2] Must every authorization request of this client carry a PKCE challenge?
    pub fn requires_pkce(&self) -> bool {
        self.require_pkce || self.profile().requires_pkce()
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// May this client use client_credentials? Portal and dynamically registered clients only once an admin
    /// allowed it (anyone can register those).
    pub fn may_use_client_credentials(&self) -> bool {
        self.allows_grant("client_credentials")
            && (!matches!(self.source.as_str(), "portal" | "dynamic") || self.client_credentials_allowed)
    }

    /// Does the registered method admit `presented` ("client_secret_basic", "client_secret_post" or "none")?
    pub fn accepts_auth_method(&self, presented: &str) -> bool {
        match self.token_endpoint_auth_method.as_str() {
            BASIC_OR_POST => matches!(presented, "client_secret_basic" | "client_secret_post"),
            registered => registered == presented,
        }
    }

    /// Does `secret` authenticate this client at `now` (current secret, or the previous one in its grace period)?
    /// Both hashes are compared in constant time.
    pub fn secret_matches(&self, secret: &str, now: i64) -> bool {
        let current = self.secret_hash.as_deref().is_some_and(|h| crate::secret::verify_token_hash(secret, h));
        let previous = match (&self.previous_secret_hash, self.previous_secret_expires_at) {
            (Some(h), Some(until)) => crate::secret::verify_token_hash(secret, h) && now < until,
            _ => false,
        };
        current | previous
    }

    fn to_row(&self) -> ClientRow {
        ClientRow {
            client_id: self.client_id.clone(),
            secret_hash: self.secret_hash.clone(),
            name: self.name.clone(),
            redirect_uris_json: to_json_list(&self.redirect_uris),
            post_logout_redirect_uris_json: to_json_list(&self.post_logout_redirect_uris),
            allowed_scopes_json: to_json_list(&self.allowed_scopes),
            grant_types_json: to_json_list(&self.grant_types),
            skip_consent: self.skip_consent,
            require_pkce: self.require_pkce,
            source: self.source.clone(),
            disabled: self.disabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
            owner_id: self.owner_id.clone(),
            logo_uri: self.logo_uri.clone(),
            previous_secret_hash: self.previous_secret_hash.clone(),
            previous_secret_expires_at: self.previous_secret_expires_at,
            pending_scopes_json: to_json_list(&self.pending_scopes),
            registration_token_hash: self.registration_token_hash.clone(),
            metadata_json: if self.metadata_json.is_empty() { "{}".into() } else { self.metadata_json.clone() },
            token_endpoint_auth_method: self.token_endpoint_auth_method.clone(),
            client_credentials_allowed: self.client_credentials_allowed,
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: self.backchannel_logout_session_required,
            frontchannel_logout_uri: self.frontchannel_logout_uri.clone(),
            frontchannel_logout_session_required: self.frontchannel_logout_session_required,
        }
    }
}

impl TryFrom<ClientRow> for Client {
    type Error = super::StoreError;

    fn try_from(r: ClientRow) -> StoreResult<Self> {
        Ok(Client {
            redirect_uris: from_json_list(&r.redirect_uris_json)?,
            post_logout_redirect_uris: from_json_list(&r.post_logout_redirect_uris_json)?,
            allowed_scopes: from_json_list(&r.allowed_scopes_json)?,
            grant_types: from_json_list(&r.grant_types_json)?,
            pending_scopes: from_json_list(&r.pending_scopes_json)?,
            client_id: r.client_id,
            secret_hash: r.secret_hash,
            name: r.name,
            skip_consent: r.skip_consent,
            require_pkce: r.require_pkce,
            source: r.source,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
            owner_id: r.owner_id,
            logo_uri: r.logo_uri,
            previous_secret_hash: r.previous_secret_hash,
            previous_secret_expires_at: r.previous_secret_expires_at,
            registration_token_hash: r.registration_token_hash,
            metadata_json: r.metadata_json,
            token_endpoint_auth_method: r.token_endpoint_auth_method,
            client_credentials_allowed: r.client_credentials_allowed,
            backchannel_logout_uri: r.backchannel_logout_uri,
            backchannel_logout_session_required: r.backchannel_logout_session_required,
            frontchannel_logout_uri: r.frontchannel_logout_uri,
            frontchannel_logout_session_required: r.frontchannel_logout_session_required,
        })
    }
}

pub fn insert(w: &mut Write<'_>, client: &Client) -> StoreResult<()> {
    let conn = w.invalidating();
    diesel::insert_into(clients::table).values(client.to_row()).execute(conn)?;
    Ok(())
}

/// The client `client_id` names; [CL-1] an id no client can have (over 255 bytes) is not looked up.
pub fn find(conn: &mut DbConn, client_id: &str) -> StoreResult<Option<Client>> {
    if !bridgekeeper_core::client_id::may_name_a_client(client_id) {
        return Ok(None);
    }
    clients::table
        .find(client_id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(Client::try_from)
        .transpose()
}

pub fn list(conn: &mut DbConn) -> StoreResult<Vec<Client>> {
    clients::table
        .order(clients::client_id.asc())
        .select(ClientRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Client::try_from)
        .collect()
}

/// Which clients a listing shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Substring of the client id or name (case-insensitive).
    pub q: Option<String>,
    pub owner_id: Option<String>,
    pub disabled: Option<bool>,
    pub source: Option<String>,
}

diesel::define_sql_function!(
    /// SQL `lower()`, the same on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
);

/// A `LIKE` pattern matching `text` anywhere, with `%`, `_` and `\` escaped.
pub(crate) fn contains_pattern(text: &str) -> String {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

fn filtered(f: &Filter) -> clients::BoxedQuery<'static, MultiBackend> {
    let mut q = clients::table.into_boxed::<MultiBackend>();
    if let Some(text) = &f.q {
        let p = contains_pattern(text);
        q = q.filter(
            lower(clients::client_id).like(p.clone()).escape('\\').or(lower(clients::name).like(p).escape('\\')),
        );
    }
    if let Some(o) = &f.owner_id {
        q = q.filter(clients::owner_id.eq(o.clone()));
    }
    if let Some(d) = f.disabled {
        q = q.filter(clients::disabled.eq(d));
    }
    if let Some(s) = &f.source {
        q = q.filter(clients::source.eq(s.clone()));
    }
    q
}

/// One page of clients matching `f`, ordered by id, and the total number matching.
pub fn page(conn: &mut DbConn, f: &Filter, limit: i64, offset: i64) -> StoreResult<(Vec<Client>, i64)> {
    let total: i64 = filtered(f).count().get_result(conn)?;
    let items = filtered(f)
        .order(clients::client_id.asc())
        .limit(limit)
        .offset(offset)
        .select(ClientRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Client::try_from)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((items, total))
}

pub fn delete(w: &mut Write<'_>, client_id: &str) -> StoreResult<bool> {
    let conn = w.invalidating();
    Ok(diesel::delete(clients::table.find(client_id)).execute(conn)? == 1)
}

/// Replaces the secret; the old one is dropped at once (`grace_until = None`) or kept until `grace_until`.
pub fn set_secret_hash(w: &mut Write<'_>, client_id: &str, secret_hash: &str, now: i64) -> StoreResult<bool> {
    let conn = w.invalidating();
    let n = diesel::update(clients::table.find(client_id))
        .set((
            clients::secret_hash.eq(secret_hash),
            clients::previous_secret_hash.eq(None::<String>),
            clients::previous_secret_expires_at.eq(None::<i64>),
            clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Writes every mutable field of an existing client (not its id, source or creation time).
pub fn update(w: &mut Write<'_>, client: &Client) -> StoreResult<bool> {
    let conn = w.invalidating();
    let r = client.to_row();
    let n = diesel::update(clients::table.find(&client.client_id))
        .set((
            clients::secret_hash.eq(&r.secret_hash),
            clients::name.eq(&r.name),
            clients::redirect_uris_json.eq(&r.redirect_uris_json),
            clients::post_logout_redirect_uris_json.eq(&r.post_logout_redirect_uris_json),
            clients::allowed_scopes_json.eq(&r.allowed_scopes_json),
            clients::grant_types_json.eq(&r.grant_types_json),
            clients::skip_consent.eq(r.skip_consent),
            clients::require_pkce.eq(r.require_pkce),
            clients::disabled.eq(r.disabled),
            clients::updated_at.eq(r.updated_at),
            clients::logo_uri.eq(&r.logo_uri),
            clients::previous_secret_hash.eq(&r.previous_secret_hash),
            clients::previous_secret_expires_at.eq(r.previous_secret_expires_at),
            clients::pending_scopes_json.eq(&r.pending_scopes_json),
            clients::registration_token_hash.eq(&r.registration_token_hash),
            clients::metadata_json.eq(&r.metadata_json),
            clients::token_endpoint_auth_method.eq(&r.token_endpoint_auth_method),
            clients::client_credentials_allowed.eq(r.client_credentials_allowed),
            clients::backchannel_logout_uri.eq(&r.backchannel_logout_uri),
            clients::backchannel_logout_session_required.eq(r.backchannel_logout_session_required),
            clients::frontchannel_logout_uri.eq(&r.frontchannel_logout_uri),
            clients::frontchannel_logout_session_required.eq(r.frontchannel_logout_session_required),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Number of user grants (sign-ins that reached the app) created for the client since `since`.
pub fn sign_ins_since(conn: &mut DbConn, client_id: &str, since: i64) -> StoreResult<i64> {
    Ok(grants::table
        .filter(grants::client_id.eq(client_id))
        .filter(grants::user_id.is_not_null())
        .filter(grants::created_at.ge(since))
        .count()
        .get_result(conn)?)
}

/// [HR-2] Disables the configuration clients `removed` names (taken out of `[[clients]]` at a reload) that are
/// enabled; returns how many. They stay disabled when put back (an admin enables them), so that an instance still
/// running an older file cannot revive a client that was taken out.
pub fn disable_removed_config(w: &mut Write<'_>, removed: &[String], now: i64) -> StoreResult<usize> {
    if removed.is_empty() {
        return Ok(0);
    }
    let conn = w.invalidating();
    let q = clients::table
        .filter(clients::source.eq("config"))
        .filter(clients::disabled.eq(false))
        .filter(clients::client_id.eq_any(removed));
    Ok(diesel::update(q).set((clients::disabled.eq(true), clients::updated_at.eq(now))).execute(conn)?)
}

/// Inserts or replaces a client declared in configuration (keeps `created_at` and `disabled`).
pub fn upsert(w: &mut Write<'_>, client: &Client) -> StoreResult<()> {
    let conn = w.invalidating();
    conn.transaction(|conn| {
        let row = client.to_row();
        let n = diesel::update(clients::table.find(&client.client_id))
            .set((
                clients::secret_hash.eq(&row.secret_hash),
                clients::name.eq(&row.name),
                clients::redirect_uris_json.eq(&row.redirect_uris_json),
                clients::post_logout_redirect_uris_json.eq(&row.post_logout_redirect_uris_json),
                clients::allowed_scopes_json.eq(&row.allowed_scopes_json),
                clients::grant_types_json.eq(&row.grant_types_json),
                clients::skip_consent.eq(row.skip_consent),
                clients::require_pkce.eq(row.require_pkce),
                clients::source.eq(&row.source),
                clients::updated_at.eq(row.updated_at),
                clients::token_endpoint_auth_method.eq(&row.token_endpoint_auth_method),
                clients::backchannel_logout_uri.eq(&row.backchannel_logout_uri),
                clients::backchannel_logout_session_required.eq(row.backchannel_logout_session_required),
                // [PJ-1] A config client's keys (and PAR requirement) follow the file: a rotated key replaces the old.
                clients::metadata_json.eq(&row.metadata_json),
                clients::frontchannel_logout_uri.eq(&row.frontchannel_logout_uri),
                clients::frontchannel_logout_session_required.eq(row.frontchannel_logout_session_required),
            ))
            .execute(conn)?;
        if n == 0 {
            diesel::insert_into(clients::table).values(&row).execute(conn)?;
        }
        Ok(())
    })
}
