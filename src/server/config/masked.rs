//! The configuration as `tokengate config check` prints it: TOML with every secret masked.
//!
//! [`Config`]'s `Serialize` never writes a secret: admin credential secrets, client secrets
//! and the pepper become [`MASK`], and the store URL loses its password. The output is for
//! reading, not for loading again.

use serde::Serializer;

use super::{Config, StoreLocation};

/// What a secret is printed as.
pub const MASK: &str = "********";

/// Serializes a secret as [`MASK`].
pub(super) fn secret<S: Serializer>(_secret: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(MASK)
}

/// Serializes an optional secret as [`MASK`] when set.
pub(super) fn optional_secret<S: Serializer>(
    secret: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_some(MASK),
        None => serializer.serialize_none(),
    }
}

/// Serializes `store.url` without its password (all of it masked if it is not a store URL).
pub(super) fn store_url<S: Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    match StoreLocation::parse(url) {
        Ok(location) => serializer.serialize_str(&location.to_string()),
        Err(_) => serializer.serialize_str(MASK),
    }
}

impl Config {
    /// The effective configuration as TOML, every key with its value (defaults included) and
    /// every secret masked ([`MASK`]; the store URL without its password).
    ///
    /// ```
    /// use tokengate::server::config::Config;
    /// let config = Config::from_toml(
    ///     "[admin]\ncredentials = [{ key = \"ops\", secret = \"s3cret-admin\" }]\n",
    ///     None,
    /// )
    /// .unwrap();
    /// let text = config.to_masked_toml().unwrap();
    /// assert!(text.contains("key = \"ops\""), "{text}");
    /// assert!(!text.contains("s3cret-admin"), "{text}");
    /// assert!(text.contains("cache_ttl_secs = 30"), "{text}");
    /// ```
    pub fn to_masked_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}
