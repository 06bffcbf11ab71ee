//! The page templates (tera). An admin re-brands by pointing `templates_dir` at their own copy.

use std::path::Path;

use super::PageError;

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
