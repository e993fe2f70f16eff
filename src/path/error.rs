//! [`PathError`]: why a request target has no canonical form.

use std::fmt;

/// Why a request target was refused: it has no single meaning, so no canonical form that a
/// rule and the upstream would both read the same way. The gateway answers `400 Bad Request`
/// and forwards nothing.
///
/// ```
/// use tokengate::path::{PathError, PathOptions};
///
/// let options = PathOptions::default();
/// assert_eq!(options.canonical_path("/a%2Fb").unwrap_err(), PathError::EncodedSlash);
/// assert_eq!(PathError::EncodedSlash.to_string(), "an encoded slash (%2F) in the path");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// Neither an origin-form target (`/…`) nor `OPTIONS *`: `GET *`, `GET admin`, an
    /// authority-form target, an HTTP/2 `:path` of `?x`.
    NotOriginForm,
    /// A `%` not followed by two hexadecimal digits.
    BadEscape,
    /// A control character (`%00`–`%1F`, `%7F`), raw or encoded.
    Control,
    /// A backslash, raw or encoded (`%5C`): a separator to some upstreams, a name to others.
    Backslash,
    /// An encoded slash (`%2F`) while [`EscapedSlashes::Reject`](super::EscapedSlashes::Reject)
    /// is in force.
    EncodedSlash,
    /// A `.` or `..` segment: any of them while
    /// [`DotSegments::Reject`](super::DotSegments::Reject) is in force, and always one that
    /// is encoded (`%2E`), hidden by parameters (`/.;x/`, `/..;/`, `/.%3B/`) or by a kept `%2F`.
    DotSegment,
    /// The canonical target is longer than a URI may be.
    TooLong,
    /// An encoded `%` followed by two hexadecimal digits (`%2561`): `%61` to most upstreams,
    /// `a` to one that decodes twice.
    DoubleEncoded,
    /// Percent-encoded bytes that are no UTF-8 any decoder should accept, of the kind an old
    /// lenient one reads as `/`, `\` or `.`: an overlong form (`%C0%AF`, `%E0%80%AF`,
    /// `%F0%80%80%AF`) or a byte that never starts a character (`%F5`–`%FF`).
    BadUtf8,
    /// A percent-encoded character that an upstream normalising Unicode (NFKC) or mapping it
    /// best-fit (Windows) reads as `.`, `/`, `\` or `;`: full-width `．` `／` `；` `＼`
    /// (`%EF%BC%8F` …), small `﹒` `﹔`, the division slash `∕` (`%E2%88%95`).
    LookalikeSeparator,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotOriginForm => "the request target is neither /… nor OPTIONS *",
            PathError::BadEscape => "a % not followed by two hexadecimal digits",
            PathError::Control => "a control character in the path",
            PathError::Backslash => "a backslash in the path",
            PathError::EncodedSlash => "an encoded slash (%2F) in the path",
            PathError::DotSegment => "a dot segment in the path",
            PathError::TooLong => "the canonical target is too long",
            PathError::DoubleEncoded => "a double-encoded escape (%25XX) in the path",
            PathError::BadUtf8 => "an overlong or impossible UTF-8 escape in the path",
            PathError::LookalikeSeparator => {
                "an escaped look-alike of `.`, `/`, `\\` or `;` (full-width, small or division slash) in the path"
            }
        })
    }
}

impl std::error::Error for PathError {}
