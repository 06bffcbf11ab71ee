//! Diesel table definitions, identical for SQLite and PostgreSQL (see `migrations/{sqlite,postgres}`).

diesel::table! {
    users (id) {
        id -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        name -> Nullable<Text>,
        preferred_username -> Nullable<Text>,
        picture -> Nullable<Text>,
        groups_json -> Text,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    identities (id) {
        id -> Text,
        user_id -> Text,
        provider -> Text,
        issuer -> Text,
        subject -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        claims_json -> Text,
        upstream_refresh_token -> Nullable<Text>,
        created_at -> BigInt,
        last_used_at -> BigInt,
        email_trusted -> Bool,
    }
}

diesel::table! {
    clients (client_id) {
        client_id -> Text,
        secret_hash -> Nullable<Text>,
        name -> Text,
        redirect_uris_json -> Text,
        post_logout_redirect_uris_json -> Text,
        allowed_scopes_json -> Text,
        grant_types_json -> Text,
        skip_consent -> Bool,
        require_pkce -> Bool,
        source -> Text,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        owner_id -> Nullable<Text>,
        logo_uri -> Nullable<Text>,
        previous_secret_hash -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<BigInt>,
        pending_scopes_json -> Text,
        registration_token_hash -> Nullable<Text>,
        metadata_json -> Text,
        token_endpoint_auth_method -> Text,
        client_credentials_allowed -> Bool,
        backchannel_logout_uri -> Nullable<Text>,
        backchannel_logout_session_required -> Bool,
        frontchannel_logout_uri -> Nullable<Text>,
        frontchannel_logout_session_required -> Bool,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        provider -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        upstream_sid -> Nullable<Text>,
        upstream_sub -> Nullable<Text>,
        upstream_id_token -> Nullable<Text>,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Nullable<Text>,
        session_hash -> Nullable<Text>,
        scope -> Text,
        auth_time -> Nullable<BigInt>,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        resources -> Nullable<Text>,
    }
}

diesel::table! {
    auth_codes (code_hash) {
        code_hash -> Text,
        grant_id -> Text,
        client_id -> Text,
        user_id -> Text,
        session_hash -> Nullable<Text>,
        redirect_uri -> Nullable<Text>,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Text,
        client_id -> Text,
        user_id -> Text,
        scope -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    revoked_jtis (jti) {
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_der -> Text,
        public_jwk -> Text,
        state -> Text,
        created_at -> BigInt,
        activated_at -> Nullable<BigInt>,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> BigInt,
        event -> Text,
        user_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        provider -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    auth_requests (id) {
        id -> Text,
        client_id -> Text,
        params_json -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        login_session_hash -> Nullable<Text>,
        browser_hash -> Nullable<Text>,
    }
}

diesel::joinable!(identities -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    identities,
    clients,
    consents,
    sessions,
    grants,
    auth_codes,
    refresh_tokens,
    revoked_jtis,
    signing_keys,
    audit_events,
    auth_requests,
);

diesel::table! {
    upstream_logins (state_hash) {
        state_hash -> Text,
        provider -> Text,
        browser_hash -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        auth_request_id -> Nullable<Text>,
        link_user_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        provider_generation -> Nullable<Text>,
    }
}

diesel::table! {
    maintenance_marks (name) {
        name -> Text,
        value -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    pending_links (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        provider -> Text,
        identity_json -> Text,
        auth_request_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    logout_outbox (id) {
        id -> Text,
        client_id -> Text,
        uri -> Text,
        sub -> Text,
        sid -> Nullable<Text>,
        created_at -> BigInt,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        claimed_until -> BigInt,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    upstream_logout_jtis (jti_hash) {
        jti_hash -> Text,
        provider -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    upstream_logouts (state_hash) {
        state_hash -> Text,
        provider -> Text,
        continue_to -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        frames_json -> Text,
    }
}

diesel::table! {
    upstream_tokens (identity_id) {
        identity_id -> Text,
        user_id -> Text,
        provider -> Text,
        access_token -> Nullable<Text>,
        token_type -> Text,
        access_expires_at -> Nullable<BigInt>,
        scope -> Text,
        refresh_token -> Nullable<Text>,
        generation -> BigInt,
        lease_until -> BigInt,
        lease_id -> Nullable<Text>,
        needs_sign_in -> Bool,
        updated_at -> BigInt,
        last_used_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    pushed_requests (uri_hash) {
        uri_hash -> Text,
        client_id -> Text,
        params_json -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        browser_hash -> Nullable<Text>,
    }
}

diesel::table! {
    exchange_consents (user_id, client_id, provider) {
        user_id -> Text,
        client_id -> Text,
        provider -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    client_assertion_jtis (jti_hash) {
        jti_hash -> Text,
        client_id -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    dpop_proof_jtis (jti_hash) {
        jti_hash -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// [SA-7] SAML assertions already believed (SHA-256 of provider and assertion ID), until they expire.
    saml_assertions (id_hash) {
        id_hash -> Text,
        provider -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// [DV-1] Device authorization requests (RFC 8628), by the hash of the device code.
    device_codes (device_code_hash) {
        device_code_hash -> Text,
        user_code_hash -> Text,
        client_id -> Text,
        scope -> Text,
        requester_hash -> Text,
        status -> Text,
        interval_secs -> BigInt,
        last_poll_at -> Nullable<BigInt>,
        user_id -> Nullable<Text>,
        grant_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// [DV-4] Wrong user codes entered, one row each, by the hash of the session or the address.
    device_guesses (id) {
        id -> Text,
        key_hash -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// [RL-6] Failure budgets counted by every instance together (`rate_limits.shared`): per key and window, or per
    /// account; keys are HMACs (no address or name is stored).
    failure_counts (id) {
        id -> Text,
        count -> BigInt,
        last_at -> BigInt,
        expires_at -> BigInt,
    }
}
