//! Downstream clients (apps): hashed secret, redirect URIs, allowed scopes and grant types.

use diesel::prelude::*;

use super::schema::clients;
use super::{DbConn, StoreResult, from_json_list, to_json_list};

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
}

/// A registered client. `secret_hash` is SHA-256 of the secret; `None` means a public client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub skip_consent: bool,
    pub require_pkce: bool,
    /// "config" (upserted from the config file) or "cli".
    pub source: String,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
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
            client_id: r.client_id,
            secret_hash: r.secret_hash,
            name: r.name,
            skip_consent: r.skip_consent,
            require_pkce: r.require_pkce,
            source: r.source,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub fn insert(conn: &mut DbConn, client: &Client) -> StoreResult<()> {
    diesel::insert_into(clients::table).values(client.to_row()).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, client_id: &str) -> StoreResult<Option<Client>> {
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

pub fn delete(conn: &mut DbConn, client_id: &str) -> StoreResult<bool> {
    Ok(diesel::delete(clients::table.find(client_id)).execute(conn)? == 1)
}

pub fn set_secret_hash(conn: &mut DbConn, client_id: &str, secret_hash: &str, now: i64) -> StoreResult<bool> {
    let n = diesel::update(clients::table.find(client_id))
        .set((clients::secret_hash.eq(secret_hash), clients::updated_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Inserts or replaces a client declared in configuration (keeps `created_at`).
pub fn upsert(conn: &mut DbConn, client: &Client) -> StoreResult<()> {
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
            ))
            .execute(conn)?;
        if n == 0 {
            diesel::insert_into(clients::table).values(&row).execute(conn)?;
        }
        Ok(())
    })
}
