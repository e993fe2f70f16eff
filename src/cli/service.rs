//! `tokengate service update`, and the settings `service add` shares with it.

use clap::Args;
use tokengate::server::{self, Config};

use crate::{service_json, BoxError};

/// What `service add` and `service update` set alike; for `update`, what is not given is left
/// as it is.
#[derive(Args)]
pub struct ServiceSettings {
    /// The enabled grants, comma separated (default for a new service: all four).
    #[arg(long, value_delimiter = ',', value_name = "GRANT,...")]
    pub grants: Option<Vec<String>>,
    /// Lifetime of the access tokens issued (default for a new service: 3600).
    #[arg(long, value_name = "SECONDS")]
    pub access_token_ttl: Option<u64>,
    /// Lifetime of the refresh tokens issued (default for a new service: 2764800).
    #[arg(long, value_name = "SECONDS")]
    pub refresh_token_ttl: Option<u64>,
    /// Lifetime of the authorization codes issued (default for a new service: 300).
    #[arg(long, value_name = "SECONDS")]
    pub authorization_code_ttl: Option<u64>,
    /// Which clients must use PKCE for codes (default for a new service: public).
    #[arg(long, value_parser = ["public", "all", "off"])]
    pub require_pkce: Option<String>,
}

/// `service update`: what is not given is left as it is; it applies to what is issued from now
/// on. The token type is not changed here: the tokens already issued were made for the stored
/// one.
#[derive(Args)]
pub struct ServiceUpdate {
    /// The service key.
    #[arg(long)]
    key: String,
    /// A new human readable name.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    settings: ServiceSettings,
    /// Whether refresh tokens are issued.
    #[arg(long, value_name = "BOOL")]
    refresh_tokens: Option<bool>,
    /// The scopes the service declares, comma separated, replacing the stored ones (turns
    /// --any-scope off unless it is given).
    #[arg(long, value_delimiter = ',', value_name = "SCOPE,...")]
    scopes: Option<Vec<String>>,
    /// Declare no scopes any more.
    #[arg(long, conflicts_with = "scopes")]
    no_scopes: bool,
    /// Whether clients without allowed scopes may ask for any scope (risky; not with scopes).
    #[arg(long, value_name = "BOOL")]
    any_scope: Option<bool>,
    /// Print the service as JSON.
    #[arg(long)]
    json: bool,
}

/// `service update`.
pub async fn update(config: &Config, args: ServiceUpdate) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let service = server::update_service(&*opened.store, &args.key, |entry| {
        let set = args.settings;
        entry.name = args.name.or(entry.name.take());
        entry.grants = set.grants.or(entry.grants.take());
        entry.access_token_ttl = set.access_token_ttl.or(entry.access_token_ttl);
        entry.refresh_token_ttl = set.refresh_token_ttl.or(entry.refresh_token_ttl);
        entry.authorization_code_ttl = set.authorization_code_ttl.or(entry.authorization_code_ttl);
        entry.require_pkce = set.require_pkce.or(entry.require_pkce.take());
        entry.refresh_tokens = args.refresh_tokens.or(entry.refresh_tokens);
        if args.scopes.is_some() {
            entry.any_scope = Some(false);
            entry.scopes = args.scopes;
        } else if args.no_scopes {
            entry.scopes = None;
        }
        entry.any_scope = args.any_scope.or(entry.any_scope);
    })
    .await?;
    if args.json {
        println!("{:#}", service_json(&service));
    } else {
        println!("service {} updated", service.key);
    }
    Ok(())
}
