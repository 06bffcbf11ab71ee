//! `bridgekeeper check-config [--online]`: the configuration file (already loaded by `run`), every provider file
//! and every template, one line per problem naming the file and the key; exit 2 when any. Contacts nothing
//! unless `--online`, which fetches each enabled OIDC provider's discovery document and JWKS.

use super::CliError;
use crate::settings::Settings;
use crate::upstream::config::{ProviderConfig, ProviderKind};

pub async fn check_config(settings: &Settings, online: bool) -> Result<(), CliError> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut problems = Vec::new();
    let providers = check_providers(settings, &env, &mut problems);
    let template_problems = crate::respond::Templates::check(settings.templates_override());
    if template_problems.is_empty()
        && let Ok(t) = crate::respond::Templates::load(settings.templates_override())
        && !t.locales().contains(&settings.default_locale)
    {
        problems.push(format!(
            "key `default_locale`: no catalogue locales/{}.ftl (there are: {})",
            settings.default_locale,
            t.locales().join(", ")
        ));
    }
    problems.extend(template_problems);
    if online && problems.is_empty() {
        problems.extend(check_online(settings, &env).await);
    }
    for p in &problems {
        println!("{p}");
    }
    if !problems.is_empty() {
        return Err(CliError::Config(format!("{} problem(s) found", problems.len())));
    }
    let enabled = providers.iter().filter(|p| p.enabled).count();
    println!(
        "configuration valid: {} provider file(s) ({enabled} enabled), templates {}{}",
        providers.len(),
        settings.templates_override().map(|d| d.display().to_string()).unwrap_or_else(|| "built in".into()),
        if online { ", upstreams reachable" } else { "" }
    );
    Ok(())
}

/// Every provider file on its own, so that each broken file is reported.
fn check_providers(settings: &Settings, env: &[(String, String)], problems: &mut Vec<String>) -> Vec<ProviderConfig> {
    if !settings.providers_dir.exists() {
        eprintln!("note: providers_dir {} does not exist: no upstream providers", settings.providers_dir.display());
    }
    let (loaded, found) = crate::upstream::config::check_dir(&settings.providers_dir, env);
    problems.extend(found);
    for p in &loaded {
        check_provider(settings, p, problems);
        for w in crate::upstream::ldap::config::warnings(p) {
            println!("{w}");
        }
    }
    loaded
}

/// What `serve` checks about a provider beyond its own file.
fn check_provider(settings: &Settings, p: &ProviderConfig, problems: &mut Vec<String>) {
    if !p.enabled {
        return;
    }
    if p.kind == ProviderKind::Dev && !settings.dev_mode {
        eprintln!("note: {}: the dev provider is ignored unless dev_mode = true", p.file.display());
    }
    if p.store_tokens && settings.encryption_keys.expose().is_empty() {
        problems.push(format!(
            "{}: key `store_tokens`: needs encryption_keys (upstream tokens are stored encrypted)",
            p.file.display()
        ));
    }
    if p.refresh_upstream && settings.encryption_keys.expose().is_empty() {
        problems.push(format!(
            "{}: key `refresh_upstream`: needs encryption_keys (upstream refresh tokens are stored encrypted)",
            p.file.display()
        ));
    }
}

/// Discovery and JWKS of every enabled OIDC provider; the metadata of every SAML one with `idp_metadata_url`.
async fn check_online(settings: &Settings, env: &[(String, String)]) -> Vec<String> {
    let timeout = std::time::Duration::from_secs(settings.upstream_timeout_secs.max(1));
    let registry = match crate::upstream::Registry::load(&settings.providers_dir, settings.dev_mode, timeout, env) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    for p in registry.list().filter(|p| p.health().is_some()) {
        if let Err(e) = registry.check(&p.cfg.id).await {
            let key = if p.cfg.kind == ProviderKind::Saml { "idp_metadata_url" } else { "issuer" };
            problems.push(format!("{}: key `{key}`: {}", p.cfg.file.display(), e.detail));
        }
    }
    problems
}
