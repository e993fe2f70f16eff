//! [`PathOptions`] and the canonical form of a path: RFC 3986 §6.2.2 normalisation, dot
//! segments and merged slashes, with a refusal for what has no single meaning.

use std::borrow::Cow;

use super::PathError;

/// What to do with an encoded slash (`%2F`, `%2f`) in a path, in the spirit of Envoy's
/// `path_with_escaped_slashes_action`.
///
/// ```
/// use tokengate::path::{EscapedSlashes, PathOptions};
///
/// let keep = PathOptions::default().escaped_slashes(EscapedSlashes::Keep);
/// assert_eq!(keep.canonical_path("/files/a%2fb").unwrap(), "/files/a%2Fb");
/// let decode = PathOptions::default().escaped_slashes(EscapedSlashes::Decode);
/// assert_eq!(decode.canonical_path("/files/a%2fb").unwrap(), "/files/a/b");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EscapedSlashes {
    /// Refuse the request (400). The default: some upstreams decode `%2F` before routing,
    /// others keep it in a name, so the path has no single meaning.
    #[default]
    Reject,
    /// Keep it encoded (upper-cased, `%2F`) and forward it, for an API that puts `/` in ids.
    /// Rules still treat it as a segment boundary (so `/%2Fadmin` is covered by `/admin`), and
    /// a `.` or `..` next to it is refused. Risk: an upstream that decodes it sees more
    /// segments than the gateway forwarded; only rules, not routing, are guarded.
    Keep,
    /// Decode it to `/` before merging slashes and handling dot segments, and forward the
    /// decoded path. Risk: an id containing `/` becomes two segments upstream, and the
    /// upstream cannot tell a client's `%2F` from `/`.
    Decode,
}

/// What to do with `.` and `..` segments.
///
/// ```
/// use tokengate::path::{DotSegments, PathError, PathOptions};
///
/// assert_eq!(PathOptions::default().canonical_path("/a/../b"), Err(PathError::DotSegment));
/// let resolve = PathOptions::default().dot_segments(DotSegments::Resolve);
/// assert_eq!(resolve.canonical_path("/a/../b").unwrap(), "/b");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DotSegments {
    /// Refuse the request (400). The default: clients remove dot segments before they send
    /// (RFC 3986 §5.2.4), so one that arrives is a probe, and upstreams disagree on it.
    #[default]
    Reject,
    /// Remove them (RFC 3986 §5.2.4: `.` goes, `..` removes the segment before it, never
    /// above the root) and forward the result. Encoded dots (`%2E`) and dots hidden by
    /// parameters (`/.;x/`) are refused all the same. Risk: none for the rules, which see the
    /// resolved path; the upstream never sees the dot segments.
    Resolve,
}

/// How request paths are canonicalised. The canonical path is what scope rules match and
/// what the upstream receives; the defaults refuse every spelling that has no single meaning.
///
/// Always done: unreserved characters encoded as `%XX` are decoded (`%61` is `a`), the hex of
/// every other escape is upper-cased (`%c3` is `%C3`), and bytes that may not appear raw in a
/// path (non-ASCII, `"`, `<`, `>`, `^`, `` ` ``, `{`, `|`, `}`) are percent-encoded. Always
/// refused: a `%` without two hex digits, control characters (raw or encoded, `%00` included),
/// backslashes (`\`, `%5C`), dot segments that are encoded or hidden by `;params`, a
/// double-encoded escape (`%2561`, read as `a` by an upstream that decodes twice) and
/// overlong or impossible UTF-8 escapes (`%C0%AF`, a `/` to a lenient decoder). The query
/// string is never touched.
///
/// ```
/// use tokengate::path::{PathError, PathOptions};
///
/// let options = PathOptions::default();
/// assert_eq!(options.canonical_path("//%61dmin/x").unwrap(), "/admin/x");
/// assert_eq!(options.canonical_path("/a%c3%a9").unwrap(), "/a%C3%A9");
/// assert_eq!(options.canonical_path("/.;/admin"), Err(PathError::DotSegment));
/// assert_eq!(options.canonical_path("/\\admin"), Err(PathError::Backslash));
/// // Already canonical: borrowed, nothing allocated.
/// assert!(matches!(options.canonical_path("/admin/x"), Ok(std::borrow::Cow::Borrowed(_))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathOptions {
    pub(crate) merge_slashes: bool,
    pub(crate) escaped_slashes: EscapedSlashes,
    pub(crate) dot_segments: DotSegments,
}

impl Default for PathOptions {
    /// Slashes merged, `%2F` refused, dot segments refused.
    fn default() -> Self {
        PathOptions {
            merge_slashes: true,
            escaped_slashes: EscapedSlashes::Reject,
            dot_segments: DotSegments::Reject,
        }
    }
}

impl PathOptions {
    /// Whether runs of `/` are merged into one (default `true`, like Envoy's
    /// `merge_slashes`). Off, `//a` is forwarded as it came. Risk of turning it off: an
    /// upstream that distinguishes `//a` from `/a` is fine, one that merges them sees the same
    /// resource as `/a`, and rules still match as if merged (empty segments never count).
    ///
    /// ```
    /// use tokengate::path::PathOptions;
    ///
    /// let keep = PathOptions::default().merge_slashes(false);
    /// assert_eq!(keep.canonical_path("//a//b").unwrap(), "//a//b");
    /// assert_eq!(PathOptions::default().canonical_path("//a//b").unwrap(), "/a/b");
    /// ```
    pub fn merge_slashes(mut self, merge: bool) -> Self {
        self.merge_slashes = merge;
        self
    }

    /// What to do with `%2F` (default [`EscapedSlashes::Reject`]).
    ///
    /// ```
    /// use tokengate::path::{EscapedSlashes, PathOptions};
    ///
    /// let options = PathOptions::default().escaped_slashes(EscapedSlashes::Keep);
    /// assert_eq!(options.canonical_path("/ids/a%2Fb").unwrap(), "/ids/a%2Fb");
    /// ```
    pub fn escaped_slashes(mut self, action: EscapedSlashes) -> Self {
        self.escaped_slashes = action;
        self
    }

    /// What to do with `.` and `..` segments (default [`DotSegments::Reject`]).
    ///
    /// ```
    /// use tokengate::path::{DotSegments, PathOptions};
    ///
    /// let options = PathOptions::default().dot_segments(DotSegments::Resolve);
    /// assert_eq!(options.canonical_path("/a/./b/..").unwrap(), "/a/");
    /// ```
    pub fn dot_segments(mut self, action: DotSegments) -> Self {
        self.dot_segments = action;
        self
    }

    /// The canonical form of `path` (an origin-form path, starting with `/`, without its
    /// query), or why it has none. An already canonical path is recognised by one scan and
    /// returned borrowed.
    ///
    /// # Errors
    /// [`PathError`] for a path that has no single meaning, and
    /// [`PathError::NotOriginForm`] for one that does not start with `/`.
    ///
    /// ```
    /// use tokengate::path::PathOptions;
    ///
    /// let options = PathOptions::default();
    /// assert_eq!(options.canonical_path("/ad%6din/%7e%41?").unwrap(), "/admin/~A%3F");
    /// ```
    pub fn canonical_path<'a>(&self, path: &'a str) -> Result<Cow<'a, str>, PathError> {
        if !path.starts_with('/') {
            return Err(PathError::NotOriginForm);
        }
        if path.contains('%') {
            check_escapes(path.as_bytes())?;
        }
        if self.is_canonical(path.as_bytes()) {
            return Ok(Cow::Borrowed(path));
        }
        // The rewrite decodes and encodes: its escapes are checked again (`%25%34%31` is
        // `%2541` once canonical).
        let canonical = self.rewrite(path.as_bytes())?;
        check_escapes(canonical.as_bytes())?;
        Ok(Cow::Owned(canonical))
    }

    /// Whether `path` (starting with `/`) is its own canonical form: one pass, no allocation.
    /// Conservative: `false` only sends a path to [`PathOptions::rewrite`], which decides.
    fn is_canonical(&self, path: &[u8]) -> bool {
        // The current part of a segment so far: 0 empty, 1 or 2 only dots, 3 anything else,
        // 4 empty after a kept `%2F` (the segment itself is not empty).
        let mut segment = 3u8;
        let keep_slashes = self.escaped_slashes == EscapedSlashes::Keep;
        let mut i = 0;
        while i < path.len() {
            let b = path[i];
            segment = match b {
                b'/' => {
                    if segment == 1 || segment == 2 || (segment == 0 && self.merge_slashes) {
                        return false;
                    }
                    0
                }
                b'.' if segment < 2 => segment + 1,
                b'.' if segment == 4 => 1,
                b';' if segment == 1 || segment == 2 => return false,
                b'%' => match (hex(path.get(i + 1)), hex(path.get(i + 2))) {
                    // `%3B` ends a name for upstreams that decode before they strip `;params`.
                    (Some((3, true)), Some((0xB, true))) if segment == 1 || segment == 2 => {
                        return false
                    }
                    (Some((hi, true)), Some((lo, true))) if is_kept_escape(hi << 4 | lo) => {
                        i += 2;
                        3
                    }
                    (Some((2, true)), Some((0xf, true)))
                        if keep_slashes && segment != 1 && segment != 2 =>
                    {
                        i += 2;
                        4
                    }
                    _ => return false,
                },
                _ if is_plain(b) || b == b'.' || b == b';' => 3,
                _ => return false,
            };
            i += 1;
        }
        segment != 1 && segment != 2
    }

    /// The canonical form of a path that [`PathOptions::is_canonical`] did not accept.
    fn rewrite(&self, path: &[u8]) -> Result<String, PathError> {
        let mut segments: Vec<String> = Vec::new();
        let mut segment = Segment::default();
        let mut i = 1;
        loop {
            let unit = match path.get(i) {
                None => Unit::End,
                Some(&b) => self.unit(path, i, b)?,
            };
            match unit {
                Unit::Separator { .. } | Unit::End => {
                    let last = matches!(unit, Unit::End);
                    match segment.finish()? {
                        Kind::Name(name) => {
                            if !(name.is_empty() && self.merge_slashes && !last) {
                                segments.push(name);
                            }
                        }
                        kind => {
                            if self.dot_segments == DotSegments::Reject {
                                return Err(PathError::DotSegment);
                            }
                            if kind == Kind::DotDot {
                                segments.pop();
                            }
                            if last {
                                segments.push(String::new());
                            }
                        }
                    }
                    if last {
                        break;
                    }
                    segment = Segment::default();
                    if let Unit::Separator { width } = unit {
                        i += width;
                    }
                }
                Unit::KeptSlash => {
                    segment.kept_slash()?;
                    i += 3;
                }
                Unit::Byte { byte, width } => {
                    segment.push(byte, width == 3);
                    i += width;
                }
                Unit::Escaped { byte, width } => {
                    segment.escaped(byte);
                    i += width;
                }
            }
        }
        let mut out = String::with_capacity(path.len());
        out.push('/');
        for (n, name) in segments.iter().enumerate() {
            if n > 0 {
                out.push('/');
            }
            out.push_str(name);
        }
        Ok(out)
    }

    /// The unit of the path at `i` (whose byte is `b`).
    fn unit(&self, path: &[u8], i: usize, b: u8) -> Result<Unit, PathError> {
        Ok(match b {
            b'/' => Unit::Separator { width: 1 },
            b'\\' => return Err(PathError::Backslash),
            b'%' => {
                let (Some((hi, _)), Some((lo, _))) = (hex(path.get(i + 1)), hex(path.get(i + 2)))
                else {
                    return Err(PathError::BadEscape);
                };
                let byte = hi << 4 | lo;
                match byte {
                    b'/' => match self.escaped_slashes {
                        EscapedSlashes::Reject => return Err(PathError::EncodedSlash),
                        EscapedSlashes::Keep => Unit::KeptSlash,
                        EscapedSlashes::Decode => Unit::Separator { width: 3 },
                    },
                    b'\\' => return Err(PathError::Backslash),
                    _ if is_control(byte) => return Err(PathError::Control),
                    _ if is_unreserved(byte) => Unit::Byte { byte, width: 3 },
                    _ => Unit::Escaped { byte, width: 3 },
                }
            }
            _ if is_control(b) => return Err(PathError::Control),
            _ if is_plain(b) || b == b'.' || b == b';' => Unit::Byte { byte: b, width: 1 },
            _ => Unit::Escaped { byte: b, width: 1 },
        })
    }
}

/// Refuses the escapes whose meaning depends on the decoder: `%25XX` (decoded twice, another
/// byte) and percent-encoded UTF-8 that is overlong or impossible (a lenient decoder's `/`).
/// The UTF-8 of the characters that a Unicode-normalising (NFKC) or best-fit (Windows)
/// upstream reads as `.`, `/`, `\\` or `;`: full-width `．` `／` `；` `＼` (U+FF0E, U+FF0F,
/// U+FF1B, U+FF3C), small `﹒` `﹔` (U+FE52, U+FE54) and the division slash `∕` (U+2215).
const LOOKALIKE_SEPARATORS: [[u8; 3]; 7] = [
    [0xEF, 0xBC, 0x8E],
    [0xEF, 0xBC, 0x8F],
    [0xEF, 0xBC, 0x9B],
    [0xEF, 0xBC, 0xBC],
    [0xEF, 0xB9, 0x92],
    [0xEF, 0xB9, 0x94],
    [0xE2, 0x88, 0x95],
];

fn check_escapes(path: &[u8]) -> Result<(), PathError> {
    let escaped = |i: usize| match (path.get(i), hex(path.get(i + 1)), hex(path.get(i + 2))) {
        (Some(b'%'), Some((hi, _)), Some((lo, _))) => Some(hi << 4 | lo),
        _ => None,
    };
    let mut i = 0;
    while i < path.len() {
        let Some(byte) = escaped(i) else {
            i += 1;
            continue;
        };
        let next = escaped(i + 3);
        match byte {
            b'%' if hex(path.get(i + 3)).is_some() && hex(path.get(i + 4)).is_some() => {
                return Err(PathError::DoubleEncoded)
            }
            0xC0 | 0xC1 | 0xF5..=0xFF => return Err(PathError::BadUtf8),
            0xE0 if next.is_some_and(|b| b < 0xA0) => return Err(PathError::BadUtf8),
            0xF0 if next.is_some_and(|b| b < 0x90) => return Err(PathError::BadUtf8),
            0xE2 | 0xEF
                if LOOKALIKE_SEPARATORS.contains(&[
                    byte,
                    next.unwrap_or(0),
                    escaped(i + 6).unwrap_or(0),
                ]) =>
            {
                return Err(PathError::LookalikeSeparator)
            }
            _ => {}
        }
        i += 3;
    }
    Ok(())
}

/// One unit of a path being rewritten.
#[derive(Clone, Copy)]
enum Unit {
    /// `/` (width 1) or a decoded `%2F` (width 3).
    Separator { width: usize },
    /// The end of the path.
    End,
    /// A `%2F` kept encoded.
    KeptSlash,
    /// A byte written as itself; `width` 3 when it came encoded.
    Byte { byte: u8, width: usize },
    /// A byte written as `%XX`.
    Escaped { byte: u8, width: usize },
}

/// A segment being rewritten.
#[derive(Default)]
struct Segment {
    text: String,
    /// The part since the segment's start or its last kept `%2F`: 0 empty, 1 or 2 only dots,
    /// 3 anything else.
    part: u8,
    /// The part's dots include an encoded one.
    encoded_dot: bool,
    /// The part's name has ended at a `;`.
    params: bool,
    /// The segment holds a kept `%2F`.
    kept_slash: bool,
}

/// What a finished segment is.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Name(String),
    Dot,
    DotDot,
}

impl Segment {
    fn push(&mut self, byte: u8, encoded: bool) {
        if !self.params {
            match byte {
                b'.' if self.part < 2 => {
                    self.part += 1;
                    self.encoded_dot |= encoded;
                }
                b';' => self.params = true,
                _ => self.part = 3,
            }
        }
        self.text.push(char::from(byte));
    }

    fn escaped(&mut self, byte: u8) {
        // `%3B` ends the name too, for upstreams that decode before they strip `;params`.
        if byte == b';' {
            self.params = true;
        } else if !self.params {
            self.part = 3;
        }
        push_escape(&mut self.text, byte);
    }

    /// Whether the current part is `.` or `..` (before any `;`).
    fn part_is_dots(&self) -> bool {
        self.part == 1 || self.part == 2
    }

    fn kept_slash(&mut self) -> Result<(), PathError> {
        if self.part_is_dots() {
            return Err(PathError::DotSegment);
        }
        self.text.push_str("%2F");
        self.kept_slash = true;
        self.part = 0;
        self.encoded_dot = false;
        self.params = false;
        Ok(())
    }

    fn finish(self) -> Result<Kind, PathError> {
        if !self.part_is_dots() {
            return Ok(Kind::Name(self.text));
        }
        if self.encoded_dot || self.params || self.kept_slash {
            return Err(PathError::DotSegment);
        }
        Ok(if self.part == 1 {
            Kind::Dot
        } else {
            Kind::DotDot
        })
    }
}

/// A hex digit's value, and whether it is in canonical (upper) case.
fn hex(b: Option<&u8>) -> Option<(u8, bool)> {
    match *b? {
        b @ b'0'..=b'9' => Some((b - b'0', true)),
        b @ b'A'..=b'F' => Some((b - b'A' + 10, true)),
        b @ b'a'..=b'f' => Some((b - b'a' + 10, false)),
        _ => None,
    }
}

/// RFC 3986 `unreserved`: never encoded in a canonical path.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// Bytes written raw in a canonical path segment, but for `.` and `;`, which delimit dot
/// segments and parameters: `unreserved`, `sub-delims`, `:` and `@`.
fn is_plain(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
        )
}

/// Whether `%XX` of `byte` stays encoded in a canonical path (but for a kept `%2F`, which the
/// fast check looks at apart, for the dots around it).
fn is_kept_escape(byte: u8) -> bool {
    !is_unreserved(byte) && !is_control(byte) && byte != b'/' && byte != b'\\'
}

fn push_escape(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0xf)]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(options: &PathOptions, path: &str) -> Result<String, PathError> {
        options.canonical_path(path).map(Cow::into_owned)
    }

    #[test]
    fn the_default_table() {
        let options = PathOptions::default();
        for (input, output) in [
            ("/", "/"),
            ("/admin", "/admin"),
            ("/admin/", "/admin/"),
            ("//admin/x", "/admin/x"),
            ("/admin//x//", "/admin/x/"),
            ("//", "/"),
            ("/%61dmin/x", "/admin/x"),
            ("/ad%6din/x", "/admin/x"),
            ("/%41DMIN", "/ADMIN"),
            ("/a%7e%2d%5F%2e", "/a~-_."),
            ("/a%2ex", "/a.x"),
            ("/%2e%2e%2e", "/..."),
            ("/a%c3%a9", "/a%C3%A9"),
            ("/a%C3%A9", "/a%C3%A9"),
            ("/a%20b", "/a%20b"),
            ("/a%3fb%23c", "/a%3Fb%23c"),
            ("/a%3Bb", "/a%3Bb"),
            ("/a%3b.", "/a%3B."),
            ("/a%25", "/a%25"),
            ("/a%25x", "/a%25x"),
            ("/a%E0%A4%85", "/a%E0%A4%85"),
            ("/a%F0%9F%98%80", "/a%F0%9F%98%80"),
            ("/\u{e9}", "/%C3%A9"),
            ("/a\"b<c>d^e`f{g|h}", "/a%22b%3Cc%3Ed%5Ee%60f%7Bg%7Ch%7D"),
            ("/admin;jsessionid=1/x", "/admin;jsessionid=1/x"),
            ("/;x/admin", "/;x/admin"),
            ("/...", "/..."),
            ("/.x/..y/x..", "/.x/..y/x.."),
            ("/a/.b;c/", "/a/.b;c/"),
            ("/!$&'()*+,;=:@-._~", "/!$&'()*+,;=:@-._~"),
        ] {
            assert_eq!(canon(&options, input).as_deref(), Ok(output), "{input}");
        }
        for (input, error) in [
            ("/%2Fadmin/x", PathError::EncodedSlash),
            ("/x/..%2Fadmin", PathError::EncodedSlash),
            ("/a%2fb", PathError::EncodedSlash),
            ("/\\admin/x", PathError::Backslash),
            ("/a%5cb", PathError::Backslash),
            ("/a%5Cb", PathError::Backslash),
            ("/a%00b", PathError::Control),
            ("/a%1fb", PathError::Control),
            ("/a%7Fb", PathError::Control),
            ("/a\u{1}b", PathError::Control),
            ("/a\tb", PathError::Control),
            ("/a%", PathError::BadEscape),
            ("/a%4", PathError::BadEscape),
            ("/a%zz", PathError::BadEscape),
            ("/a%%41", PathError::BadEscape),
            ("/%2561dmin", PathError::DoubleEncoded),
            ("/a%252F..", PathError::DoubleEncoded),
            ("/a%25%34%31", PathError::DoubleEncoded),
            ("/a%25%341", PathError::DoubleEncoded),
            ("/x%C0%AFadmin", PathError::BadUtf8),
            ("/x%c0%ae%c0%ae/admin", PathError::BadUtf8),
            ("/x%E0%80%AFadmin", PathError::BadUtf8),
            ("/x%F0%80%80%AFadmin", PathError::BadUtf8),
            ("/x%FF", PathError::BadUtf8),
            ("/api%EF%BC%8Fadmin", PathError::LookalikeSeparator),
            ("/api%ef%bc%8fadmin", PathError::LookalikeSeparator),
            (
                "/api/%EF%BC%8E%EF%BC%8E/admin",
                PathError::LookalikeSeparator,
            ),
            ("/api%EF%BC%BCadmin", PathError::LookalikeSeparator),
            ("/admin%EF%BC%9Bx", PathError::LookalikeSeparator),
            ("/admin%EF%B9%94x", PathError::LookalikeSeparator),
            (
                "/api/%EF%B9%92%EF%B9%92/admin",
                PathError::LookalikeSeparator,
            ),
            ("/api%E2%88%95admin", PathError::LookalikeSeparator),
            ("/.;/admin/x", PathError::DotSegment),
            ("/..;x/admin", PathError::DotSegment),
            ("/admin/..;", PathError::DotSegment),
            ("/.%3B/admin", PathError::DotSegment),
            ("/..%3bx/admin", PathError::DotSegment),
            ("/%2e/admin", PathError::DotSegment),
            ("/%2E%2E/admin", PathError::DotSegment),
            ("/.%2e/admin", PathError::DotSegment),
            ("/admin/../admin", PathError::DotSegment),
            ("/admin/.", PathError::DotSegment),
            ("/./admin", PathError::DotSegment),
            ("/..", PathError::DotSegment),
            ("admin", PathError::NotOriginForm),
            ("*", PathError::NotOriginForm),
            ("", PathError::NotOriginForm),
        ] {
            assert_eq!(canon(&options, input), Err(error), "{input}");
        }
    }

    #[test]
    fn resolved_dot_segments() {
        let options = PathOptions::default().dot_segments(DotSegments::Resolve);
        for (input, output) in [
            ("/admin/../admin", "/admin"),
            ("/a/./b", "/a/b"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/..", "/"),
            ("/../../a", "/a"),
            ("/a//../b", "/b"),
            ("/a/b/../../../c/", "/c/"),
        ] {
            assert_eq!(canon(&options, input).as_deref(), Ok(output), "{input}");
        }
        for input in ["/.;/admin", "/%2e%2e/admin", "/a/..;x", "/x/.%2E"] {
            assert_eq!(
                canon(&options, input),
                Err(PathError::DotSegment),
                "{input}"
            );
        }
        let unmerged = options.merge_slashes(false);
        assert_eq!(canon(&unmerged, "/a//../b").as_deref(), Ok("/a/b"));
    }

    #[test]
    fn escaped_slash_actions() {
        let keep = PathOptions::default().escaped_slashes(EscapedSlashes::Keep);
        assert_eq!(canon(&keep, "/ids/a%2fb").as_deref(), Ok("/ids/a%2Fb"));
        assert_eq!(canon(&keep, "/%2Fadmin").as_deref(), Ok("/%2Fadmin"));
        for input in ["/x/..%2Fadmin", "/x/a%2F..", "/a%2F.%2Fb", "/a%2F..;x"] {
            assert_eq!(canon(&keep, input), Err(PathError::DotSegment), "{input}");
        }
        let decode = PathOptions::default().escaped_slashes(EscapedSlashes::Decode);
        assert_eq!(canon(&decode, "/%2Fadmin/x").as_deref(), Ok("/admin/x"));
        assert_eq!(canon(&decode, "/ids/a%2fb").as_deref(), Ok("/ids/a/b"));
        assert_eq!(
            canon(&decode, "/x/..%2Fadmin"),
            Err(PathError::DotSegment),
            "decoded, `..` is a dot segment"
        );
        let resolve = decode.dot_segments(DotSegments::Resolve);
        assert_eq!(canon(&resolve, "/x/..%2Fadmin").as_deref(), Ok("/admin"));
    }

    #[test]
    fn canonical_paths_are_recognised_without_a_copy() {
        let options = PathOptions::default();
        for path in ["/", "/admin/x", "/a%20b/", "/a;b=c/d", "/%C3%A9", "/..."] {
            assert!(
                matches!(options.canonical_path(path), Ok(Cow::Borrowed(_))),
                "{path}"
            );
        }
        let unmerged = options.merge_slashes(false);
        assert!(matches!(
            unmerged.canonical_path("//a"),
            Ok(Cow::Borrowed(_))
        ));
    }
}
