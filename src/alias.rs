//! Header names as a request may spell them: exactly, or as an alias with some `-` spelled `_`
//! or `.` (`X_Forwarded_For`, `Content.Length`), which CGI-style servers and frameworks
//! (`HTTP_X_FORWARDED_FOR`, `request.META`, Rack's `env`) read as the real name.
//!
//! [`Watched`] finds both in the one pass over a request's names that the callers already
//! make: a name is compared only with the watched names of its length.

use http::HeaderName;

/// Whether `raw` is `name` with some `-` spelled `_` or `.` (and at least one so spelled).
///
/// Header names are lower case in a `HeaderMap`; so are the names watched.
pub(crate) fn is_alias(raw: &str, name: &str) -> bool {
    let name = name.as_bytes();
    name.len() == raw.len()
        && raw.as_bytes() != name
        && raw.bytes().zip(name).all(|(r, &n)| {
            let r = if r == b'_' || r == b'.' { b'-' } else { r };
            r == n
        })
}

/// The bit of a name's length in a length set (names of 127 bytes or more share the last
/// bit).
pub(crate) fn length_bit(len: usize) -> u128 {
    1u128 << len.min(127)
}

/// How a request's header name matched a watched one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spelling<T> {
    /// The name itself, with the watched name's tag.
    Exact(T),
    /// An alias of a watched name.
    Alias,
}

/// A set of header names, each with a tag, told apart from the names of a request by their
/// length first: most names present match no watched length and cost one bit test.
#[derive(Debug, Clone)]
pub(crate) struct Watched<T> {
    names: Vec<(HeaderName, T)>,
    lengths: u128,
}

impl<T: Copy> Watched<T> {
    /// The set of `names`.
    pub(crate) fn new(names: impl IntoIterator<Item = (HeaderName, T)>) -> Self {
        let names: Vec<(HeaderName, T)> = names.into_iter().collect();
        let lengths = names
            .iter()
            .fold(0, |bits, (name, _)| bits | length_bit(name.as_str().len()));
        Watched { names, lengths }
    }

    /// Whether `name` is one of the set (its tag) or an alias of one; `None` for neither.
    #[inline]
    pub(crate) fn find(&self, name: &HeaderName) -> Option<Spelling<T>> {
        let raw = name.as_str();
        if self.lengths & length_bit(raw.len()) == 0 {
            return None;
        }
        let mut alias = false;
        for (ours, tag) in &self.names {
            if ours.as_str().len() != raw.len() {
                continue;
            }
            if ours == name {
                return Some(Spelling::Exact(*tag));
            }
            alias = alias || is_alias(raw, ours.as_str());
        }
        alias.then_some(Spelling::Alias)
    }

    /// The names of the set and their tags.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&HeaderName, T)> {
        self.names.iter().map(|(name, tag)| (name, *tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases() {
        assert!(is_alias("x_forwarded_for", "x-forwarded-for"));
        assert!(is_alias("x.forwarded-for", "x-forwarded-for"));
        assert!(
            !is_alias("x-forwarded-for", "x-forwarded-for"),
            "the name itself"
        );
        assert!(!is_alias("x_forwarded_fo", "x-forwarded-for"));
        assert!(!is_alias("x_forwarded_fox", "x-forwarded-for"));
        assert!(
            !is_alias("x-forwarded_for", "x_forwarded_for"),
            "only `-` has aliases"
        );
    }

    #[test]
    fn finds_names_and_aliases_by_length() {
        let long = HeaderName::from_bytes(format!("x-{}", "a".repeat(140)).as_bytes()).unwrap();
        let watched = Watched::new([
            (HeaderName::from_static("content-length"), 1),
            (HeaderName::from_static("true-client-ip"), 2),
            (long.clone(), 3),
        ]);
        let find = |name: &str| watched.find(&HeaderName::from_bytes(name.as_bytes()).unwrap());
        assert_eq!(find("content-length"), Some(Spelling::Exact(1)));
        assert_eq!(find("true-client-ip"), Some(Spelling::Exact(2)));
        assert_eq!(find("content_length"), Some(Spelling::Alias));
        assert_eq!(find("true.client_ip"), Some(Spelling::Alias));
        assert_eq!(find("content-lengtx"), None, "same length, another name");
        assert_eq!(find("content-type"), None);
        assert_eq!(watched.find(&long), Some(Spelling::Exact(3)));
        let long_alias = format!("x_{}", "a".repeat(140));
        assert_eq!(find(&long_alias), Some(Spelling::Alias));
        let longer = format!("x-{}", "a".repeat(141));
        assert_eq!(find(&longer), None, "shares the length bit only");
        assert_eq!(watched.entries().map(|(_, tag)| tag).sum::<i32>(), 6);
    }
}
