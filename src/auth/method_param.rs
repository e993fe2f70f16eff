//! [`has_method_override`]: a `_method` query parameter, the method override of Rails
//! (`Rack::MethodOverride`), Laravel, Symfony and Express' `method-override`.

use super::bearer::Decoded;

/// Whether the query has a `_method` parameter (its name form-decoded, up to twice, in any
/// ASCII case; parameters split at `&` and `;`). An upstream honouring it runs the method it
/// names (`POST /admin?_method=DELETE` is a `DELETE`), while the gateway's routes and rules
/// decided on the request's own method: such a request is refused (`400`), rather than
/// stripped, since the client meant another method than the one checked. One scan when the
/// query holds no `method` at all; nothing is allocated.
///
/// A `_method` field in a form body, which the same frameworks read, is not seen: the gateway
/// does not buffer bodies. Behind such an upstream, scope rules by path (not by method) hold.
pub(crate) fn has_method_override(query: Option<&str>) -> bool {
    let Some(query) = query else { return false };
    if !query
        .as_bytes()
        .windows(6)
        .any(|w| w.eq_ignore_ascii_case(b"method"))
        && !query.contains('%')
    {
        return false;
    }
    query.split(['&', ';']).any(|pair| {
        let key = pair.split('=').next().unwrap_or_default().as_bytes();
        let once = Decoded::new(key.iter().copied());
        let twice = Decoded::new(Decoded::new(key.iter().copied()));
        is_method(once) || is_method(twice)
    })
}

fn is_method(name: impl Iterator<Item = u8>) -> bool {
    name.map(|b| b.to_ascii_lowercase())
        .eq(b"_method".iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_in_any_spelling() {
        for query in [
            "_method=DELETE",
            "a=1&_method=put",
            "a=1;_METHOD=put",
            "%5Fmethod=DELETE",
            "%255Fmethod=DELETE",
            "_Method",
        ] {
            assert!(has_method_override(Some(query)), "{query}");
        }
        for query in [
            "",
            "method=x",
            "x_method=1",
            "_methods=1",
            "a=_method",
            "q=%41",
        ] {
            assert!(!has_method_override(Some(query)), "{query}");
        }
        assert!(!has_method_override(None));
    }
}
