//! The page templates (tera) and static assets, compiled into the binary by `build.rs` so that it runs from any
//! folder. `templates_dir`, when set, overrides: any file there replaces the built-in one of the same name
//! (re-branding one page, or the stylesheet, needs one file), and new files are added.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::PageError;

include!(concat!(env!("OUT_DIR"), "/builtin_assets.rs"));

/// The loaded templates and assets.
pub struct Templates {
    tera: tera::Tera,
    assets: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Templates({})", self.tera.get_template_names().count())
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
            Origin::BuiltIn => format!("built-in template {name}"),
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
        let tera = build(&sources).map_err(|(_, e)| e)?;
        let assets = sources.into_iter().filter(|(n, _)| !is_template(n)).map(|(n, (_, b))| (n, b)).collect();
        Ok(Templates { tera, assets })
    }

    /// Every problem with the templates (`check-config`): one line each, naming the file.
    pub fn check(dir: Option<&Path>) -> Vec<String> {
        let sources = match sources(dir) {
            Ok(s) => s,
            Err(problems) => return problems,
        };
        let mut problems = Vec::new();
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

    pub fn render(&self, name: &str, ctx: &tera::Context) -> Result<String, PageError> {
        self.tera.render(name, ctx).map_err(|e| {
            tracing::error!(template = name, error = %error_chain(&e), "template rendering failed");
            PageError::new(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "This page could not be shown.",
            )
        })
    }

    /// A static asset by its name under the templates folder (e.g. `static/style.css`).
    pub fn asset(&self, name: &str) -> Option<&[u8]> {
        self.assets.get(name).map(Vec::as_slice)
    }

    /// The names of the templates loaded.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tera.get_template_names()
    }
}

fn is_template(name: &str) -> bool {
    name.ends_with(".html")
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

    #[test]
    fn an_override_replaces_only_its_namesake() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "home.html", "{% extends \"base.html\" %}{% block content %}OWN HOME{% endblock content %}");
        let t = Templates::load(Some(dir.path())).unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("dev_mode", &false);
        ctx.insert("issuer", "http://x");
        assert!(t.render("home.html", &ctx).unwrap().contains("OWN HOME"));
        assert!(t.names().any(|n| n == "login.html"));
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
