//! `tokengate store rekey` and `tokengate apply`.

use clap::{Args, Subcommand};
use tokengate::server::{self, Config, PepperCheck, Unlisted};

use crate::BoxError;

/// `tokengate store …`.
#[derive(Subcommand)]
pub enum StoreCommand {
    /// Make the store accept the pepper now configured, after the old one is lost for good.
    ///
    /// Every token is revoked (they were made under the old pepper) and every confidential
    /// client's secret stops working: reissue each with `tokengate client rotate-secret`.
    /// Restoring the old pepper file from a backup is better, when there is one.
    Rekey {
        /// Confirm: every client secret must then be reissued.
        #[arg(long)]
        yes: bool,
    },
}

/// `tokengate apply`.
#[derive(Args)]
pub struct ApplyArgs {
    /// Remove the clients in the store that the file does not declare (and revoke their
    /// tokens), like decK's `sync`. Without it they are kept.
    #[arg(long)]
    prune: bool,
}

/// `tokengate store rekey`.
pub async fn rekey(config: &Config, yes: bool) -> Result<(), BoxError> {
    if !yes {
        return Err(
            "`store rekey` makes every client secret and token made under the old \
                    pepper invalid; run it again with --yes if that is meant (restoring the \
                    old pepper file is better)"
                .into(),
        );
    }
    let opened = server::open_configured_store_with(config, PepperCheck::Rekey).await?;
    let (revoked, confidential) = server::after_rekey(&opened.token_service()).await?;
    println!("the store now expects the configured pepper; {revoked} live token(s) revoked");
    if confidential.is_empty() {
        println!("no confidential client: nothing to reissue");
    }
    for client in &confidential {
        println!(
            "reissue the secret of client {} ({}): tokengate client rotate-secret --client-id {}",
            client.client_id, client.name, client.client_id
        );
    }
    Ok(())
}

/// `tokengate apply`.
pub async fn apply(config: &Config, args: ApplyArgs) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let unlisted = if args.prune {
        Unlisted::Prune
    } else {
        Unlisted::Keep
    };
    let report = server::apply_with(config, &*opened.store, &opened.pepper, unlisted).await?;
    println!(
        "services: {} written, {} unchanged; clients: {} written, {} unchanged, {} kept, {} removed",
        report.services_written,
        report.services_unchanged,
        report.clients_written,
        report.clients_unchanged,
        report.clients_kept,
        report.clients_removed
    );
    Ok(())
}
