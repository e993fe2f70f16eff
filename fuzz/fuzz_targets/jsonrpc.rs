//! The JSON-RPC request parser and param binding: any body, posted by an authenticated admin.
//! Every answer must be JSON (or an empty 204).
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use tokengate::rpc::{Credentials, JsonRpcService};
use tower::ServiceExt;

use tokengate_fuzz::{runtime, tokens, ADMIN};

fn api() -> JsonRpcService {
    static API: OnceLock<JsonRpcService> = OnceLock::new();
    API.get_or_init(|| {
        JsonRpcService::new(
            tokens(),
            Credentials::new(vec![(ADMIN.0.into(), ADMIN.1.into())]),
        )
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let req = http::Request::post("/v2/json-rpc")
        // Basic ops:change-me
        .header("authorization", "Basic b3BzOmNoYW5nZS1tZQ==")
        .body(Full::new(Bytes::copy_from_slice(data)))
        .unwrap();
    // Built outside the runtime (it blocks on the runtime to set up the store once).
    let service = api();
    runtime().block_on(async {
        let res = service.oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        match status {
            204 => assert!(body.is_empty()),
            200 | 413 => {
                let reply: serde_json::Value =
                    serde_json::from_slice(&body).expect("the answer is JSON");
                assert!(reply.is_object() || reply.is_array());
            }
            other => panic!("status {other}"),
        }
    });
});
