//! `tokengate token list|revoke`.

use std::io::Read;

use clap::{Args, Subcommand};
use tokengate::oauth::TokenOwner;
use tokengate::server::{self, Config};

use tokengate::rpc::{iso8601, record_json, record_status};

use crate::{print_table, BoxError};

/// `tokengate token …`.
#[derive(Subcommand)]
pub enum TokenCommand {
    /// List the tokens of a client or of a user context (records only: tokens are stored
    /// hashed and cannot be shown).
    List(TokenList),
    /// Revoke one token, every token of a client, or every token of a user context.
    Revoke(TokenRevoke),
}

/// Whose tokens: exactly one of `--client` and `--user`.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Owner {
    /// The developer's key of the client.
    #[arg(long, value_name = "CLIENT_ID")]
    client: Option<String>,
    /// The user context (resource owner).
    #[arg(long, value_name = "USER_CONTEXT")]
    user: Option<String>,
}

impl Owner {
    fn selected(self) -> TokenOwner {
        match (self.client, self.user) {
            (Some(client), _) => TokenOwner::Client(client),
            (None, Some(user)) => TokenOwner::User(user),
            (None, None) => unreachable!("clap requires one of --client and --user"),
        }
    }
}

/// `token list`.
#[derive(Args)]
pub struct TokenList {
    #[command(flatten)]
    owner: Owner,
    /// Only the tokens of this service.
    #[arg(long, value_name = "KEY")]
    service: Option<String>,
    /// Only the tokens that are still valid (not revoked, not expired).
    #[arg(long)]
    active: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `token revoke`.
#[derive(Args)]
#[group(id = "which", required = true, multiple = false, args = ["token", "client", "user"])]
pub struct TokenRevoke {
    /// The access token; `-` reads it from stdin (keeps it out of the shell history).
    token: Option<String>,
    /// Every token of the client with this developer key.
    #[arg(long, value_name = "CLIENT_ID")]
    client: Option<String>,
    /// Every token of this user context.
    #[arg(long, value_name = "USER_CONTEXT")]
    user: Option<String>,
    /// With --client or --user: only the tokens of this service.
    #[arg(long, value_name = "KEY", conflicts_with = "token")]
    service: Option<String>,
}

/// `token list`.
pub async fn list(config: &Config, args: TokenList) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let tokens = opened.token_service();
    let now = tokens.now();
    let mut records = tokens
        .find_tokens(&args.owner.selected(), args.service.as_deref())
        .await?;
    if args.active {
        records.retain(|t| t.is_active(now));
    }
    if args.json {
        let list: Vec<_> = records.iter().map(|t| record_json(t, now)).collect();
        println!("{:#}", serde_json::Value::Array(list));
        return Ok(());
    }
    let rows = records
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.service_key.clone(),
                t.client_id.clone(),
                t.user_context.clone().unwrap_or_else(|| "-".into()),
                t.scope.clone().unwrap_or_else(|| "-".into()),
                record_status(t, now).to_owned(),
                iso8601(t.expires_at),
            ]
        })
        .collect();
    print_table(
        &[
            "ID", "SERVICE", "CLIENT", "USER", "SCOPE", "STATUS", "EXPIRES",
        ],
        rows,
    );
    Ok(())
}

/// `token revoke`.
pub async fn revoke(config: &Config, args: TokenRevoke) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let tokens = opened.token_service();
    let (owner, named) = match (args.token, args.client, args.user) {
        (Some(token), _, _) => {
            let token = if token == "-" {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                text
            } else {
                token
            };
            let token = token.trim();
            return match tokens.token_record(token).await? {
                None => Err("no such token (unknown, or its client no longer holds it)".into()),
                Some(record) if record.revoked => {
                    println!("token {} was already revoked", record.id);
                    Ok(())
                }
                Some(_) => {
                    let record = tokens.revoke_token_record(token).await?;
                    println!("token {} revoked", record.map(|r| r.id).unwrap_or_default());
                    Ok(())
                }
            };
        }
        (None, Some(client), _) => {
            server::find_client(&*opened.store, &client).await?;
            (
                TokenOwner::Client(client.clone()),
                format!("client {client}"),
            )
        }
        (None, None, Some(user)) => (TokenOwner::User(user.clone()), format!("user {user}")),
        (None, None, None) => unreachable!("clap requires one of TOKEN, --client and --user"),
    };
    let ended = tokens
        .revoke_tokens_of(&owner, args.service.as_deref())
        .await?;
    println!("{ended} live token(s) of {named} revoked");
    Ok(())
}
