//! The configuration file `tokengate serve` is started with in the end-to-end tests.

use super::{ADMIN_KEY, ADMIN_SECRET, OTHER_SERVICE, REDIRECT, SERVICE, WEB_CLIENT, WEB_SECRET};

/// A pepper for configuration files (hex, 32 bytes).
pub const PEPPER_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A `tokengate serve` configuration: a store, the admin listener with the seed admin
/// credentials, the public listener protecting the seed service, and the seed confidential
/// client, all on loopback ports chosen by the system. The builder methods add to it.
pub struct ServeConfig {
    store_url: String,
    admin: String,
    public: String,
    service: String,
    other_service: bool,
    more: String,
}

impl ServeConfig {
    /// On the store at `store_url` (`sqlite://…` or `postgres://…`), with the grants
    /// `authorization_code`, `password` and `client_credentials`.
    pub fn new(store_url: impl Into<String>) -> Self {
        ServeConfig {
            store_url: store_url.into(),
            admin: String::new(),
            public: String::new(),
            service: String::new(),
            other_service: false,
            more: String::new(),
        }
    }

    /// A SQLite file `tokengate.db` in the gateway's working directory.
    pub fn sqlite() -> Self {
        Self::new("sqlite://tokengate.db")
    }

    /// More keys of `[admin]` (TOML lines).
    pub fn admin(mut self, lines: &str) -> Self {
        self.admin.push_str(lines);
        self.admin.push('\n');
        self
    }

    /// More keys of `[public]` (TOML lines).
    pub fn public(mut self, lines: &str) -> Self {
        self.public.push_str(lines);
        self.public.push('\n');
        self
    }

    /// More keys of the seed service's `[[services]]` entry (TOML lines).
    pub fn service(mut self, lines: &str) -> Self {
        self.service.push_str(lines);
        self.service.push('\n');
        self
    }

    /// A second service, [`OTHER_SERVICE`] (same grants), that the seed client may use too.
    pub fn other_service(mut self) -> Self {
        self.other_service = true;
        self
    }

    /// More entries at the end of the file (`[[clients]]`, `[[services]]`).
    pub fn append(mut self, toml: &str) -> Self {
        self.more.push_str(toml);
        self.more.push('\n');
        self
    }

    /// The configuration file's text.
    pub fn toml(&self) -> String {
        let ServeConfig {
            store_url: store,
            admin,
            public,
            service,
            other_service,
            more,
        } = self;
        let (other, web_services) = if *other_service {
            (
                format!(
                    "\n[[services]]\nkey = \"{OTHER_SERVICE}\"\nname = \"Other API\"\n\
                     grants = [\"authorization_code\", \"password\", \"client_credentials\"]\n"
                ),
                format!("\"{SERVICE}\", \"{OTHER_SERVICE}\""),
            )
        } else {
            (String::new(), format!("\"{SERVICE}\""))
        };
        format!(
            r#"
[store]
url = "{store}"
pepper = "{PEPPER_HEX}"

[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "{ADMIN_KEY}", secret = "{ADMIN_SECRET}" }}]
{admin}
[public]
listen = "127.0.0.1:0"
service_key = "{SERVICE}"
{public}
[[services]]
key = "{SERVICE}"
name = "Reviews API"
grants = ["authorization_code", "password", "client_credentials"]
{service}{other}
[[clients]]
id = 12346
client_id = "{WEB_CLIENT}"
secret = "{WEB_SECRET}"
name = "Reviews Web"
redirect_uris = ["{REDIRECT}"]
services = [{web_services}]
{more}"#
        )
    }
}
