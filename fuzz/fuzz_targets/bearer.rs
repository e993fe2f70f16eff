//! The bearer/Authorization parser, through the OAuth layer: the first byte picks where the
//! rest goes (the `Authorization` header, the query, or split between both). An accepted
//! token must be a RFC 6750 b64token; the layer never panics. `MAC …` values go through the
//! MAC credentials parser (the request has a `Host`, so well-formed ones reach the checks
//! after it).
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokengate::auth::OAuthLayer;
use tokengate::resolve::{LocalResolver, TokenCache};
use tower::{Layer, ServiceExt};

use tokengate_fuzz::{runtime, tokens, SERVICE};

fn layer() -> OAuthLayer {
    static LAYER: OnceLock<OAuthLayer> = OnceLock::new();
    LAYER
        .get_or_init(|| {
            let cache = TokenCache::builder(LocalResolver::new(tokens(), SERVICE))
                .ttl(Duration::from_secs(30))
                .build();
            OAuthLayer::new(cache).allow_query_tokens(true)
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (header, query) = match mode % 3 {
        0 => (Some(rest), None),
        1 => (None, Some(rest)),
        _ => {
            let at = rest.len() / 2;
            (Some(&rest[..at]), Some(&rest[at..]))
        }
    };
    let mut builder = http::Request::get("/p");
    if let Some(query) = query {
        let Ok(query) = std::str::from_utf8(query) else {
            return;
        };
        let Ok(uri) = format!("/p?{query}").parse::<http::Uri>() else {
            return;
        };
        builder = http::Request::get(uri);
    }
    builder = builder.header("host", "fuzz.test");
    if let Some(header) = header {
        let Ok(value) = http::HeaderValue::from_bytes(header) else {
            return;
        };
        builder = builder.header("authorization", value);
    }
    let req = builder.body(String::new()).unwrap();
    let inner = tower::service_fn(|_req: http::Request<String>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    });
    // Built outside the runtime (it blocks on the runtime to set up the store once).
    let service = layer();
    runtime().block_on(async {
        let res = service.layer(inner).oneshot(req).await.unwrap();
        // Nothing the fuzzer makes up is a live token.
        assert!(
            matches!(res.status().as_u16(), 400 | 401),
            "{}",
            res.status()
        );
    });
});
