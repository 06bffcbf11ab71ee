//! Pages in the person's language. Every text people see comes from a Fluent catalogue,
//! `templates/locales/{tag}.ftl` (built in like the templates, and replaced or added through `templates_dir`
//! the same way); templates ask for a message with the tera function `t(key=…, lang=lang, …)`.
//!
//! The language of a request ([LC-1], `bridgekeeper_core::locale`) is chosen once by the `language` middleware
//! and held in a task-local for the request's future (not a global: each request has its own), so that
//! `Templates::render` and the error pages use it without every handler passing it along.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// The catalogue every other is checked against, and the last resort for a missing message.
pub const BASE_LOCALE: &str = "en";
/// The cookie that keeps the language an app asked for with `ui_locales` through the sign-in pages.
pub const LANG_COOKIE: &str = "bk_lang";

tokio::task_local! {
    static LANG: Arc<str>;
}

/// Runs `f` with `lang` as the language of its pages.
pub async fn scope<F: Future>(lang: Arc<str>, f: F) -> F::Output {
    LANG.scope(lang, f).await
}

/// The language of the request being served, if any.
pub fn current() -> Option<Arc<str>> {
    LANG.try_with(|l| l.clone()).ok()
}

/// One language's messages.
struct Locale {
    bundle: FluentBundle<FluentResource>,
    keys: BTreeSet<String>,
}

/// All the catalogues, by tag.
pub struct Catalogue {
    locales: BTreeMap<String, Locale>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Catalogue({:?})", self.locales.keys().collect::<Vec<_>>())
    }
}

impl Catalogue {
    /// Builds the catalogues from (tag, where it came from, text). Every problem is one line naming the file:
    /// a syntax error, a message defined twice, or a message that English has and this catalogue lacks.
    pub fn new<'a>(files: impl IntoIterator<Item = (&'a str, String, &'a str)>) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut locales = BTreeMap::new();
        let mut origins = BTreeMap::new();
        for (tag, origin, text) in files {
            let Ok(id) = tag.parse::<unic_langid::LanguageIdentifier>() else {
                problems.push(format!("{origin}: `{tag}` is not a language tag"));
                continue;
            };
            let res = match FluentResource::try_new(text.to_string()) {
                Ok(r) => r,
                Err((_, errors)) => {
                    for e in errors {
                        let line = text.get(..e.pos.start).map(|s| s.lines().count().max(1)).unwrap_or(0);
                        problems.push(format!("{origin}: line {line}: {:?}", e.kind));
                    }
                    continue;
                }
            };
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            bundle.set_use_isolating(false);
            if let Err(errors) = bundle.add_resource(res) {
                for e in errors {
                    problems.push(format!("{origin}: {e}"));
                }
                continue;
            }
            locales.insert(tag.to_string(), Locale { bundle, keys: message_ids(text) });
            origins.insert(tag.to_string(), origin);
        }
        let Some(base) = locales.get(BASE_LOCALE) else {
            problems.push(format!("locales/{BASE_LOCALE}.ftl: missing (every other catalogue is checked against it)"));
            return Err(problems);
        };
        for (tag, l) in locales.iter().filter(|(t, _)| t.as_str() != BASE_LOCALE) {
            for key in base.keys.difference(&l.keys) {
                problems.push(format!("{}: key `{key}`: missing (English has it)", origins[tag]));
            }
        }
        if problems.is_empty() { Ok(Catalogue { locales }) } else { Err(problems) }
    }

    /// The tags of the catalogues (e.g. `de`, `en`, `ko`), sorted.
    pub fn tags(&self) -> Vec<String> {
        self.locales.keys().cloned().collect()
    }

    /// The message `key` in `lang` (English when that language lacks it), with `args` filled in.
    pub fn message(&self, lang: &str, key: &str, args: Option<&FluentArgs>) -> Option<String> {
        [lang, BASE_LOCALE].iter().filter_map(|l| self.locales.get(*l)).find_map(|l| {
            let pattern = l.bundle.get_message(key)?.value()?;
            let mut errors = Vec::new();
            let text = l.bundle.format_pattern(pattern, args, &mut errors).into_owned();
            if !errors.is_empty() {
                tracing::warn!(key, lang, ?errors, "message formatted with errors");
            }
            Some(text)
        })
    }

    /// The message ids of one catalogue (for tests and checks).
    pub fn keys(&self, lang: &str) -> BTreeSet<String> {
        self.locales.get(lang).map(|l| l.keys.clone()).unwrap_or_default()
    }
}

/// Message ids of a Fluent file: identifiers at the start of a line followed by `=` (terms start with `-`).
fn message_ids(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| k.starts_with(|c: char| c.is_ascii_alphabetic()))
        .map(|k| k.trim_end().to_string())
        .filter(|k| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .collect()
}

/// The tera function `t(key=…, lang=…, name=value…)`: the message, or its key when no catalogue has it.
pub struct Translate(pub Arc<Catalogue>);

impl tera::Function for Translate {
    fn call(&self, args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
        let key = args.get("key").and_then(|v| v.as_str()).ok_or_else(|| tera::Error::msg("t: `key` is required"))?;
        let lang = args.get("lang").and_then(|v| v.as_str()).unwrap_or(BASE_LOCALE);
        let mut fargs = FluentArgs::new();
        for (name, v) in args.iter().filter(|(n, _)| !matches!(n.as_str(), "key" | "lang")) {
            let value = match v {
                tera::Value::Number(n) => FluentValue::from(n.as_f64().unwrap_or_default()),
                tera::Value::String(s) => FluentValue::from(s.clone()),
                other => FluentValue::from(other.to_string()),
            };
            fargs.set(name.clone(), value);
        }
        Ok(tera::Value::String(self.0.message(lang, key, Some(&fargs)).unwrap_or_else(|| key.to_string())))
    }
}

/// The tera filter `localdate(lang=lang)`: Unix seconds as a UTC date and time in the catalogue's
/// `format-datetime` pattern (chrono `strftime` syntax).
pub struct LocalDate(pub Arc<Catalogue>);

impl tera::Filter for LocalDate {
    fn filter(&self, value: &tera::Value, args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
        let lang = args.get("lang").and_then(|v| v.as_str()).unwrap_or(BASE_LOCALE);
        let Some(at) = value.as_i64().and_then(|t| chrono::DateTime::from_timestamp(t, 0)) else {
            return Ok(value.clone());
        };
        let pattern = self.0.message(lang, "format-datetime", None).unwrap_or_else(|| "%Y-%m-%d %H:%M UTC".into());
        // A bad specifier in an override catalogue makes chrono's Display fail: the page shows the ISO form instead
        // of panicking on render.
        let mut out = String::new();
        if std::fmt::Write::write_fmt(&mut out, format_args!("{}", at.format(&pattern))).is_err() {
            out = at.format("%Y-%m-%d %H:%M UTC").to_string();
        }
        Ok(tera::Value::String(out))
    }
}

/// The tera filter `localnumber(lang=lang)`: an integer with the catalogue's `format-group-separator` between
/// groups of three digits.
pub struct LocalNumber(pub Arc<Catalogue>);

impl tera::Filter for LocalNumber {
    fn filter(&self, value: &tera::Value, args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
        let lang = args.get("lang").and_then(|v| v.as_str()).unwrap_or(BASE_LOCALE);
        let Some(n) = value.as_i64() else { return Ok(value.clone()) };
        let sep = self.0.message(lang, "format-group-separator", None).unwrap_or_else(|| ",".into());
        Ok(tera::Value::String(group_digits(n, &sep)))
    }
}

/// `1234567` → `1,234,567` (with `sep`).
fn group_digits(n: i64, sep: &str) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// [LC-1] The language for a request: `ui_locales` in its query, then the cookie an earlier `ui_locales` set,
/// then `Accept-Language`, then `default`. Returns the tag and whether it came from `ui_locales` (to be kept).
pub fn choose(
    query: &str,
    cookie: Option<&str>,
    accept_language: Option<&str>,
    available: &[String],
    default: &str,
) -> (String, bool) {
    let ui = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "ui_locales").map(|(_, v)| v);
    if let Some(ui) = ui.as_deref() {
        let tag = bridgekeeper_core::locale::negotiate(Some(ui), None, available, "");
        if !tag.is_empty() {
            return (tag.to_string(), true);
        }
    }
    let remembered = cookie.map(|c| bridgekeeper_core::locale::negotiate(Some(c), None, available, "")).unwrap_or("");
    if !remembered.is_empty() {
        return (remembered.to_string(), false);
    }
    (bridgekeeper_core::locale::negotiate(None, accept_language, available, default).to_string(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalogue_missing_a_key_english_has_is_refused_naming_file_and_key() {
        let files = vec![
            ("en", "en.ftl".to_string(), "hello = Hello { $name }\nbye = Bye\n"),
            ("de", "de.ftl".to_string(), "hello = Hallo { $name }\n"),
        ];
        let problems = Catalogue::new(files).unwrap_err();
        assert_eq!(problems, vec!["de.ftl: key `bye`: missing (English has it)"]);
    }

    #[test]
    fn messages_fall_back_to_english_and_take_arguments() {
        let files = vec![
            ("en", "en.ftl".to_string(), "hello = Hello { $name }\n"),
            ("ko", "ko.ftl".into(), "hello = 안녕하세요 { $name }\n"),
        ];
        let c = Catalogue::new(files).unwrap();
        let mut args = FluentArgs::new();
        args.set("name", "Ada");
        assert_eq!(c.message("ko", "hello", Some(&args)).unwrap(), "안녕하세요 Ada");
        assert_eq!(c.message("fr", "hello", Some(&args)).unwrap(), "Hello Ada");
        assert!(c.message("en", "nope", None).is_none());
        assert_eq!(c.tags(), vec!["en", "ko"]);
    }

    #[test]
    fn numbers_and_dates_take_the_locales_format() {
        assert_eq!(group_digits(1_234_567, "."), "1.234.567");
        assert_eq!(group_digits(999, ","), "999");
        assert_eq!(group_digits(-1000, ","), "-1,000");
        let files = vec![
            ("en", "en.ftl".to_string(), "format-datetime = %Y-%m-%d %H:%M UTC\nformat-group-separator = ,\n"),
            ("de", "de.ftl".to_string(), "format-datetime = %d.%m.%Y, %H:%M UTC\nformat-group-separator = .\n"),
        ];
        let c = Arc::new(Catalogue::new(files).unwrap());
        let de: HashMap<String, tera::Value> = [("lang".to_string(), tera::Value::from("de"))].into();
        let date = tera::Filter::filter(&LocalDate(c.clone()), &tera::Value::from(1_764_590_400), &de).unwrap();
        assert_eq!(date, "01.12.2025, 12:00 UTC");
        let n = tera::Filter::filter(&LocalNumber(c), &tera::Value::from(12_345), &de).unwrap();
        assert_eq!(n, "12.345");
    }

    #[test]
    fn lc_1_ui_locales_win_and_are_remembered_then_the_cookie_then_the_header() {
        let l: Vec<String> = ["en", "de", "ko"].iter().map(|s| s.to_string()).collect();
        assert_eq!(choose("client_id=a&ui_locales=de%20ko", None, Some("ko"), &l, "en"), ("de".into(), true));
        assert_eq!(choose("ui_locales=fr", Some("ko"), Some("de"), &l, "en"), ("ko".into(), false));
        assert_eq!(choose("", None, Some("ko-KR,en;q=0.5"), &l, "en"), ("ko".into(), false));
        assert_eq!(choose("", Some("zz"), None, &l, "de"), ("de".into(), false));
    }
}

#[cfg(test)]
mod localdate_tests {
    use super::*;

    #[test]
    fn lc_2_a_bad_date_pattern_in_a_catalogue_falls_back_instead_of_panicking() {
        let cat = Catalogue::new([("en", "test".to_string(), "format-datetime = %Q\n")]).map(Arc::new);
        let cat = cat.expect("a catalogue with one message");
        let v = tera::Filter::filter(&LocalDate(cat), &tera::Value::from(0), &HashMap::new());
        assert_eq!(v.ok().and_then(|v| v.as_str().map(String::from)).as_deref(), Some("1970-01-01 00:00 UTC"));
    }
}
