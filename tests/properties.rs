//! Property tests of the parsers behind public surfaces, in the normal suite (256 cases each):
//!
//! - the JSON-RPC request parser and param binding, through [`JsonRpcService`]: arbitrary
//!   bodies, JSON values and envelopes never panic, and every answer is valid JSON-RPC in the
//!   request's dialect with the code the envelope calls for;
//! - the `/token` form parser, through [`PublicEndpoints`]: arbitrary bodies never panic, every
//!   answer is an RFC 6749 §5.2 error or a token, a repeated parameter is `invalid_request`;
//! - config parsing, through [`Config::from_toml`]: arbitrary TOML-ish text never panics, and
//!   every error carries a key or a position;
//! - the canonical request target ([`tokengate::path`]): idempotent, recognised without a
//!   copy once canonical, read by an upstream that decodes, merges and resolves as the original
//!   was; a scope rule decides a path as it decides its canonical form, and covers every path
//!   whose upstream reading falls under it.
//!
//! The bearer parser's properties are unit tests beside it (`src/auth/bearer.rs`), as are the
//! form parser's own (`src/rest/shared.rs`).

mod common;

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError};
use serde_json::{json, Map, Value};
use tower::ServiceExt;

use common::{ADMIN_KEY, ADMIN_SECRET, REDIRECT, SERVICE, WEB_CLIENT, WEB_SECRET};
use tokengate::rest::PublicEndpoints;
use tokengate::rpc::{Credentials, JsonRpcService};
use tokengate::server::Config;
use tokengate::store::MemoryStore;

const CASES: u32 = 256;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn tokens() -> Arc<tokengate::oauth::TokenService> {
    let (tokens, _clock) = common::token_service(Arc::new(MemoryStore::new()), |s| {
        s.grants = tokengate::model::GrantType::ALL.to_vec();
    })
    .await;
    Arc::new(tokens)
}

// ---------------------------------------------------------------------------------------------
// Generators.

/// Strings that matter to the parsers, and any string.
fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            SERVICE, WEB_CLIENT, WEB_SECRET, common::PUBLIC_CLIENT, REDIRECT, "password",
            "client_credentials", "authorization_code", "refresh_token", "implicit", "token",
            "code", "read", "user12345", "active", "inactive", "all", "", "2.0", "1.1",
            "S256", "plain",
        ])
        .prop_map(str::to_owned),
        2 => any::<String>(),
    ]
}

/// Member names the params binder looks for, and any.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "service_key", "client", "client_id", "client_secret", "token_data", "grant_type",
            "scope", "code", "refresh_token", "redirect_uri", "uri", "user_context",
            "access_token", "response_type", "pkce", "code_challenge", "code_challenge_method",
            "code_verifier", "expires_in", "token_status", "state",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_]{0,10}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..7).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..7)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

const METHODS: [&str; 8] = [
    "oauth2.fetchApplication",
    "oauth2.createAuthorizationCode",
    "oauth2.createAccessToken",
    "oauth2.fetchAccessToken",
    "oauth2.fetchUserApplications",
    "oauth2.revokeAccessToken",
    "oauth2.revokeUserApplication",
    "oauth2.updateAccessToken",
];

/// Plausible params for the real methods: the seed service and client in the usual places,
/// anything else around them.
fn params() -> impl Strategy<Value = Value> {
    let client = prop_oneof![
        Just(json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET})),
        Just(json!({"client_id": WEB_CLIENT})),
        Just(json!({"client_id": common::PUBLIC_CLIENT})),
        json_value(),
    ];
    let token_data = prop_oneof![
        Just(json!({"grant_type": "password", "scope": "read"})),
        Just(json!({"grant_type": "client_credentials"})),
        (string(), string()).prop_map(|(g, c)| json!({"grant_type": g, "code": c})),
        json_value(),
    ];
    prop_oneof![
        (
            client,
            token_data,
            prop::collection::vec(json_value(), 0..4)
        )
            .prop_map(|(client, data, rest)| {
                let mut params = vec![json!(SERVICE), client, data];
                params.extend(rest);
                Value::Array(params)
            }),
        json_value(),
        prop::collection::vec((key(), json_value()), 0..6)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

/// A member that is absent (`None`), or one of the given values.
fn member(values: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Option<Value>> {
    prop_oneof![1 => Just(None), 3 => values.prop_map(Some)].boxed()
}

/// Envelopes: mostly well-formed, each member sometimes wrong or absent.
fn envelope() -> impl Strategy<Value = Value> {
    let jsonrpc = member(prop_oneof![
        4 => Just(json!("2.0")),
        1 => Just(json!(2.0)),
        1 => Just(json!("1.0")),
        1 => json_value(),
    ]);
    let version = member(prop_oneof![Just(json!("1.1")), json_value()]);
    let id = member(prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        string().prop_map(Value::String),
        json_value(),
    ]);
    let method = member(prop_oneof![
        4 => prop::sample::select(METHODS.to_vec()).prop_map(|m| json!(m)),
        1 => "[a-zA-Z0-9._]{0,24}".prop_map(Value::String),
        1 => json_value(),
    ]);
    let params = member(params());
    let extra = prop::collection::vec((key(), json_value()), 0..2);
    (jsonrpc, version, id, method, params, extra).prop_map(
        |(jsonrpc, version, id, method, params, extra)| {
            let mut obj: Map<String, Value> = extra.into_iter().collect();
            for (name, value) in [
                ("jsonrpc", jsonrpc),
                ("version", version),
                ("id", id),
                ("method", method),
                ("params", params),
            ] {
                match value {
                    Some(v) => obj.insert(name.into(), v),
                    None => obj.remove(name),
                };
            }
            Value::Object(obj)
        },
    )
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC: the oracle, from the JSON-RPC 1.0/1.1/2.0 rules the API documents.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    V1,
    V1_1,
    V2,
}

/// What one call object must be answered with.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// A notification: no answer.
    Nothing,
    /// An error with this code.
    Error(Dialect, Value, i64),
    /// A real method's answer: a result, invalid params or an OAuth error.
    Method(Dialect, Value),
}

fn expect_call(value: &Value) -> Expect {
    let Value::Object(obj) = value else {
        return Expect::Error(Dialect::V2, Value::Null, -32600);
    };
    let dialect = match (obj.get("jsonrpc"), obj.get("version")) {
        (Some(v), _) if v == "2.0" => Dialect::V2,
        (Some(_), _) => return Expect::Error(Dialect::V2, Value::Null, -32600),
        (None, Some(v)) if v == "1.1" => Dialect::V1_1,
        _ => Dialect::V1,
    };
    // 2.0: no id is a notification, a null id is a call; 1.x: null or no id is a notification.
    let id = match obj.get("id") {
        None => None,
        Some(Value::Null) if dialect != Dialect::V2 => None,
        Some(id @ (Value::Null | Value::String(_) | Value::Number(_))) => Some(id.clone()),
        Some(_) => return Expect::Error(dialect, Value::Null, -32600),
    };
    let reply_id = id.clone().unwrap_or(Value::Null);
    let Some(Value::String(method)) = obj.get("method") else {
        return Expect::Error(dialect, reply_id, -32600);
    };
    match obj.get("params") {
        None | Some(Value::Null | Value::Array(_) | Value::Object(_)) => {}
        Some(_) => return Expect::Error(dialect, reply_id, -32600),
    }
    match id {
        None => Expect::Nothing,
        Some(id) if METHODS.contains(&method.as_str()) => Expect::Method(dialect, id),
        Some(id) => Expect::Error(dialect, id, -32601),
    }
}

/// What a whole body must be answered with: `None` for `204`.
fn expect_body(body: &[u8]) -> Option<Vec<Expect>> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Some(vec![Expect::Error(Dialect::V2, Value::Null, -32700)]);
    };
    match &value {
        Value::Array(calls) if calls.is_empty() || calls.len() > 100 => {
            Some(vec![Expect::Error(Dialect::V2, Value::Null, -32600)])
        }
        Value::Array(calls) => {
            // 1.0 has no batches: a member without `"jsonrpc": "2.0"` is an invalid 2.0
            // request (the specification's §7 example).
            let replies: Vec<Expect> = calls
                .iter()
                .map(|call| match call.get("jsonrpc") {
                    Some(v) if v == "2.0" => expect_call(call),
                    _ => Expect::Error(Dialect::V2, Value::Null, -32600),
                })
                .filter(|e| *e != Expect::Nothing)
                .collect();
            (!replies.is_empty()).then_some(replies)
        }
        single => match expect_call(single) {
            Expect::Nothing => None,
            e => Some(vec![e]),
        },
    }
}

/// Checks one reply object against what was expected.
fn check_reply(reply: &Value, expect: &Expect) -> Result<(), TestCaseError> {
    let obj = reply
        .as_object()
        .ok_or_else(|| TestCaseError::fail(format!("not an object: {reply}")))?;
    let (dialect, id, code) = match expect {
        Expect::Nothing => unreachable!(),
        Expect::Error(d, id, code) => (*d, id, Some(*code)),
        Expect::Method(d, id) => (*d, id, None),
    };
    prop_assert_eq!(obj.get("id"), Some(id), "id of {}", reply);
    let (result, error) = match dialect {
        Dialect::V2 => {
            prop_assert_eq!(obj.get("jsonrpc"), Some(&json!("2.0")), "{}", reply);
            prop_assert!(
                obj.contains_key("result") != obj.contains_key("error"),
                "2.0: exactly one of result and error: {}",
                reply
            );
            prop_assert_eq!(obj.len(), 3, "{}", reply);
            (obj.get("result"), obj.get("error"))
        }
        Dialect::V1 | Dialect::V1_1 => {
            prop_assert!(!obj.contains_key("jsonrpc"), "{}", reply);
            let v11 = json!("1.1");
            prop_assert_eq!(
                obj.get("version"),
                (dialect == Dialect::V1_1).then_some(&v11),
                "{}",
                reply
            );
            let result = obj.get("result").filter(|v| !v.is_null());
            let error = obj.get("error").filter(|v| !v.is_null());
            prop_assert!(
                obj.contains_key("result") && obj.contains_key("error"),
                "1.x: both members: {}",
                reply
            );
            prop_assert!(
                result.is_none() || error.is_none(),
                "1.x: one of them null: {}",
                reply
            );
            (result, error)
        }
    };
    let got_code = match error {
        Some(error) => {
            prop_assert!(error["message"].is_string(), "{}", reply);
            Some(
                error["code"]
                    .as_i64()
                    .ok_or_else(|| TestCaseError::fail(format!("no integer code: {reply}")))?,
            )
        }
        None => {
            prop_assert!(result.is_some() || dialect != Dialect::V2, "{}", reply);
            None
        }
    };
    match code {
        Some(code) => prop_assert_eq!(got_code, Some(code), "{}", reply),
        // A real method: a result, invalid params or Mashery's OAuth error; never internal
        // (the store works) nor "method not found".
        None => prop_assert!(
            matches!(got_code, None | Some(-32602) | Some(-2001)),
            "{}",
            reply
        ),
    }
    Ok(())
}

/// Posts `body` to the JSON-RPC service and checks the answer.
async fn check_rpc(api: &JsonRpcService, body: Vec<u8>) -> Result<(), TestCaseError> {
    let expected = expect_body(&body);
    let req = Request::post("/v2/json-rpc")
        .header("authorization", basic_admin())
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res = api.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    match expected {
        None => {
            prop_assert_eq!(status, StatusCode::NO_CONTENT);
            prop_assert!(bytes.is_empty());
        }
        Some(expected) => {
            prop_assert_eq!(status, StatusCode::OK);
            let reply: Value = serde_json::from_slice(&bytes)
                .map_err(|e| TestCaseError::fail(format!("the answer is not JSON: {e}")))?;
            let is_batch = matches!(reply, Value::Array(_));
            let replies = match reply {
                Value::Array(replies) => replies,
                single => vec![single],
            };
            prop_assert_eq!(replies.len(), expected.len(), "{:?}", replies);
            prop_assert!(
                !is_batch || !replies.is_empty(),
                "a batch answer is never empty"
            );
            for (reply, expect) in replies.iter().zip(&expected) {
                check_reply(reply, expect)?;
            }
        }
    }
    Ok(())
}

fn basic_admin() -> String {
    use base64::Engine;
    let raw = format!("{ADMIN_KEY}:{ADMIN_SECRET}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn rpc_service(rt: &tokio::runtime::Runtime) -> JsonRpcService {
    let tokens = rt.block_on(tokens());
    JsonRpcService::new(
        tokens,
        Credentials::new(vec![(ADMIN_KEY.into(), ADMIN_SECRET.into())]),
    )
}

#[test]
fn jsonrpc_arbitrary_bytes_are_parse_errors_or_answered() {
    let rt = runtime();
    let api = rpc_service(&rt);
    proptest!(ProptestConfig::with_cases(CASES), |(body in prop_oneof![
        any::<Vec<u8>>(),
        any::<String>().prop_map(String::into_bytes),
        // JSON-looking text, cut anywhere.
        (envelope(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let text = v.to_string().into_bytes();
            let at = cut.index(text.len() + 1);
            text[..at].to_vec()
        }),
    ])| {
        rt.block_on(check_rpc(&api, body))?;
    });
}

#[test]
fn jsonrpc_arbitrary_json_values_get_valid_answers() {
    let rt = runtime();
    let api = rpc_service(&rt);
    proptest!(ProptestConfig::with_cases(CASES), |(value in json_value())| {
        rt.block_on(check_rpc(&api, value.to_string().into_bytes()))?;
    });
}

#[test]
fn jsonrpc_envelopes_and_batches_get_the_right_codes() {
    let rt = runtime();
    let api = rpc_service(&rt);
    proptest!(ProptestConfig::with_cases(CASES), |(calls in prop::collection::vec(envelope(), 1..5), batch in any::<bool>())| {
        let body = if batch || calls.len() > 1 {
            Value::Array(calls)
        } else {
            calls.into_iter().next().unwrap()
        };
        rt.block_on(check_rpc(&api, body.to_string().into_bytes()))?;
    });
}

#[test]
fn jsonrpc_deep_nesting_is_answered_not_overflowed() {
    let rt = runtime();
    let api = rpc_service(&rt);
    proptest!(ProptestConfig::with_cases(32), |(depth in 1usize..5000, open in prop::sample::select(vec!["[", "{\"a\":"]))| {
        let close = if open == "[" { "]" } else { "}" };
        let body = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"oauth2.fetchAccessToken\",\"params\":[\"{SERVICE}\",{}1{}]}}",
            open.repeat(depth),
            close.repeat(depth)
        );
        rt.block_on(check_rpc(&api, body.into_bytes()))?;
    });
}

// ---------------------------------------------------------------------------------------------
// The `/token` form.

/// RFC 6749 §5.2's error codes.
const TOKEN_ERRORS: [&str; 6] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
];

fn form_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "grant_type", "client_id", "client_secret", "scope", "code", "refresh_token",
            "redirect_uri", "code_verifier", "username", "password",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn form_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((form_name(), string()), 0..8)
}

async fn post_token(
    endpoints: &PublicEndpoints,
    body: Vec<u8>,
    basic: bool,
) -> (StatusCode, Value, http::HeaderMap) {
    let mut req =
        Request::post("/oauth2/token").header("content-type", "application/x-www-form-urlencoded");
    if basic {
        use base64::Engine;
        req = req.header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{WEB_CLIENT}:{WEB_SECRET}"))
            ),
        );
    }
    let req = req.body(Full::new(Bytes::from(body))).unwrap();
    let res = endpoints.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, json, parts.headers)
}

/// Every `/token` answer: a token (200) or an RFC 6749 §5.2 error (400/401), JSON, no-store.
fn check_token_answer(
    status: StatusCode,
    body: &Value,
    headers: &http::HeaderMap,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&headers["cache-control"], "no-store");
    match status.as_u16() {
        200 => {
            prop_assert!(body["access_token"].is_string(), "{}", body);
            prop_assert!(body["token_type"].is_string(), "{}", body);
        }
        400 | 401 => {
            let error = body["error"].as_str().unwrap_or_default();
            prop_assert!(TOKEN_ERRORS.contains(&error), "{} {}", status, body);
        }
        other => prop_assert!(false, "status {other}: {body}"),
    }
    Ok(())
}

fn endpoints(rt: &tokio::runtime::Runtime) -> PublicEndpoints {
    let tokens = rt.block_on(tokens());
    PublicEndpoints::new(tokens, [SERVICE], "https://auth.example.com").unwrap()
}

#[test]
fn token_form_arbitrary_bodies_get_rfc6749_answers() {
    let rt = runtime();
    let api = endpoints(&rt);
    proptest!(ProptestConfig::with_cases(CASES), |(body in prop_oneof![
        any::<Vec<u8>>(),
        form_pairs().prop_map(|pairs| form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes()),
    ], basic in any::<bool>())| {
        let (status, body, headers) = rt.block_on(post_token(&api, body, basic));
        check_token_answer(status, &body, &headers)?;
    });
}

#[test]
fn token_form_repeated_parameters_are_invalid_request() {
    let rt = runtime();
    let api = endpoints(&rt);
    proptest!(ProptestConfig::with_cases(CASES), |(
        mut pairs in form_pairs(),
        repeat in any::<prop::sample::Index>(),
        value in string(),
        at in any::<prop::sample::Index>(),
        basic in any::<bool>(),
    )| {
        // A valid request, then one of its parameters given a second time anywhere.
        pairs.insert(0, ("grant_type".into(), "client_credentials".into()));
        let name = pairs[repeat.index(pairs.len())].0.clone();
        pairs.insert(at.index(pairs.len() + 1), (name, value));
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish()
            .into_bytes();
        let (status, body, headers) = rt.block_on(post_token(&api, body, basic));
        check_token_answer(status, &body, &headers)?;
        prop_assert_eq!(status, StatusCode::BAD_REQUEST, "{}", body);
        prop_assert_eq!(&body["error"], "invalid_request");
    });
}

// ---------------------------------------------------------------------------------------------
// Config parsing.

fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[0-9.e+-]{1,8}",
        string().prop_map(|s| format!("{s:?}")),
        "\"[a-z0-9:/.]{0,20}\"",
        prop::sample::select(vec![
            "\"sqlite://tokengate.db\"",
            "\"memory:\"",
            "\"postgres://u@h/db\"",
            "\"127.0.0.1:0\"",
            "\"http://127.0.0.1:9000\"",
            "\"mashery\"",
            "\"neutral\"",
            "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"",
            "[\"password\", \"client_credentials\"]",
            "[]",
            "{}",
            "inf",
            "nan",
            "1979-05-27T07:32:00Z",
            "'''multi\nline'''",
            "\"unterminated",
        ])
        .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((toml_key(), inner), 0..4).prop_map(|v| format!(
                "{{ {} }}",
                v.into_iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ]
    })
}

fn toml_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "url", "pepper", "listen", "credentials", "key", "secret", "max_body_bytes",
            "enabled", "upstream", "service_key", "headers", "realm", "require_scopes",
            "cache_ttl_secs", "negative_ttl_secs", "header_read_timeout_secs", "max_headers",
            "max_header_bytes", "name", "grants", "access_token_ttl", "token_type", "id",
            "client_id", "redirect_uris", "services", "status", "allowed_scopes", "issuer",
            "path", "scope",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_.\"]{1,12}",
    ]
}

fn toml_line() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "[store]", "[admin]", "[public]", "[[services]]", "[[clients]]", "[public.headers]",
            "[bogus]", "[[store]]", "[", "# comment", "",
        ])
        .prop_map(str::to_owned),
        6 => (toml_key(), toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => any::<String>(),
    ]
}

#[test]
fn config_text_never_panics_and_errors_say_where() {
    proptest!(ProptestConfig::with_cases(CASES), |(text in prop_oneof![
        3 => prop::collection::vec(toml_line(), 0..16).prop_map(|lines| lines.join("\n")),
        1 => any::<String>(),
    ])| {
        if let Err(e) = Config::from_toml(&text, None) {
            prop_assert!(
                e.key().is_some() || e.position().is_some(),
                "an error with neither key nor position: {e}\n---\n{text}"
            );
            let shown = e.to_string();
            prop_assert!(!shown.is_empty());
            if let Some(key) = e.key() {
                prop_assert!(shown.contains(key), "{shown}");
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The canonical request target (`tokengate::path`) and scope rules.

/// Paths made of the pieces that matter to canonicalisation (escapes of every kind, dots,
/// parameters, slashes, case), or of any text.
fn request_path() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "/", "//", "admin", "ADMIN", "a", "x", "%61", "%41", "%6d", "%2F", "%2f", "%5C", "\\", ".",
        "..", ";", ";x=1", "%2E", "%2e", "%3B", "%3b", "%00", "%1f", "%20", "%c3%a9", "\u{e9}",
        "~", "%7E", "%", "%4", "%zz", "%25", "\"",
    ]);
    prop_oneof![
        3 => prop::collection::vec(piece, 0..10).prop_map(|p| format!("/{}", p.concat())),
        1 => any::<String>().prop_map(|s| format!("/{s}")),
    ]
}

/// Any combination of the options, and whether an upstream that decodes `%2F`, merges
/// slashes and resolves dots reads what they forward as it reads the original: not when `%2F`
/// is decoded on purpose (an upstream that strips `;x%2Fy` as one parameter reads the original
/// otherwise), nor when dots are resolved without merging slashes (`/a//..` is `/a/` by
/// RFC 3986, `/` to an upstream that merges first).
fn path_options() -> impl Strategy<Value = (tokengate::path::PathOptions, bool)> {
    use tokengate::path::{DotSegments, EscapedSlashes, PathOptions};
    (
        any::<bool>(),
        prop::sample::select(vec![
            EscapedSlashes::Reject,
            EscapedSlashes::Keep,
            EscapedSlashes::Decode,
        ]),
        prop::sample::select(vec![DotSegments::Reject, DotSegments::Resolve]),
    )
        .prop_map(|(merge, slashes, dots)| {
            let options = PathOptions::default()
                .merge_slashes(merge)
                .escaped_slashes(slashes)
                .dot_segments(dots);
            let same_reading =
                slashes != EscapedSlashes::Decode && (merge || dots == DotSegments::Reject);
            (options, same_reading)
        })
}

/// The segments an upstream that does everything sees in `path`: `;parameters` stripped
/// (Tomcat, Spring) before decoding or, with `decode_first`, after, every escape decoded, a
/// decoded `/` splitting, empty segments merged and dot segments resolved.
fn upstream_view(path: &str, decode_first: bool) -> Vec<Vec<u8>> {
    let strip = |bytes: &[u8]| bytes.split(|&b| b == b';').next().unwrap_or(b"").to_vec();
    let mut out: Vec<Vec<u8>> = Vec::new();
    for segment in path.split('/') {
        let decoded = if decode_first {
            percent_decode(segment.as_bytes())
        } else {
            percent_decode(&strip(segment.as_bytes()))
        };
        for piece in decoded.split(|&b| b == b'/') {
            let piece = if decode_first {
                strip(piece)
            } else {
                piece.to_vec()
            };
            match piece.as_slice() {
                b"" | b"." => {}
                b".." => {
                    out.pop();
                }
                _ => out.push(piece),
            }
        }
    }
    out
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[test]
fn canonical_paths_are_idempotent_and_keep_the_meaning_of_the_path() {
    proptest!(ProptestConfig::with_cases(2048), |(path in request_path(), (options, same_reading) in path_options())| {
        let Ok(canonical) = options.canonical_path(&path) else {
            return Ok(());
        };
        // Idempotent, and recognised as canonical without a copy.
        let again = options.canonical_path(&canonical).unwrap();
        prop_assert!(matches!(again, std::borrow::Cow::Borrowed(_)), "{path:?} -> {canonical:?} -> {again:?}");
        prop_assert_eq!(&*again, &*canonical);
        // Only canonical bytes: printable ASCII, no backslash.
        prop_assert!(canonical.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'\\'), "{canonical:?}");
        // An upstream that decodes, strips parameters, merges and resolves reads the forwarded
        // path as it would have read the original.
        if same_reading {
            for decode_first in [false, true] {
                prop_assert_eq!(
                    upstream_view(&path, decode_first),
                    upstream_view(&canonical, decode_first),
                    "{:?} -> {:?}", path, canonical
                );
            }
        }
    });
}

#[test]
fn a_rule_decides_a_path_as_it_decides_its_canonical_form_and_covers_what_upstreams_see() {
    use http::Method;
    use tokengate::auth::ScopeRule;

    let exact = ScopeRule::new("/admin", "admin").unwrap();
    let folded = ScopeRule::new("/admin", "admin")
        .unwrap()
        .case_insensitive(true);
    let posts = ScopeRule::new("/a", "write")
        .unwrap()
        .methods([Method::POST]);
    proptest!(ProptestConfig::with_cases(2048), |(
        path in request_path(),
        (options, _) in path_options(),
        method in prop::sample::select(vec![Method::GET, Method::POST]),
    )| {
        // `covers` canonicalises with the default options, as the layer does by default.
        if let Ok(canonical) = tokengate::path::PathOptions::default().canonical_path(&path) {
            for rule in [&exact, &folded, &posts] {
                prop_assert_eq!(
                    rule.covers(&method, &path),
                    rule.covers(&method, &canonical),
                    "{:?} / {:?} -> {:?}", rule.path(), path, canonical
                );
            }
        }
        let Ok(canonical) = options.canonical_path(&path) else {
            return Ok(());
        };
        // Whatever an upstream makes of the forwarded path, the rule saw at least that.
        for decode_first in [false, true] {
            let view = upstream_view(&canonical, decode_first);
            let Some(first) = view.first() else { continue };
            if first.as_slice() == b"admin" {
                prop_assert!(exact.covers(&method, &canonical), "{path:?} -> {canonical:?}");
            }
            if first.eq_ignore_ascii_case(b"admin") {
                prop_assert!(folded.covers(&method, &canonical), "{path:?} -> {canonical:?}");
            }
        }
    });
}
