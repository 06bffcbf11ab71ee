//! The page templates (tera) and static assets, compiled into the binary by `build.rs` so that it runs from any
//! folder. `templates_dir`, when set, overrides: any file there replaces the built-in one of the same name
//! (re-branding one page, or the stylesheet, needs one file), and new files are added.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::PageError;

include!(concat!(env!("OUT_DIR"), "/builtin_assets.rs"));

/// The templates, assets and message catalogues in force; a reload swaps them whole (`replace`).
pub struct Templates {
    current: RwLock<Arc<Loaded>>,
}

/// One consistent set of templates, assets and catalogues.
struct Loaded {
    tera: tera::Tera,
    assets: BTreeMap<String, Vec<u8>>,
    catalogue: Arc<crate::i18n::Catalogue>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Templates({})", self.loaded().tera.get_template_names().count())
    }
}

/// Where one file came from: built in, or a path in `templates_dir`.
#[derive(Debug, Clone)]
enum Origin {
    BuiltIn,
    File(PathBuf),
}

impl Origin {
    fn describe(&self, name: &str) -> String {
        match self {
            Origin::BuiltIn => format!("built-in {name}"),
            Origin::File(p) => p.display().to_string(),
        }
    }
}

type Sources = BTreeMap<String, (Origin, Vec<u8>)>;

impl Templates {
    /// The built-in templates and assets alone.
    pub fn builtin() -> Result<Self, String> {
        Self::load(None)
    }

    /// The built-ins, with the files of `dir` (if any) in place of those of the same name. Every problem found is
    /// one line of the error.
    pub fn load(dir: Option<&Path>) -> Result<Self, String> {
        let problems = Self::check(dir);
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
        let sources = sources(dir).map_err(|p| p.join("\n"))?;
        let catalogue = Arc::new(catalogue(&sources).map_err(|p| p.join("\n"))?);
        let mut tera = build(&sources).map_err(|(_, e)| e)?;
        tera.register_function("t", crate::i18n::Translate(catalogue.clone()));
        tera.register_filter("localdate", crate::i18n::LocalDate(catalogue.clone()));
        tera.register_filter("localnumber", crate::i18n::LocalNumber(catalogue.clone()));
        let assets = sources.into_iter().filter(|(n, _)| !is_template(n)).map(|(n, (_, b))| (n, b)).collect();
        Ok(Templates { current: RwLock::new(Arc::new(Loaded { tera, assets, catalogue })) })
    }

    fn loaded(&self) -> Arc<Loaded> {
        match self.current.read() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `other` in force at once (a reload that validated it); pages being rendered finish with the old set.
    pub fn replace(&self, other: Templates) {
        let next = other.loaded();
        match self.current.write() {
            Ok(mut l) => *l = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }

    /// The languages there are catalogues for.
    pub fn locales(&self) -> Vec<String> {
        self.loaded().catalogue.tags()
    }

    pub fn catalogue(&self) -> Arc<crate::i18n::Catalogue> {
        self.loaded().catalogue.clone()
    }

    /// Every problem with the templates (`check-config`): one line each, naming the file.
    pub fn check(dir: Option<&Path>) -> Vec<String> {
        let sources = match sources(dir) {
            Ok(s) => s,
            Err(problems) => return problems,
        };
        let mut problems = catalogue(&sources).err().unwrap_or_default();
        // Each override on its own over the built-ins, so that a problem names the file that has it.
        for (name, (origin, bytes)) in
            sources.iter().filter(|(n, (o, _))| is_template(n) && matches!(o, Origin::File(_)))
        {
            let mut alone: Sources = builtin_sources().into_iter().filter(|(n, _)| is_template(n)).collect();
            alone.insert(name.clone(), (origin.clone(), bytes.clone()));
            if let Err((_, e)) = build(&alone) {
                problems.push(format!("{}: {e}", origin.describe(name)));
            }
        }
        if problems.is_empty()
            && let Err((origin, e)) = build(&sources)
        {
            problems.push(format!("{origin}: {e}"));
        }
        problems
    }

    /// Renders a page in the request's language (`lang` in the context; see `i18n`).
    pub fn render(&self, name: &str, ctx: &tera::Context) -> Result<String, PageError> {
        let mut ctx = ctx.clone();
        if !ctx.contains_key("lang") {
            let lang = crate::i18n::current();
            ctx.insert("lang", lang.as_deref().unwrap_or(crate::i18n::BASE_LOCALE));
        }
        self.loaded().tera.render(name, &ctx).map_err(|e| {
            tracing::error!(template = name, error = %error_chain(&e), "template rendering failed");
            PageError::new(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "This page could not be shown.",
            )
            .keyed("page-broken")
        })
    }

    /// A static asset by its name under the templates folder (e.g. `static/style.css`).
    pub fn asset(&self, name: &str) -> Option<Vec<u8>> {
        self.loaded().assets.get(name).cloned()
    }

    /// The names of the templates loaded.
    pub fn names(&self) -> Vec<String> {
        self.loaded().tera.get_template_names().map(String::from).collect()
    }
}

fn is_template(name: &str) -> bool {
    name.ends_with(".html")
}

/// The catalogues among the sources: `locales/{tag}.ftl`.
fn catalogue(sources: &Sources) -> Result<crate::i18n::Catalogue, Vec<String>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for (name, (origin, bytes)) in sources {
        let Some(tag) = name.strip_prefix("locales/").and_then(|n| n.strip_suffix(".ftl")) else { continue };
        match std::str::from_utf8(bytes) {
            Ok(text) => files.push((tag, origin.describe(name), text)),
            Err(_) => problems.push(format!("{}: not UTF-8", origin.describe(name))),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    crate::i18n::Catalogue::new(files)
}

fn builtin_sources() -> Sources {
    BUILTIN_ASSETS.iter().map(|(n, b)| (n.to_string(), (Origin::BuiltIn, b.to_vec()))).collect()
}

/// The built-ins, then every file under `dir` in place of the built-in of the same name.
fn sources(dir: Option<&Path>) -> Result<Sources, Vec<String>> {
    let mut map = builtin_sources();
    let Some(dir) = dir else { return Ok(map) };
    if !dir.is_dir() {
        return Err(vec![format!("templates_dir {}: not a folder", dir.display())]);
    }
    let mut problems = Vec::new();
    let mut files = Vec::new();
    walk(dir, &mut files, &mut problems);
    for path in files {
        let Ok(rel) = path.strip_prefix(dir) else { continue };
        let name = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        match std::fs::read(&path) {
            Ok(bytes) => {
                map.insert(name, (Origin::File(path), bytes));
            }
            Err(e) => problems.push(format!("{}: cannot read ({e})", path.display())),
        }
    }
    if problems.is_empty() { Ok(map) } else { Err(problems) }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return problems.push(format!("{}: cannot read ({e})", dir.display())),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, files, problems);
        } else {
            files.push(path);
        }
    }
}

/// Parses the templates together (inheritance needs them all); an error names the file at fault when it can.
fn build(sources: &Sources) -> Result<tera::Tera, (String, String)> {
    let mut raw = Vec::new();
    for (name, (origin, bytes)) in sources.iter().filter(|(n, _)| is_template(n)) {
        let text = std::str::from_utf8(bytes).map_err(|_| (origin.describe(name), "not UTF-8".to_string()))?;
        raw.push((name.as_str(), text));
    }
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![".html"]);
    tera.add_raw_templates(raw).map_err(|e| {
        let culprit = sources
            .iter()
            .find(|(n, _)| e.to_string().contains(&format!("'{n}'")))
            .map(|(n, (o, _))| o.describe(n))
            .unwrap_or_else(|| "templates".into());
        (culprit, error_chain(&e))
    })?;
    Ok(tera)
}

/// tera's error with its causes, on one line.
fn error_chain(e: &tera::Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn every_file_of_the_templates_folder_is_built_in() {
        let names: Vec<&str> = BUILTIN_ASSETS.iter().map(|(n, _)| *n).collect();
        for n in ["base.html", "error.html", "login.html", "static/style.css"] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        let t = Templates::builtin().unwrap();
        assert!(t.asset("static/style.css").is_some_and(|b| !b.is_empty()));
        assert!(t.asset("login.html").is_none(), "templates are not served as assets");
    }

    /// [LC-2] The shipped catalogues are complete (every key English has), and every key a built-in template asks
    /// for is in English.
    #[test]
    fn lc_2_every_shipped_catalogue_has_every_key_and_templates_ask_only_for_known_keys() {
        let t = Templates::builtin().unwrap();
        assert_eq!(t.locales(), vec!["de", "en", "ko"]);
        let en = t.catalogue().keys("en");
        for lang in ["de", "ko"] {
            assert_eq!(t.catalogue().keys(lang), en, "{lang} has exactly the keys of en");
        }
        for (name, bytes) in BUILTIN_ASSETS.iter().filter(|(n, _)| is_template(n)) {
            let text = std::str::from_utf8(bytes).unwrap();
            for part in text.split("t(key=\"").skip(1) {
                let key = &part[..part.find('"').unwrap()];
                assert!(en.contains(key), "{name} asks for `{key}`, which en.ftl does not have");
            }
        }
    }

    /// [LC-3] Every `PageError::keyed(KEY)` in the code has `KEY-title` and `KEY-message` in English (and so, by
    /// the test above, in every catalogue).
    #[test]
    fn lc_3_every_keyed_error_page_has_its_messages() {
        let en = Templates::builtin().unwrap().catalogue().keys("en");
        let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for part in text.split(".keyed(\"").skip(1).chain(text.split("=> \"page-").skip(1)) {
                    let key = part[..part.find('"').unwrap()].to_string();
                    let key = if key.starts_with("page-") { key } else { format!("page-{key}") };
                    for suffix in ["title", "message"] {
                        assert!(en.contains(&format!("{key}-{suffix}")), "{}: {key}-{suffix}", path.display());
                    }
                    seen += 1;
                }
            }
        }
        assert!(seen >= 20, "found {seen} keyed pages");
    }

    /// [LC-1] Dates and numbers on the pages follow the page's language.
    #[test]
    fn lc_1_dates_and_numbers_follow_the_language() {
        let t = Templates::builtin().unwrap();
        let mut ctx = tera::Context::new();
        for (k, v) in [("dev_mode", "false"), ("name", "\"App\""), ("client_id", "\"c1\""), ("secret", "\"s\"")] {
            ctx.insert(k, &serde_json::from_str::<serde_json::Value>(v).unwrap());
        }
        ctx.insert("grace_until", &1_764_590_400i64);
        ctx.insert("lang", "de");
        let de = t.render("developer_secret.html", &ctx).unwrap();
        assert!(de.contains("bis 01.12.2025, 12:00 UTC gültig"), "{de}");
        ctx.insert("lang", "ko");
        assert!(t.render("developer_secret.html", &ctx).unwrap().contains("2025년 12월 1일 12:00 UTC"));
    }

    #[test]
    fn a_catalogue_override_missing_a_key_is_a_problem_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("locales")).unwrap();
        write(&dir.path().join("locales"), "de.ftl", "login-title = Anmelden\n");
        let problems = Templates::check(Some(dir.path()));
        assert!(problems.iter().any(|p| p.contains("de.ftl") && p.contains("`login-heading`")), "{problems:?}");
        write(&dir.path().join("locales"), "de.ftl", "login-title = { broken\n");
        assert!(Templates::check(Some(dir.path())).iter().any(|p| p.contains("de.ftl: line 1")));
    }

    #[test]
    fn an_override_replaces_only_its_namesake() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "home.html", "{% extends \"base.html\" %}{% block content %}OWN HOME{% endblock content %}");
        let t = Templates::load(Some(dir.path())).unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("dev_mode", &false);
        ctx.insert("issuer", "http://x");
        assert!(t.render("home.html", &ctx).unwrap().contains("OWN HOME"));
        assert!(t.names().iter().any(|n| n == "login.html"));
    }

    #[test]
    fn a_broken_override_is_named_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "login.html", "{% if %}");
        write(dir.path(), "consent.html", "{% block x %}");
        let problems = Templates::check(Some(dir.path()));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("login.html")), "{problems:?}");
        assert!(problems.iter().all(|p| p.contains(&dir.path().display().to_string())), "{problems:?}");
        assert!(Templates::load(Some(dir.path())).is_err());
        assert!(Templates::check(Some(&dir.path().join("nope")))[0].contains("not a folder"));
    }
}
