//! Binding positional (array) or named (object) params to a method's parameter list.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::RpcError;

/// A method's params bound to its parameter names; missing trailing params are null.
#[derive(Debug)]
pub(crate) struct Params {
    names: &'static [&'static str],
    values: Vec<Value>,
}

impl Params {
    /// Binds `params` to `names`. More positional values than names, or a named param that is
    /// not in `names`, is an invalid-params error.
    pub(crate) fn bind(names: &'static [&'static str], params: Value) -> Result<Self, RpcError> {
        let mut values = vec![Value::Null; names.len()];
        match params {
            Value::Array(list) => {
                if list.len() > names.len() {
                    return Err(RpcError::invalid_params(format!(
                        "expected at most {} params",
                        names.len()
                    )));
                }
                for (slot, v) in values.iter_mut().zip(list) {
                    *slot = v;
                }
            }
            Value::Object(map) => {
                for (key, v) in map {
                    let i = names.iter().position(|n| *n == key).ok_or_else(|| {
                        RpcError::invalid_params(format!("unknown param `{key}`"))
                    })?;
                    values[i] = v;
                }
            }
            _ => {
                return Err(RpcError::invalid_params(
                    "params must be an array or object",
                ))
            }
        }
        Ok(Params { names, values })
    }

    fn take(&mut self, name: &str) -> Value {
        let i = self
            .names
            .iter()
            .position(|n| *n == name)
            .expect("param names are declared with the method");
        std::mem::take(&mut self.values[i])
    }

    /// The param `name`, `None` when null or absent.
    pub(crate) fn optional<T: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<Option<T>, RpcError> {
        match self.take(name) {
            Value::Null => Ok(None),
            v => serde_json::from_value(v)
                .map(Some)
                .map_err(|_| RpcError::invalid_params(format!("`{name}` has the wrong type"))),
        }
    }

    /// The param `name`, which must be present and not null.
    pub(crate) fn required<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, RpcError> {
        self.optional(name)?
            .ok_or_else(|| RpcError::invalid_params(format!("`{name}` is required")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NAMES: &[&str] = &["service_key", "client", "uri"];

    #[test]
    fn positional_and_named_bind_alike() {
        let mut a = Params::bind(NAMES, json!(["k", {"client_id": "c"}])).unwrap();
        let mut b = Params::bind(
            NAMES,
            json!({"client": {"client_id": "c"}, "service_key": "k"}),
        )
        .unwrap();
        for p in [&mut a, &mut b] {
            assert_eq!(p.required::<String>("service_key").unwrap(), "k");
            assert_eq!(
                p.optional::<Value>("client").unwrap(),
                Some(json!({"client_id": "c"}))
            );
            assert_eq!(p.optional::<Value>("uri").unwrap(), None);
        }
    }

    #[test]
    fn bad_params_are_refused() {
        assert!(Params::bind(NAMES, json!([1, 2, 3, 4])).is_err());
        assert!(Params::bind(NAMES, json!({"servicekey": "k"})).is_err());
        let mut p = Params::bind(NAMES, json!([5])).unwrap();
        let err = p.required::<String>("service_key").unwrap_err();
        assert_eq!(err.to_json()["code"], -32602);
        let mut p = Params::bind(NAMES, json!([])).unwrap();
        assert!(p.required::<String>("service_key").is_err());
    }
}
