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

/// Whether two names (segments or prefixes of canonical paths) are the same to an upstream
/// that ignores case: ASCII letters compared ignoring case, and an escaped non-ASCII letter
/// that a Unicode-aware comparison folds to an ASCII one (`ı` and `İ` to `i`, `ſ` to `s`,
/// the Kelvin sign to `k`: Java's `equalsIgnoreCase`, .NET's culture-aware compares) or that
/// a best-fit mapping reads as one (the full-width forms `！`–`～`: IIS, Windows code
/// pages) read as that character. Nothing is allocated.
pub(crate) fn same_name_blind(a: &str, b: &str) -> bool {
    if !a.contains('%') && !b.contains('%') {
        return a.eq_ignore_ascii_case(b);
    }
    Folded(a.as_bytes()).eq(Folded(b.as_bytes()))
}

/// The bytes of a canonical name as [`same_name_blind`] compares them: ASCII lower-cased,
/// an escape of a character that folds to ASCII as that ASCII byte.
struct Folded<'a>(&'a [u8]);

impl Iterator for Folded<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        if first == b'%' {
            if let Some((ascii, width)) = folds_to_ascii(self.0) {
                self.0 = &self.0[width..];
                return Some(ascii);
            }
        }
        self.0 = rest;
        Some(first.to_ascii_lowercase())
    }
}

/// The ASCII character (lower case) that the escaped character at the start of `bytes`
/// folds to, and the escapes' width; `None` for any other escape.
fn folds_to_ascii(bytes: &[u8]) -> Option<(u8, usize)> {
    let byte = |i: usize| {
        let escape = bytes.get(3 * i..3 * i + 3)?;
        let hex = escape[1..].iter().all(u8::is_ascii_hexdigit);
        let text = std::str::from_utf8(&escape[1..]).ok()?;
        (escape[0] == b'%' && hex).then(|| u8::from_str_radix(text, 16).ok())?
    };
    let (ascii, width) = match (byte(0)?, byte(1)?) {
        (0xC4, 0xB0 | 0xB1) => (b'i', 2),              // İ, ı
        (0xC5, 0xBF) => (b's', 2),                     // ſ
        (0xE2, 0x84) if byte(2)? == 0xAA => (b'k', 3), // Kelvin sign
        (0xEF, lead @ (0xBC | 0xBD)) => {
            // U+FF01–U+FF5E, the full-width forms of `!`–`~`.
            let last = byte(2).filter(|b| (0x80..0xC0).contains(b))?;
            let code = 0xFF00 + u32::from(lead - 0xBC) * 0x40 + u32::from(last & 0x3F);
            let ascii = u8::try_from(code - 0xFEE0).ok()?;
            ((0x21..0x7F).contains(&ascii).then_some(ascii)?, 3)
        }
        _ => return None,
    };
    Some((ascii.to_ascii_lowercase(), 3 * width))
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

    #[test]
    fn blind_names_fold_ascii_and_what_folds_to_it() {
        for (a, b) in [
            ("admin", "ADMIN"),
            ("/api/Admin", "/API/admin"),
            ("adm%C4%B1n", "admin"),    // dotless ı
            ("ADM%C4%B0N", "admin"),    // dotted İ
            ("%C5%BFecret", "secret"),  // long s
            ("%E2%84%AAey", "key"),     // Kelvin sign
            ("%EF%BC%A1dmin", "admin"), // full-width A
            ("%EF%BD%81dmin", "Admin"), // full-width a
            ("v%EF%BC%91", "v1"),       // full-width 1
            ("a%EF%BC%8Db", "A-b"),     // full-width hyphen
            ("%C3%A9t%C3%A9", "%C3%A9T%C3%A9"),
        ] {
            assert!(same_name_blind(a, b), "{a} {b}");
            assert!(same_name_blind(b, a), "{b} {a}");
        }
        for (a, b) in [
            ("admin", "admins"),
            ("%C3%A9", "e"),         // é is no e to a case-blind reader
            ("%C3%89", "%C3%A9"),    // É, é: only ASCII case is ignored
            ("adm%C4%B2n", "admin"), // Ĳ
            ("%E2%84%AB", "a"),      // Angstrom sign folds to å, not ASCII
            ("%C4%B", "admin"),
            ("%C4", "i"),
            ("%EF%BC%21", "a"), // no UTF-8
            ("%EF%BD%BF", "_"), // U+FF7F, past the full-width ASCII forms
        ] {
            assert!(!same_name_blind(a, b), "{a} {b}");
        }
    }
}
