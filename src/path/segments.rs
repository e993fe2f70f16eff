//! The segment names of a canonical path as a parameter-, `%2F`- and empty-segment-blind
//! reader sees them: what scope rules and routes match on.

/// The segment names of a canonical path: split at `/` and at a kept `%2F`, each without its
/// `;parameters` (from a `;`, or a `%3B` for upstreams that decode before they strip), empty
/// ones skipped. Nothing is allocated.
pub(crate) fn segment_names(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .flat_map(|segment| segment.split("%2F"))
        .map(|segment| {
            let name = segment.split(';').next().unwrap_or("");
            name.split("%3B").next().unwrap_or("")
        })
        .filter(|name| !name.is_empty())
}

/// Whether `method` is one of `methods`, a `HEAD` counting as the `GET` it runs on most
/// servers (RFC 9110 §9.3.2): a list naming `GET` takes `HEAD` too.
pub(crate) fn lists_method(methods: &[http::Method], method: &http::Method) -> bool {
    methods.contains(method)
        || (method == http::Method::HEAD && methods.contains(&http::Method::GET))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn names_skip_params_kept_slashes_and_empty_segments() {
        let names: Vec<&str> = segment_names("//admin;x=1/a%2Fb/c%3By/;z/").collect();
        assert_eq!(names, ["admin", "a", "b", "c"]);
    }

    #[test]
    fn head_is_listed_with_get() {
        assert!(lists_method(&[Method::GET], &Method::HEAD));
        assert!(!lists_method(&[Method::POST], &Method::HEAD));
        assert!(!lists_method(&[Method::HEAD], &Method::GET));
    }
}
