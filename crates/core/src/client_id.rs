//! [CL-1] A client id taken from a request names a client only when it is 1 to [`MAX_BYTES`] bytes long. A longer
//! one is answered as an unknown client before any lookup, so that it never reaches the database, the client
//! cache or a rate-limit key (each bounded by entries, not bytes). No client can have a longer id: the broker's
//! own are short, the admin API allows 100 bytes and a `[[clients]]` entry [`MAX_BYTES`].

/// The longest client id there can be, in bytes (the `sub` limit of OIDC Core, for the same reason).
pub const MAX_BYTES: usize = 255;

/// [CL-1] May `id`, as a request sent it, name a client at all?
pub fn may_name_a_client(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cl_1_a_client_id_is_one_to_255_bytes() {
        assert!(may_name_a_client("app"));
        assert!(may_name_a_client(&"a".repeat(255)));
        assert!(!may_name_a_client(&"a".repeat(256)));
        assert!(!may_name_a_client(&"a".repeat(100_000)));
        assert!(!may_name_a_client(""));
        // Bytes, not characters: 128 two-byte characters are 256 bytes.
        assert!(may_name_a_client(&"é".repeat(127)));
        assert!(!may_name_a_client(&"é".repeat(128)));
    }
}
