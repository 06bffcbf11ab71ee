//! Pages people see (tera templates): error page now; login chooser, consent and account pages build on it.

pub mod account;
pub mod developer;
pub mod error;
pub mod login;
pub mod pages;

pub use error::PageError;

use std::path::Path;

/// The loaded templates. An admin re-brands by pointing `templates_dir` at their own copy.
pub struct Templates {
    tera: tera::Tera,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Templates({})", self.tera.get_template_names().count())
    }
}

impl Templates {
    pub fn load(dir: &Path) -> Result<Self, String> {
        let glob = format!("{}/**/*.html", dir.display());
        let mut tera = tera::Tera::new(&glob).map_err(|e| format!("templates in {}: {e}", dir.display()))?;
        if tera.get_template_names().next().is_none() {
            return Err(format!("templates_dir {}: no *.html templates found", dir.display()));
        }
        tera.autoescape_on(vec![".html"]);
        Ok(Templates { tera })
    }

    pub fn render(&self, name: &str, ctx: &tera::Context) -> Result<String, PageError> {
        self.tera.render(name, ctx).map_err(|e| {
            tracing::error!(template = name, error = %e, "template rendering failed");
            PageError::new(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "This page could not be shown.",
            )
        })
    }
}

/// Minimal HTML escaping for the fallback error body (templates escape on their own).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    pages::configure(cfg);
    login::configure(cfg);
    account::configure(cfg);
    developer::configure(cfg);
}

/// The context every page starts from.
pub fn context(state: &crate::server::AppState) -> tera::Context {
    let mut ctx = tera::Context::new();
    ctx.insert("dev_mode", &state.settings.dev_mode);
    ctx
}
