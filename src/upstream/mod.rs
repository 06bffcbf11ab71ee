//! Upstream identity providers, one TOML file each in `providers_dir`.

pub mod config;
