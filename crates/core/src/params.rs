//! Request parameters as the RFCs want them read: duplicates are an error, empty values are absent, unknown
//! parameters are ignored.

use std::collections::HashMap;

/// The parameters whose later values are kept (RFC 8707 `resource` may repeat); of any other repeated parameter
/// only the first value is kept (the request is refused anyway).
const KEPT_REPEATS: &[&str] = &["resource"];

/// Parameters of one request (query or form body).
#[derive(Debug, Clone, Default)]
pub struct Params {
    values: HashMap<String, String>,
    duplicated: Vec<String>,
    /// The later values of repeated parameters, in order (for the few that may repeat, e.g. RFC 8707 `resource`).
    repeats: Vec<(String, String)>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(text: &str) -> Self {
        let mut p = Params::default();
        for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
            if v.is_empty() {
                continue;
            }
            if p.values.contains_key(k.as_ref()) {
                if !p.duplicated.iter().any(|d| d == k.as_ref()) {
                    p.duplicated.push(k.to_string());
                }
                if KEPT_REPEATS.contains(&k.as_ref()) {
                    p.repeats.push((k.into_owned(), v.into_owned()));
                }
                continue;
            }
            p.values.insert(k.into_owned(), v.into_owned());
        }
        p
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn has(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    pub fn is_duplicated(&self, key: &str) -> bool {
        self.duplicated.iter().any(|d| d == key)
    }

    /// The first parameter that appeared more than once, if any.
    pub fn first_duplicate(&self) -> Option<&str> {
        self.duplicated.first().map(String::as_str)
    }

    /// The first parameter other than `repeatable` ones that appeared more than once, if any.
    pub fn first_duplicate_except(&self, repeatable: &[&str]) -> Option<&str> {
        self.duplicated.iter().map(String::as_str).find(|d| !repeatable.contains(d))
    }

    /// Every (non-empty) value of `key`, in order (only the first for a key that is not in `KEPT_REPEATS`).
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let later = self.repeats.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str());
        self.get(key).into_iter().chain(later)
    }

    pub fn to_query(&self) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        let mut pairs: Vec<(&String, &String)> = self.values.iter().collect();
        pairs.sort();
        for (k, v) in pairs {
            ser.append_pair(k, v);
        }
        ser.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_empties() {
        let p = Params::parse("scope=a&scope=b&state=&x=1&nonce=n%2Bm");
        assert!(p.is_duplicated("scope"));
        assert_eq!(p.first_duplicate(), Some("scope"));
        assert!(!p.has("state"), "empty means absent");
        assert_eq!(p.get("nonce"), Some("n+m"));
        assert_eq!(p.get("x"), Some("1"));
        assert_eq!(p.get_all("scope").collect::<Vec<_>>(), ["a"], "repeats kept for resource only");
        assert_eq!(p.first_duplicate_except(&["scope"]), None);
        let r = Params::parse("resource=a&resource=b");
        assert_eq!(r.get_all("resource").collect::<Vec<_>>(), ["a", "b"]);
    }
}
