//! The JSON-RPC envelope: parsing requests in any dialect and answering in kind.

use serde_json::{json, Map, Value};

use super::error::RpcError;

/// The protocol version a request used; the answer uses the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// No `jsonrpc`/`version` member: `result` and `error` both present, one null.
    V1,
    /// `"version": "1.1"`: as 1.0, with the version member echoed.
    V1_1,
    /// `"jsonrpc": "2.0"`: exactly one of `result` and `error`.
    V2,
}

/// One parsed call.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) dialect: Dialect,
    /// `None` for a notification (no answer is sent).
    pub(crate) id: Option<Value>,
    pub(crate) method: String,
    pub(crate) params: Value,
}

/// Reads one request object; on failure returns the error answer to send.
pub(crate) fn parse_call(value: Value) -> Result<Call, Value> {
    let Value::Object(mut obj) = value else {
        return Err(answer(
            Dialect::V2,
            Value::Null,
            Err(RpcError::invalid_request("not an object")),
        ));
    };
    let dialect = match (obj.get("jsonrpc"), obj.get("version")) {
        (Some(v), _) if v == "2.0" => Dialect::V2,
        (Some(_), _) => {
            return Err(answer(
                Dialect::V2,
                Value::Null,
                Err(RpcError::invalid_request("jsonrpc must be \"2.0\"")),
            ))
        }
        (None, Some(v)) if v == "1.1" => Dialect::V1_1,
        _ => Dialect::V1,
    };
    let id = match obj.remove("id") {
        None if dialect == Dialect::V2 => None,
        None | Some(Value::Null) if dialect != Dialect::V2 => None,
        Some(id @ (Value::Null | Value::String(_) | Value::Number(_))) => Some(id),
        _ => {
            return Err(answer(
                dialect,
                Value::Null,
                Err(RpcError::invalid_request(
                    "id must be a string, number or null",
                )),
            ))
        }
    };
    let reply_id = id.clone().unwrap_or(Value::Null);
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        _ => {
            return Err(answer(
                dialect,
                reply_id,
                Err(RpcError::invalid_request("method must be a string")),
            ))
        }
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Value::Array(Vec::new()),
        Some(p @ (Value::Array(_) | Value::Object(_))) => p,
        Some(_) => {
            return Err(answer(
                dialect,
                reply_id,
                Err(RpcError::invalid_request(
                    "params must be an array or object",
                )),
            ))
        }
    };
    Ok(Call {
        dialect,
        id,
        method,
        params,
    })
}

/// Builds the answer object for `dialect`.
pub(crate) fn answer(dialect: Dialect, id: Value, outcome: Result<Value, RpcError>) -> Value {
    let mut obj = Map::new();
    match dialect {
        Dialect::V2 => {
            obj.insert("jsonrpc".into(), json!("2.0"));
            match outcome {
                Ok(result) => obj.insert("result".into(), result),
                Err(e) => obj.insert("error".into(), e.to_json()),
            };
        }
        Dialect::V1 | Dialect::V1_1 => {
            if dialect == Dialect::V1_1 {
                obj.insert("version".into(), json!("1.1"));
            }
            let (result, error) = match outcome {
                Ok(result) => (result, Value::Null),
                Err(e) => (Value::Null, e.to_json()),
            };
            obj.insert("result".into(), result);
            obj.insert("error".into(), error);
        }
    }
    obj.insert("id".into(), id);
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_are_detected() {
        let v2 = parse_call(json!({"jsonrpc":"2.0","method":"m","id":1})).unwrap();
        assert_eq!(v2.dialect, Dialect::V2);
        let v11 = parse_call(json!({"version":"1.1","method":"m","id":1})).unwrap();
        assert_eq!(v11.dialect, Dialect::V1_1);
        let v1 = parse_call(json!({"method":"m","params":[],"id":1})).unwrap();
        assert_eq!(v1.dialect, Dialect::V1);
    }

    #[test]
    fn notifications_have_no_id() {
        assert!(parse_call(json!({"jsonrpc":"2.0","method":"m"}))
            .unwrap()
            .id
            .is_none());
        assert_eq!(
            parse_call(json!({"jsonrpc":"2.0","method":"m","id":null}))
                .unwrap()
                .id,
            Some(Value::Null),
            "2.0 null id is a call, not a notification"
        );
        assert!(parse_call(json!({"method":"m","id":null}))
            .unwrap()
            .id
            .is_none());
    }

    #[test]
    fn bad_envelopes_are_invalid_requests() {
        for bad in [
            json!(1),
            json!({"jsonrpc":"3.0","method":"m","id":1}),
            json!({"jsonrpc":"2.0","method":7,"id":1}),
            json!({"jsonrpc":"2.0","method":"m","params":"x","id":1}),
            json!({"jsonrpc":"2.0","method":"m","id":[1]}),
        ] {
            let err = parse_call(bad).unwrap_err();
            assert_eq!(err["error"]["code"], -32600, "{err}");
        }
    }

    #[test]
    fn answers_follow_the_dialect() {
        let ok = answer(Dialect::V1, json!(1), Ok(json!(true)));
        assert_eq!(ok, json!({"result":true,"error":null,"id":1}));
        let v11 = answer(Dialect::V1_1, json!(1), Ok(json!(true)));
        assert_eq!(
            v11,
            json!({"version":"1.1","result":true,"error":null,"id":1})
        );
        let v2 = answer(Dialect::V2, json!("a"), Err(RpcError::method_not_found()));
        assert_eq!(
            v2,
            json!({"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"a"})
        );
    }
}
