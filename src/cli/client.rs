//! `tokengate client show|update|rotate-secret`.

use std::time::Duration;

use clap::Args;
use tokengate::oauth::MAX_SECRET_GRACE_SECS;
use tokengate::rpc::iso8601;
use tokengate::server::{self, ClientChanges, Config};

use crate::{client_json, BoxError, ClientKey};

/// `client show`: the client, and until when its previous secret is still accepted (a
/// rotation's grace period), if it is.
#[derive(Args)]
pub struct ClientShow {
    #[command(flatten)]
    key: ClientKey,
    /// Print JSON instead of lines.
    #[arg(long)]
    json: bool,
}

/// `client update`: what is not given is left as it is.
#[derive(Args)]
pub struct ClientUpdate {
    #[command(flatten)]
    key: ClientKey,
    /// A new application name.
    #[arg(long)]
    name: Option<String>,
    /// The registered redirect URIs, replacing the stored ones (repeat for several).
    #[arg(
        long = "redirect-uri",
        value_name = "URI",
        conflicts_with = "no_redirect_uris"
    )]
    redirect_uris: Vec<String>,
    /// Remove every registered redirect URI.
    #[arg(long)]
    no_redirect_uris: bool,
    /// The services the client may use, replacing the stored ones (repeat for several); the
    /// tokens of a service taken away are revoked.
    #[arg(long = "service", value_name = "KEY")]
    services: Vec<String>,
    /// The scopes the client may be granted, replacing the stored ones.
    #[arg(long, value_delimiter = ',', value_name = "SCOPE,...")]
    allowed_scopes: Option<Vec<String>>,
    /// Remove the restriction to allowed scopes (widens what the client may be granted).
    #[arg(long, conflicts_with = "allowed_scopes")]
    no_allowed_scopes: bool,
    /// New extended attributes (free text).
    #[arg(long)]
    attributes: Option<String>,
    /// Print the client as JSON.
    #[arg(long)]
    json: bool,
}

/// `client rotate-secret`.
#[derive(Args)]
pub struct RotateSecret {
    #[command(flatten)]
    key: ClientKey,
    /// Revoke the client's tokens too (when the old secret may have leaked).
    #[arg(long)]
    revoke_tokens: bool,
    /// Keep accepting the old secret beside the new one for SECS seconds (at most 2592000,
    /// 30 days), while the client's deployments change over (default 0: refused at once).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u64).range(..=MAX_SECRET_GRACE_SECS)
    )]
    grace: u64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// `client show`.
pub async fn show(config: &Config, args: ClientShow) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let client = server::find_client(&*opened.store, &args.key.client_id).await?;
    let now = opened.token_service().now();
    let grace_end = opened
        .store
        .previous_secret(&client.client_id)
        .await?
        .filter(|previous| previous.applies_to(&client, now))
        .map(|previous| iso8601(previous.valid_until));
    let mut value = client_json(&client);
    value["old_secret_valid_until"] = serde_json::json!(grace_end);
    if args.json {
        println!("{value:#}");
        return Ok(());
    }
    for (name, field) in value.as_object().into_iter().flatten() {
        let shown = match field {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "-".to_owned(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        println!("{name}: {shown}");
    }
    Ok(())
}

/// `client update`.
pub async fn update(config: &Config, args: ClientUpdate) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let changes = ClientChanges {
        name: args.name,
        redirect_uris: if args.no_redirect_uris {
            Some(Vec::new())
        } else {
            (!args.redirect_uris.is_empty()).then_some(args.redirect_uris)
        },
        services: (!args.services.is_empty()).then_some(args.services),
        allowed_scopes: if args.no_allowed_scopes {
            Some(None)
        } else {
            args.allowed_scopes.map(Some)
        },
        attributes: args.attributes.map(Some),
    };
    let (client, ended) =
        server::update_client(&*opened.store, &args.key.client_id, changes).await?;
    if args.json {
        println!("{:#}", client_json(&client));
    } else {
        println!(
            "client {} updated; {ended} live token(s) revoked",
            client.client_id
        );
    }
    Ok(())
}

/// `client rotate-secret`.
pub async fn rotate_secret(config: &Config, args: RotateSecret) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let client_id = &args.key.client_id;
    server::find_client(&*opened.store, client_id).await?;
    let rotated = opened
        .token_service()
        .rotate_client_secret(
            client_id,
            Duration::from_secs(args.grace),
            args.revoke_tokens,
        )
        .await?
        .ok_or_else(|| format!("client `{client_id}` is public: it has no secret to rotate"))?;
    let old_until = rotated.old_valid_until.map(iso8601);
    if args.json {
        let mut value = client_json(&rotated.client);
        value["client_secret"] = serde_json::json!(rotated.secret);
        value["tokens_revoked"] = serde_json::json!(rotated.tokens_revoked);
        value["old_secret_valid_until"] = serde_json::json!(old_until);
        println!("{value:#}");
    } else {
        println!("client_id: {}", rotated.client.client_id);
        println!("client_secret: {}", rotated.secret);
        println!("tokens revoked: {}", rotated.tokens_revoked);
        println!(
            "old secret valid until: {}",
            old_until.as_deref().unwrap_or("-")
        );
    }
    match &old_until {
        None => eprintln!("The old secret is refused from now on."),
        Some(until) => eprintln!("The old secret is still accepted until {until}."),
    }
    eprintln!("The new secret is shown only now: it is stored hashed and cannot be shown again.");
    Ok(())
}
