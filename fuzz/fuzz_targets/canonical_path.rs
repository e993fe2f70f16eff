//! The canonical request target: the first byte picks the options, the rest is a path (and,
//! when it parses as one, a request target through `canonicalize_request`). Never a panic; a
//! canonical path is canonical again, unchanged and without a copy, holds only printable
//! ASCII without `\`, and decides a scope rule as the path it came from does.
#![no_main]

use std::borrow::Cow;

use http::Method;
use libfuzzer_sys::fuzz_target;
use tokengate::auth::ScopeRule;
use tokengate::path::{DotSegments, EscapedSlashes, PathOptions, TargetForm};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let options = PathOptions::default()
        .merge_slashes(mode & 1 == 0)
        .escaped_slashes(match (mode >> 1) % 3 {
            0 => EscapedSlashes::Reject,
            1 => EscapedSlashes::Keep,
            _ => EscapedSlashes::Decode,
        })
        .dot_segments(if mode & 0x80 == 0 {
            DotSegments::Reject
        } else {
            DotSegments::Resolve
        });
    let path = String::from_utf8_lossy(rest);
    if let Ok(canonical) = options.canonical_path(&path) {
        let again = options.canonical_path(&canonical).expect("canonical twice");
        assert!(matches!(again, Cow::Borrowed(_)), "{path:?} -> {canonical:?}");
        assert_eq!(again, canonical);
        assert!(canonical
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b'\\'));
    }
    if let Ok(canonical) = PathOptions::default().canonical_path(&path) {
        let rule = ScopeRule::new("/admin", "admin").unwrap().case_insensitive(true);
        assert_eq!(
            rule.covers(&Method::GET, &path),
            rule.covers(&Method::GET, &canonical)
        );
    }
    if let Ok(mut req) = http::Request::get(rest).body(()) {
        if let Ok(TargetForm::Path) = options.canonicalize_request(&mut req) {
            let path = req.uri().path().to_owned();
            assert_eq!(options.canonical_path(&path).ok(), Some(Cow::Borrowed(&*path)));
        }
    }
});
