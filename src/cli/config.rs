//! `tokengate config check [FILE]`: the configuration as the server would run it, validated
//! and printed with every secret masked.

use std::path::PathBuf;

use clap::Subcommand;
use tokengate::server::Config;

/// `tokengate config …`.
#[derive(Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate the configuration (FILE, else --config or $TOKENGATE_CONFIG, else the
    /// defaults) with the environment's `TOKENGATE_<SECTION>__<KEY>` overrides and print it
    /// as TOML: every key with its value, defaults included, every secret masked. Exits 0 when
    /// it is valid; else 1 and an error naming the file (or the variable) and the key.
    Check {
        /// The configuration file (default: --config).
        file: Option<PathBuf>,
    },
}

/// Prints `config` (valid: it was loaded) as masked TOML.
pub(crate) fn check(config: &Config) -> Result<(), crate::BoxError> {
    let origin = config.origin.as_ref().map_or_else(
        || "no file: the defaults".to_owned(),
        |p| p.display().to_string(),
    );
    print!(
        "# {origin}: valid; secrets masked\n{}",
        config.to_masked_toml()?
    );
    Ok(())
}
