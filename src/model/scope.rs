//! Space separated scope strings (RFC 6749 §3.3).

/// Whether every entry of `requested` appears in `granted` (both space separated).
///
/// ```
/// use tokengate::model::scope::is_subset;
/// assert!(is_subset("a b", "b c a"));
/// assert!(is_subset("", "a"));
/// assert!(!is_subset("a d", "a b"));
/// ```
pub fn is_subset(requested: &str, granted: &str) -> bool {
    requested
        .split_ascii_whitespace()
        .all(|want| granted.split_ascii_whitespace().any(|have| have == want))
}

/// Whether every entry of `requested` is in `allowed`.
pub fn is_allowed(requested: &str, allowed: &[String]) -> bool {
    requested
        .split_ascii_whitespace()
        .all(|want| allowed.iter().any(|have| have == want))
}
