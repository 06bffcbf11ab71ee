//! [HR-4] [HR-5] Provider generations: each provider's settings have a generation (a hash of what its file and
//! environment resolved to), a pending upstream login records the generation it began with, and a reload builds
//! the next registry from the previous one: unchanged providers are kept as they are (their discovery cache and
//! health too), changed and added ones are new, and the previous generation of a changed provider is kept for as
//! long as a login begun with it can still come back ([`PENDING_LOGIN_SECS`]). A removed provider is not kept:
//! its in-flight logins end with a page ([HR-6]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::config::ProviderConfig;
use super::{Provider, Registry};

/// How long a pending upstream login lives (the person's time at the upstream), and so how long the previous
/// generation of a changed provider is kept.
pub const PENDING_LOGIN_SECS: i64 = 600;

/// A generation no longer in force, kept for the logins begun with it.
pub(super) struct Retired {
    pub(super) provider: Arc<Provider>,
    /// App clock: after this, no login begun with it is still pending.
    pub(super) until: i64,
}

/// The retired generations (a poisoned lock still holds a whole list: entries are only added or dropped whole).
fn lock_retired(list: &Mutex<Vec<Retired>>) -> std::sync::MutexGuard<'_, Vec<Retired>> {
    list.lock().unwrap_or_else(|p| p.into_inner())
}

/// The generation of a provider's settings: SHA-256 over its resolved settings, secrets included by hash. The
/// file's path is left out (instances may keep their files in different folders; a login begun at one may come
/// back to another), and so are the paths of an Apple key file (its PEM is in `private_key`), of a SAML provider's
/// certificate and metadata files (read into `saml`), and of an LDAP CA file (its contents count instead: a CA
/// replaced in place is a new generation, whose TLS settings are built anew).
pub fn generation_of(cfg: &ProviderConfig) -> String {
    let mut c = cfg.clone();
    c.file = Default::default();
    c.private_key_file = None;
    // [SA-12] A SAML provider's files count by what was read from them (`saml`: the pinned certificate's DER, the
    // metadata file's IdP), not by where they are.
    (c.idp_certificate_file, c.idp_metadata_file) = (None, None);
    let secret = |s: &Option<crate::secret::Secret>| s.as_ref().map(|s| crate::secret::hash_token(s.expose()));
    // [LD-1] The `[ldap]` table's secret (redacted in its Debug form) by hash, its CA file by contents.
    let ldap = c.ldap.as_mut().map(|l| {
        let ca = l.ca_file.take().map(|f| std::fs::read_to_string(f).map(|pem| crate::secret::hash_token(&pem)).ok());
        (crate::secret::hash_token(l.bind_password.expose()), ca)
    });
    let form = format!("{c:?} {:?} {:?} {ldap:?}", secret(&c.client_secret), secret(&c.private_key));
    crate::secret::hash_token(&form)[..32].to_string()
}

/// What a reload changed in the provider set, by id.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Changes {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// [HR-5b] The members of a provider's settings that cannot change who answers a login or what the broker believes
/// of the answer, so a login begun before a reload that changed only these finishes with the generation it began
/// with: the button (`display_name`, `icon`), the client secret (the code is still redeemed with the same client
/// id; rotating it must not break logins in flight), and what the callback already takes from the generation in
/// force ([HR-5a]: `trust_email`, `link_by_email`, `store_tokens`, `logout_upstream`). Provider files have no
/// timeout of their own (`upstream_timeout_secs` is the broker's). Every other member — and any member added
/// later — counts.
pub const ANSWERER_ALLOW_LIST: &[&str] =
    &["display_name", "icon", "client_secret", "trust_email", "link_by_email", "store_tokens", "logout_upstream"];

/// [HR-5b] Who answers a provider's logins and what is believed of them: SHA-256 over its resolved settings
/// (serialized, secrets by hash) without the [`ANSWERER_ALLOW_LIST`] members, the file's path and the Apple key
/// file's path (its PEM is in `private_key`). `None` when they cannot be serialized (then nothing matches).
pub fn answerer_fingerprint(cfg: &ProviderConfig) -> Option<String> {
    let mut c = cfg.clone();
    c.file = Default::default();
    c.private_key_file = None;
    serde_json::to_value(&c).ok().map(fingerprint_of)
}

fn fingerprint_of(mut v: serde_json::Value) -> String {
    if let Some(m) = v.as_object_mut() {
        m.retain(|k, _| !ANSWERER_ALLOW_LIST.contains(&k.as_str()));
    }
    crate::secret::hash_token(&v.to_string())[..32].to_string()
}

/// [HR-5b] Whether a login begun with generation `a` may finish with it while `b` is in force: their answerer
/// fingerprints are the same (another issuer, tenants, endpoints, client id, scopes, claim pointers, group rules,
/// `honours_prompt_login`, … are not).
pub fn same_answerers(a: &ProviderConfig, b: &ProviderConfig) -> bool {
    matches!((answerer_fingerprint(a), answerer_fingerprint(b)), (Some(x), Some(y)) if x == y)
}

/// [HR-5] At most this many retired generations are kept per provider (a flapping file under `watch_config` would
/// otherwise keep one per reload for 600 s, each with its discovery and keys); a login begun with an older one
/// gets the 409 page.
pub const MAX_RETIRED_PER_PROVIDER: usize = 8;

/// Keeps the newest [`MAX_RETIRED_PER_PROVIDER`] of each provider's retired generations (newest: retired last,
/// so kept until latest).
fn cap_per_provider(retired: &mut Vec<Retired>) {
    retired.sort_by_key(|r| std::cmp::Reverse(r.until));
    let mut seen: HashMap<String, usize> = HashMap::new();
    retired.retain(|r| {
        let n = seen.entry(r.provider.cfg.id.clone()).or_default();
        *n += 1;
        *n <= MAX_RETIRED_PER_PROVIDER
    });
}

impl Registry {
    /// The provider `id` as it was when a login began with `generation` (`None`: a login recorded before
    /// generations existed, which takes the one in force). `None` when the provider is gone, or that generation
    /// is no longer kept.
    pub fn generation(&self, id: &str, generation: Option<&str>, now: i64) -> Option<Arc<Provider>> {
        let current = self.get(id)?;
        let Some(g) = generation else { return Some(current.clone()) };
        if current.generation == g {
            return Some(current.clone());
        }
        lock_retired(&self.retired)
            .iter()
            .find(|r| r.until > now && r.provider.cfg.id == id && r.provider.generation == g)
            .map(|r| r.provider.clone())
    }

    /// [HR-5] Drops the retired generations no login begun with can still come back to (the sweeper's tick; a
    /// reload does it too); how many went.
    pub fn prune_retired(&self, now: i64) -> usize {
        let mut kept = lock_retired(&self.retired);
        let before = kept.len();
        kept.retain(|r| r.until > now);
        before - kept.len()
    }

    /// The registry after a reload to `configs` (the enabled providers, in order), built from this one: an
    /// unchanged provider is the same object, a changed one is new and its previous generation is retired until
    /// `now + PENDING_LOGIN_SECS`; retired generations past their time are dropped.
    pub(super) fn succeed(
        &self,
        configs: Vec<ProviderConfig>,
        now: i64,
    ) -> (Vec<Arc<Provider>>, Vec<Retired>, Changes) {
        let mut changes = Changes::default();
        let mut retired: Vec<Retired> = Vec::new();
        let mut next = Vec::new();
        let old: HashMap<&str, &Arc<Provider>> = self.list().map(|p| (p.cfg.id.as_str(), p)).collect();
        for cfg in configs {
            let generation = generation_of(&cfg);
            match old.get(cfg.id.as_str()) {
                Some(p) if p.generation == generation => next.push(Arc::clone(p)),
                Some(p) => {
                    changes.changed.push(cfg.id.clone());
                    retired.push(Retired { provider: Arc::clone(p), until: now + PENDING_LOGIN_SECS });
                    next.push(Arc::new(Provider::new(Arc::new(cfg))));
                }
                None => {
                    changes.added.push(cfg.id.clone());
                    next.push(Arc::new(Provider::new(Arc::new(cfg))));
                }
            }
        }
        changes.removed =
            self.list().filter(|p| !next.iter().any(|n| n.cfg.id == p.cfg.id)).map(|p| p.cfg.id.clone()).collect();
        // Older generations of providers still configured, while a login may still come back with them.
        for r in lock_retired(&self.retired).iter() {
            if r.until > now && next.iter().any(|n| n.cfg.id == r.provider.cfg.id) {
                retired.push(Retired { provider: r.provider.clone(), until: r.until });
            }
        }
        cap_per_provider(&mut retired);
        (next, retired, changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(id: &str, extra: &str) -> ProviderConfig {
        let text = format!(
            "id = \"{id}\"\nkind = \"oidc\"\nissuer = \"https://idp.example\"\nclient_id = \"c\"\nclient_secret = \"s1\"\nscopes = [\"openid\"]\n{extra}"
        );
        super::super::config::parse(&text, std::path::Path::new("/etc/bk/providers/x.toml"), &[]).unwrap()
    }

    fn registry(configs: Vec<ProviderConfig>) -> Registry {
        Registry::from_configs(
            configs,
            super::super::http::UpstreamHttp::new(std::time::Duration::from_secs(1)).unwrap(),
        )
    }

    #[test]
    fn hr_5_the_generation_follows_the_settings_and_secrets_but_not_the_files_folder() {
        let a = cfg("a", "");
        let mut moved = a.clone();
        moved.file = "/srv/other/providers/x.toml".into();
        assert_eq!(generation_of(&a), generation_of(&moved), "another folder, same settings");
        assert_ne!(generation_of(&a), generation_of(&cfg("a", "display_name = \"A\"\n")));
        let mut rotated = a.clone();
        rotated.client_secret = Some(crate::secret::Secret::new("s2"));
        assert_ne!(generation_of(&a), generation_of(&rotated), "a rotated secret is a new generation");
        assert_eq!(generation_of(&a), generation_of(&cfg("a", "")), "stable");
    }

    #[test]
    fn ld_10_a_rotated_service_password_or_ca_is_a_new_generation_but_not_the_ca_files_folder() {
        let text = "id = \"corp\"\nkind = \"ldap\"\n[ldap]\nurl = \"ldaps://dir.example\"\nbind_dn = \"cn=svc\"\nbind_password = \"pw-1\"\nuser_base = \"ou=people\"\n";
        let a = super::super::config::parse(text, std::path::Path::new("/etc/bk/providers/corp.toml"), &[]).unwrap();
        let mut rotated = a.clone();
        rotated.ldap.as_mut().unwrap().bind_password = crate::secret::Secret::new("pw-2");
        assert_ne!(generation_of(&a), generation_of(&rotated), "the service password counts (by hash)");
        let dir = tempfile::tempdir().unwrap();
        let with_ca = |folder: &str| {
            let f = dir.path().join(folder).join("ca.pem");
            let mut c = a.clone();
            c.ldap.as_mut().unwrap().ca_file = Some(f);
            c
        };
        for folder in ["one", "two"] {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
            std::fs::write(dir.path().join(folder).join("ca.pem"), "CA 1").unwrap();
        }
        let ca1 = generation_of(&with_ca("one"));
        assert_ne!(ca1, generation_of(&a), "a CA file instead of the system roots");
        assert_eq!(ca1, generation_of(&with_ca("two")), "the same CA in another folder");
        std::fs::write(dir.path().join("one").join("ca.pem"), "CA 2").unwrap();
        assert_ne!(ca1, generation_of(&with_ca("one")), "a CA replaced in place");
    }

    #[test]
    fn hr_4_a_reload_keeps_unchanged_providers_and_retires_changed_ones_for_the_login_ttl() {
        let now = 1_000_000;
        let old = registry(vec![cfg("a", ""), cfg("b", ""), cfg("gone", "")]);
        let (a0, b0) = (old.get("a").unwrap().clone(), old.get("b").unwrap().clone());
        let mut b = cfg("b", "");
        b.scopes.push("email".into());
        let next = old.next(vec![cfg("a", ""), b, cfg("new", "")], now);
        assert_eq!(
            next.changes,
            Changes { added: vec!["new".into()], changed: vec!["b".into()], removed: vec!["gone".into()] }
        );
        let next = next.registry;
        assert!(Arc::ptr_eq(next.get("a").unwrap(), &a0), "unchanged: the same provider (its discovery cache too)");
        assert!(!Arc::ptr_eq(next.get("b").unwrap(), &b0));
        assert_eq!(next.get("b").unwrap().cfg.scopes, ["openid", "email"]);
        // [HR-5] A login begun with b's old generation gets the old settings; a new one the new settings.
        let old_b = next.generation("b", Some(&b0.generation), now).unwrap();
        assert!(Arc::ptr_eq(&old_b, &b0));
        assert_eq!(old_b.cfg.scopes, ["openid"]);
        let cur = next.get("b").unwrap().generation.clone();
        assert!(Arc::ptr_eq(&next.generation("b", Some(&cur), now).unwrap(), next.get("b").unwrap()));
        assert!(next.generation("b", None, now).is_some(), "a login recorded before generations: the one in force");
        // Once no login begun with it can be pending, the old generation is gone.
        assert!(next.generation("b", Some(&b0.generation), now + PENDING_LOGIN_SECS).is_none());
        assert!(next.generation("b", Some("unknown"), now).is_none());
        // [HR-6] A removed provider has no generation at all.
        assert!(next.generation("gone", None, now).is_none());
        assert!(next.generation("new", None, now).is_some());
    }

    #[test]
    fn hr_5_retired_generations_outlive_a_second_reload_but_not_their_time_or_their_provider() {
        let t0 = 1_000_000;
        let r0 = registry(vec![cfg("a", "")]);
        let g0 = r0.get("a").unwrap().generation.clone();
        let r1 = r0.next(vec![cfg("a", "display_name = \"one\"\n")], t0).registry;
        let g1 = r1.get("a").unwrap().generation.clone();
        let r2 = r1.next(vec![cfg("a", "display_name = \"two\"\n")], t0 + 100).registry;
        assert!(r2.generation("a", Some(&g0), t0 + 100).is_some(), "still within g0's time");
        assert!(r2.generation("a", Some(&g1), t0 + 100).is_some());
        let r3 = r2.next(vec![cfg("a", "display_name = \"two\"\n")], t0 + PENDING_LOGIN_SECS + 1).registry;
        assert!(r3.generation("a", Some(&g0), t0 + PENDING_LOGIN_SECS + 1).is_none(), "dropped once past its time");
        assert_eq!(lock_retired(&r3.retired).len(), 1, "g1 is kept until t0 + 100 + TTL");
        let r4 = r3.next(vec![], t0 + PENDING_LOGIN_SECS + 2).registry;
        assert!(lock_retired(&r4.retired).is_empty(), "a removed provider's generations go with it");
    }

    /// [HR-5] Retired generations past their time are dropped at the sweeper's tick, not only at the next reload.
    #[test]
    fn hr_5_retired_generations_are_pruned_without_a_reload() {
        let t0 = 1_000_000;
        let r0 = registry(vec![cfg("a", ""), cfg("b", "")]);
        let r1 = r0.next(vec![cfg("a", "display_name = \"one\"\n"), cfg("b", "")], t0).registry;
        let r2 = r1.next(vec![cfg("a", "display_name = \"one\"\n"), cfg("b", "display_name = \"B\"\n")], t0 + 100);
        let r2 = r2.registry;
        assert_eq!(lock_retired(&r2.retired).len(), 2);
        assert_eq!(r2.prune_retired(t0 + PENDING_LOGIN_SECS - 1), 0, "both still within their time");
        assert_eq!(r2.prune_retired(t0 + PENDING_LOGIN_SECS), 1, "a's old generation is past its time");
        let g_b = r0.get("b").unwrap().generation.clone();
        assert!(r2.generation("b", Some(&g_b), t0 + PENDING_LOGIN_SECS).is_some(), "b's is kept");
        assert_eq!(r2.prune_retired(t0 + 100 + PENDING_LOGIN_SECS), 1);
        assert!(lock_retired(&r2.retired).is_empty(), "nothing is held once no login can come back");
    }

    /// [HR-5b] Every member of the settings counts in the answerer fingerprint — those a later change adds too —
    /// except the allow-listed ones, and every allow-listed name is a member (no stale entry).
    #[test]
    fn hr_5b_every_member_but_the_allow_listed_ones_changes_the_answerer_fingerprint() {
        let full = cfg(
            "a",
            "icon = \"i.svg\"\ntrust_email = true\nhonours_prompt_login = true\n[claims]\nsubject = \"/sub\"\n",
        );
        let v = serde_json::to_value(&full).unwrap();
        let members = v.as_object().unwrap();
        for name in ANSWERER_ALLOW_LIST {
            assert!(members.contains_key(*name), "{name} is a member of the settings");
        }
        let base = fingerprint_of(v.clone());
        assert_eq!(base, answerer_fingerprint(&full).unwrap());
        let mut names: Vec<String> = members.keys().cloned().collect();
        names.push("a_member_added_later".into());
        for name in &names {
            let mut changed = v.clone();
            changed[name.as_str()] = serde_json::json!({"changed": name});
            let allowed = ANSWERER_ALLOW_LIST.contains(&name.as_str());
            assert_eq!(fingerprint_of(changed) == base, allowed, "{name}: allow-listed {allowed}");
        }
    }

    /// [HR-5b] Two configs differing in a member not on the allow-list have other answerers; in an allow-listed one
    /// (the button, the client secret, what the callback takes from the generation in force) the same.
    #[test]
    fn hr_5b_the_answerer_fingerprint_follows_who_answers_and_what_is_believed() {
        let a = cfg("a", "");
        for other in [
            "honours_prompt_login = false\n",
            "authorization_url = \"https://elsewhere.example/authorize\"\n",
            "[claims]\nsubject = \"/preferred_username\"\n",
            "[[group_rules]]\nupstream = \"x\"\ngroup = \"y\"\n",
            "groups_max_age_secs = 60\n",
        ] {
            let b = cfg("a", other);
            assert!(!same_answerers(&a, &b), "{other}");
        }
        let mut client = a.clone();
        client.client_id = "c2".into();
        assert!(!same_answerers(&a, &client), "client_id");
        let mut scoped = a.clone();
        scoped.scopes.push("email".into());
        assert!(!same_answerers(&a, &scoped), "scopes");
        let mut moved = a.clone();
        moved.issuer = Some("https://other.example".into());
        assert!(!same_answerers(&a, &moved), "issuer");
        let mut rotated = a.clone();
        rotated.client_secret = Some(crate::secret::Secret::new("s2"));
        rotated.display_name = "Renamed".into();
        rotated.trust_email = true;
        rotated.store_tokens = true;
        rotated.file = "/srv/elsewhere/x.toml".into();
        assert!(same_answerers(&a, &rotated), "allow-listed members only");
        let v = serde_json::to_value(&a).unwrap().to_string();
        assert!(!v.contains("\"s1\""), "a secret serializes by its hash: {v}");
    }

    /// [HR-5] At most `MAX_RETIRED_PER_PROVIDER` retired generations per provider are kept (the newest); a login
    /// begun with an older one finds none.
    #[test]
    fn hr_5_retired_generations_are_capped_per_provider() {
        let t0 = 1_000_000;
        let mut r = registry(vec![cfg("a", ""), cfg("b", "")]);
        let mut generations = vec![r.get("a").unwrap().generation.clone()];
        let b0 = r.get("b").unwrap().generation.clone();
        r = r.next(vec![cfg("a", ""), cfg("b", "display_name = \"B\"\n")], t0).registry;
        for i in 1..=12 {
            r = r
                .next(vec![cfg("a", &format!("display_name = \"{i}\"\n")), cfg("b", "display_name = \"B\"\n")], t0 + i)
                .registry;
            generations.push(r.get("a").unwrap().generation.clone());
        }
        let now = t0 + 12;
        let kept: Vec<bool> = generations.iter().map(|g| r.generation("a", Some(g), now).is_some()).collect();
        let n = kept.len();
        assert!(kept[n - 1 - MAX_RETIRED_PER_PROVIDER..].iter().all(|k| *k), "the newest retired and the current");
        assert!(kept[..n - 1 - MAX_RETIRED_PER_PROVIDER].iter().all(|k| !*k), "older ones are not kept: {kept:?}");
        let of_a = lock_retired(&r.retired).iter().filter(|x| x.provider.cfg.id == "a").count();
        assert_eq!(of_a, MAX_RETIRED_PER_PROVIDER);
        assert!(r.generation("b", Some(&b0), now).is_some(), "another provider's are counted apart");
    }
}
