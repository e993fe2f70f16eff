//! The configuration file `tokengate serve` is started with in the end-to-end tests.

use super::{ADMIN_KEY, ADMIN_SECRET, REDIRECT, SERVICE, WEB_CLIENT, WEB_SECRET};

/// A pepper for configuration files (hex, 32 bytes).
pub const PEPPER_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A `tokengate serve` configuration: a store, the admin listener with the seed admin
/// credentials, the public listener protecting the seed service, and the seed confidential
/// client, all on loopback ports chosen by the system.
pub struct ServeConfig {
    store_url: String,
}

impl ServeConfig {
    /// On the store at `store_url` (`sqlite://…` or `postgres://…`), with the grants
    /// `authorization_code`, `password` and `client_credentials`.
    pub fn new(store_url: impl Into<String>) -> Self {
        ServeConfig {
            store_url: store_url.into(),
        }
    }

    /// A SQLite file `tokengate.db` in the gateway's working directory.
    pub fn sqlite() -> Self {
        Self::new("sqlite://tokengate.db")
    }

    /// The configuration file's text.
    pub fn toml(&self) -> String {
        let store = &self.store_url;
        format!(
            r#"
[store]
url = "{store}"
pepper = "{PEPPER_HEX}"

[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "{ADMIN_KEY}", secret = "{ADMIN_SECRET}" }}]

[public]
listen = "127.0.0.1:0"
service_key = "{SERVICE}"

[[services]]
key = "{SERVICE}"
name = "Reviews API"
grants = ["authorization_code", "password", "client_credentials"]

[[clients]]
id = 12346
client_id = "{WEB_CLIENT}"
secret = "{WEB_SECRET}"
name = "Reviews Web"
redirect_uris = ["{REDIRECT}"]
services = ["{SERVICE}"]
"#
        )
    }
}
