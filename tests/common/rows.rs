//! Rows for the storage tests: a migrated database with one user and one client, and rows that point at them.

use std::time::Duration;

use bridgekeeper::store::{self, Db, codes, grants, refresh};

pub fn open() -> (Db, super::TestDb) {
    let t = super::test_db();
    let db = Db::open(&t.url, 8, Duration::from_secs(5)).unwrap();
    (db, t)
}

pub fn user(id: &str, email: &str) -> store::users::User {
    store::users::User {
        id: id.into(),
        email: Some(email.into()),
        email_verified: true,
        name: Some("Ada".into()),
        preferred_username: None,
        picture: None,
        groups_json: "[\"dev\"]".into(),
        disabled: false,
        created_at: 1,
        updated_at: 1,
    }
}

pub fn client(id: &str) -> store::clients::Client {
    store::clients::Client {
        client_id: id.into(),
        secret_hash: Some(bridgekeeper::secret::hash_token("s3cret")),
        name: "App".into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec![],
        allowed_scopes: vec!["openid".into()],
        grant_types: vec!["authorization_code".into()],
        skip_consent: false,
        require_pkce: false,
        source: "cli".into(),
        disabled: false,
        created_at: 1,
        updated_at: 1,
        ..Default::default()
    }
}

pub fn grant(id: &str) -> grants::Grant {
    grants::Grant {
        id: id.into(),
        client_id: "c1".into(),
        user_id: Some("u1".into()),
        session_hash: Some("sess".into()),
        scope: "openid".into(),
        auth_time: Some(5),
        created_at: 10,
        expires_at: 10_000,
        revoked_at: None,
    }
}

pub fn seeded() -> (Db, super::TestDb) {
    let (db, t) = open();
    assert!(db.migrate().unwrap() >= 1, "migrations run on an empty database");
    assert_eq!(db.migrate().unwrap(), 0, "a second run applies nothing");
    let mut c = db.conn().unwrap();
    store::users::insert(&mut c, &user("u1", "ada@example.com")).unwrap();
    db.write_blocking(|w| store::clients::insert(w, &client("c1"))).unwrap();
    (db, t)
}

pub fn code(hash: &str) -> codes::AuthCode {
    codes::AuthCode {
        code_hash: hash.into(),
        grant_id: "g1".into(),
        client_id: "c1".into(),
        user_id: "u1".into(),
        session_hash: None,
        redirect_uri: Some("https://app.example/cb".into()),
        scope: "openid".into(),
        nonce: Some("n".into()),
        code_challenge: None,
        auth_time: 5,
        created_at: 10,
        expires_at: 70,
        used_at: None,
        dpop_jkt: None,
    }
}

pub fn rt(hash: &str) -> refresh::RefreshToken {
    refresh::RefreshToken {
        token_hash: hash.into(),
        grant_id: "g1".into(),
        client_id: "c1".into(),
        user_id: "u1".into(),
        scope: "openid".into(),
        created_at: 10,
        expires_at: 1000,
        used_at: None,
        revoked_at: None,
        dpop_jkt: None,
    }
}
