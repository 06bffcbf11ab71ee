//! [LC-1] Which language a page is shown in: the first of `ui_locales` (OIDC Core §3.1.2.1, space-separated
//! BCP 47 tags in order of preference) that the broker has, then the `Accept-Language` header (RFC 9110
//! §12.5.4, by quality), then the configured default. A tag matches a catalogue of the same tag, or of its
//! language alone (`de-AT` → `de`); comparison ignores case.

/// The language to use, from those `available` (catalogue tags such as `en`, `de`, `ko`).
pub fn negotiate<'a>(
    ui_locales: Option<&str>,
    accept_language: Option<&str>,
    available: &'a [String],
    default: &'a str,
) -> &'a str {
    let from_ui = ui_locales.into_iter().flat_map(str::split_whitespace).take(20);
    if let Some(found) = from_ui.filter_map(|t| best(t, available)).next() {
        return found;
    }
    let by_quality = accept_language.map(accepted).unwrap_or_default();
    by_quality.iter().find_map(|t| best(t, available)).unwrap_or(default)
}

/// The supported tag for one requested tag: exact, else its primary language subtag.
fn best<'a>(requested: &str, available: &'a [String]) -> Option<&'a str> {
    if requested.is_empty() || requested == "*" || requested.len() > 35 {
        return None;
    }
    let exact = available.iter().find(|a| a.eq_ignore_ascii_case(requested));
    let language = requested.split(['-', '_']).next().unwrap_or(requested);
    exact.or_else(|| available.iter().find(|a| a.eq_ignore_ascii_case(language))).map(String::as_str)
}

/// The tags of an `Accept-Language` header, best first (stable for equal qualities); `q=0` tags are dropped.
pub fn accepted(header: &str) -> Vec<String> {
    let mut tags: Vec<(u16, usize, String)> = Vec::new();
    for (i, item) in header.split(',').take(50).enumerate() {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let mut q = 1000u16;
        for p in parts {
            if let Some(v) = p.trim().strip_prefix("q=") {
                q = v.trim().parse::<f32>().map(|f| (f.clamp(0.0, 1.0) * 1000.0) as u16).unwrap_or(0);
            }
        }
        if !tag.is_empty() && q > 0 {
            tags.push((q, i, tag.to_string()));
        }
    }
    tags.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.into_iter().map(|(_, _, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn langs() -> Vec<String> {
        ["en", "de", "ko"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lc_1_ui_locales_come_first_then_accept_language_then_the_default() {
        let l = langs();
        assert_eq!(negotiate(Some("fr-CA de"), Some("ko"), &l, "en"), "de");
        assert_eq!(negotiate(Some("fr"), Some("ko-KR, en;q=0.5"), &l, "en"), "ko");
        assert_eq!(negotiate(None, Some("fr, it;q=0.9"), &l, "en"), "en");
        assert_eq!(negotiate(None, None, &l, "de"), "de");
    }

    #[test]
    fn lc_1_quality_orders_accept_language_and_q_zero_refuses() {
        assert_eq!(accepted("en;q=0.3, de-AT, ko;q=0.8, fr;q=0"), vec!["de-AT", "ko", "en"]);
        let l = langs();
        assert_eq!(negotiate(None, Some("en;q=0.3, DE-at, ko;q=0.8"), &l, "en"), "de");
        assert_eq!(negotiate(None, Some("*, ko;q=0.1"), &l, "en"), "ko");
        assert_eq!(negotiate(None, Some("q=;;,,,"), &l, "en"), "en", "garbage falls back");
    }
}
