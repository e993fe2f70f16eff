//! The `tokengate` command: `serve`, the `service` and `client` management commands,
//! `loadtest`, `config check`, and `completions`/`man` for packaging.
//!
//! Logs go to stderr (`RUST_LOG`, default `info`); stdout carries the command's output and, for
//! `serve`, the lines `tokengate public listening on ADDR` (unless the public listener is
//! disabled) and then `tokengate admin listening on ADDR` once both listeners are bound.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use tokengate::model::{Client, ClientStatus, Service, TokenType};
use tokengate::server::config::{LogFormat, ServiceConfig};
use tokengate::server::{self, Config, NewClient, Server};

mod cli;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// mimalloc rather than the system allocator: about 1.5k fewer instructions per proxied
/// request (BENCHMARKS.md, issue 13). The library leaves the choice to its users.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// OAuth 2.0 token service with a Mashery-compatible JSON-RPC API.
#[derive(Parser)]
#[command(name = "tokengate", version)]
struct Cli {
    /// The configuration file (TOML). Without one, the zero-config defaults: store
    /// `sqlite://tokengate.db`, admin listener on 127.0.0.1:8081, public listener on
    /// 127.0.0.1:8080.
    #[arg(long, global = true, env = "TOKENGATE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The store, overriding `store.url`: `sqlite://PATH`, `postgres://…` (builds with the
    /// `postgres` feature), or `memory:` (not durable).
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until Ctrl-C or SIGTERM (in-flight requests finish); SIGHUP reloads
    /// the configuration file and the TLS certificates.
    Serve {
        /// Serve both listeners over TLS with this certificate chain (PEM), replacing their
        /// `tls` settings: e.g. the one `tokengate cert self-signed` wrote.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The key of --tls-cert (PEM).
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Manage services (protected APIs and their OAuth settings) in the store.
    ///
    /// Services declared in the configuration file are written by `serve`, not by these commands.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Manage clients (applications) in the store.
    ///
    /// Clients declared in the configuration file are written by `serve`, not by these commands.
    #[command(subcommand)]
    Client(ClientCommand),
    /// List and revoke tokens in the store.
    #[command(subcommand)]
    Token(cli::token::TokenCommand),
    /// Write the configuration file's services and clients into the store, as `serve` does at
    /// start; with --prune, also remove the clients the file does not declare.
    Apply(cli::store::ApplyArgs),
    /// Store maintenance.
    #[command(subcommand)]
    Store(cli::store::StoreCommand),
    /// Load a running gateway over HTTP and report throughput and latency (loopback, or the
    /// address named with --target).
    Loadtest(Box<tokengate::loadtest::LoadtestArgs>),
    /// Print the shell completion script for SHELL to stdout, e.g.
    /// `tokengate completions bash > /etc/bash_completion.d/tokengate`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout: `tokengate man > tokengate.1`.
    Man,
    /// TLS certificates for local development.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Check the configuration: `tokengate config check [FILE]`.
    #[command(subcommand)]
    Config(cli::config::ConfigCommand),
}

#[derive(Subcommand)]
enum CertCommand {
    /// Write a self-signed certificate and its key (for local development only), e.g.
    /// `tokengate cert self-signed --out-cert dev-cert.pem --out-key dev-key.pem`, then
    /// `tls = { cert = "dev-cert.pem", key = "dev-key.pem" }` under `[public]`/`[admin]`.
    SelfSigned(SelfSigned),
}

#[derive(Args)]
struct SelfSigned {
    /// Where to write the certificate (PEM).
    #[arg(long, value_name = "FILE")]
    out_cert: PathBuf,
    /// Where to write the private key (PEM; mode 0600 on Unix).
    #[arg(long, value_name = "FILE")]
    out_key: PathBuf,
    /// The names (DNS names or IP addresses) the certificate is for; repeat for more.
    /// Default: localhost, 127.0.0.1 and ::1.
    #[arg(long = "name", value_name = "NAME")]
    names: Vec<String>,
    /// Days the certificate is valid.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=825))]
    days: u32,
    /// Replace files that exist (refused by default).
    #[arg(long)]
    force: bool,
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// Add a service.
    Add(Box<ServiceAdd>),
    /// List the services.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one service as JSON.
    Show {
        /// The service key.
        #[arg(long)]
        key: String,
    },
    /// Change a service's name, grants, lifetimes, scopes or PKCE requirement (for what is
    /// issued from now on).
    Update(Box<cli::service::ServiceUpdate>),
    /// Remove a service no client lists any more.
    Remove {
        /// The service key.
        #[arg(long)]
        key: String,
    },
}

#[derive(Args)]
struct ServiceAdd {
    /// The service key.
    #[arg(long)]
    key: String,
    /// A human readable name.
    #[arg(long)]
    name: String,
    /// The type of token issued.
    #[arg(long, value_parser = ["bearer", "mac"], requires_if("mac", "mac_algorithm"))]
    token_type: Option<String>,
    /// The MAC algorithm (with --token-type mac).
    #[arg(long, value_parser = ["hmac-sha-256", "hmac-sha-1"])]
    mac_algorithm: Option<String>,
    #[command(flatten)]
    settings: cli::service::ServiceSettings,
    /// Issue no refresh tokens.
    #[arg(long)]
    no_refresh_tokens: bool,
    /// The scopes the service declares, comma separated (at /oauth2/token no token carries
    /// another, and clients without allowed scopes may ask for these).
    #[arg(long, value_delimiter = ',', value_name = "SCOPE,...")]
    scopes: Option<Vec<String>>,
    /// Let clients without allowed scopes ask for any scope at /oauth2/token (risky: scope
    /// rules then rest on the clients' restraint; not with --scopes).
    #[arg(long, conflicts_with = "scopes")]
    any_scope: bool,
    /// Print the service as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Add a client; its generated secret is printed once and stored only as a hash.
    Add(ClientAdd),
    /// List the clients (never their secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable a client: it gets no tokens, and its live tokens are revoked (every running
    /// server refuses them within its change feed's bound). Enabling it again does not bring
    /// them back.
    Disable(ClientKey),
    /// Enable a disabled client: it may obtain tokens again.
    Enable(ClientKey),
    /// Show one client (never its secret).
    Show(cli::client::ClientShow),
    /// Change a client's name, redirect URIs, services, allowed scopes or attributes.
    Update(cli::client::ClientUpdate),
    /// Give a confidential client a new secret, printed once; the old one is refused at once,
    /// or after the grace period --grace SECS.
    RotateSecret(cli::client::RotateSecret),
    /// Remove a client and revoke its tokens (alias: delete).
    #[command(visible_alias = "delete")]
    Remove(ClientKey),
}

#[derive(Args)]
pub(crate) struct ClientKey {
    /// The developer's key of the client.
    #[arg(long)]
    pub(crate) client_id: String,
}

#[derive(Args)]
struct ClientAdd {
    /// Application name.
    #[arg(long)]
    name: String,
    /// A service the client may use (repeat for several).
    #[arg(long = "service", value_name = "KEY", required = true)]
    services: Vec<String>,
    /// The developer's key (default: a new random token).
    #[arg(long)]
    client_id: Option<String>,
    /// Numeric id (default: the next free one).
    #[arg(long)]
    id: Option<i64>,
    /// A registered redirect URI (repeat for several).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// A public client: no secret.
    #[arg(long)]
    public: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("error: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr as `[log] format` says, filtered by `RUST_LOG` (default `info`).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

fn load_config(file: Option<&std::path::Path>, store: Option<&str>) -> Result<Config, BoxError> {
    let mut config = match file {
        Some(path) => Config::load(path)?,
        None => Config::from_env()?,
    };
    if let Some(url) = store {
        config.store.url = url.to_owned();
        config.validate()?;
    }
    Ok(config)
}

async fn run(cli: Cli) -> Result<(), BoxError> {
    let Cli {
        config: file,
        store,
        command,
    } = cli;
    // Packaging commands need no configuration (a TOKENGATE_CONFIG that is not there yet must
    // not stop them).
    let config = match command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "tokengate", &mut std::io::stdout());
            return Ok(());
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
            return Ok(());
        }
        Command::Cert(CertCommand::SelfSigned(args)) => return cert_self_signed(&args),
        Command::Config(cli::config::ConfigCommand::Check { file: checked }) => {
            let checked = checked.as_deref().or(file.as_deref());
            return cli::config::check(&load_config(checked, store.as_deref())?);
        }
        _ => load_config(file.as_deref(), store.as_deref())?,
    };
    init_logging(config.log.format);
    match command {
        Command::Serve { tls_cert, tls_key } => {
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(tokengate::tls::TlsFiles::new(cert, key)),
                _ => None,
            };
            let with_options = move |mut config: Config| {
                if let Some(files) = &tls {
                    config.public.tls = Some(files.clone());
                    config.admin.tls = Some(files.clone());
                }
                config
            };
            let config = with_options.clone()(config);
            // A reload reads the file again with the same command-line options.
            let reload = move || {
                load_config(file.as_deref(), store.as_deref())
                    .map(&with_options)
                    .map_err(|e| match e.downcast::<server::ConfigError>() {
                        Ok(e) => *e,
                        Err(e) => server::ConfigError::at("config", e.to_string()),
                    })
            };
            serve(config, reload).await
        }
        Command::Service(ServiceCommand::Add(args)) => service_add(&config, args).await,
        Command::Service(ServiceCommand::List { json }) => service_list(&config, json).await,
        Command::Client(ClientCommand::Add(args)) => client_add(&config, args).await,
        Command::Client(ClientCommand::List { json }) => client_list(&config, json).await,
        Command::Client(ClientCommand::Disable(key)) => {
            client_set_status(&config, key, ClientStatus::Disabled).await
        }
        Command::Client(ClientCommand::Enable(key)) => {
            client_set_status(&config, key, ClientStatus::Active).await
        }
        Command::Client(ClientCommand::Remove(key)) => client_delete(&config, key).await,
        Command::Client(ClientCommand::Show(args)) => cli::client::show(&config, args).await,
        Command::Client(ClientCommand::Update(args)) => cli::client::update(&config, args).await,
        Command::Client(ClientCommand::RotateSecret(args)) => {
            cli::client::rotate_secret(&config, args).await
        }
        Command::Service(ServiceCommand::Show { key }) => service_show(&config, &key).await,
        Command::Service(ServiceCommand::Update(args)) => {
            cli::service::update(&config, *args).await
        }
        Command::Service(ServiceCommand::Remove { key }) => {
            let opened = server::open_configured_store(&config).await?;
            server::remove_service(&*opened.store, &key).await?;
            println!("service {key} removed");
            Ok(())
        }
        Command::Token(cli::token::TokenCommand::List(args)) => {
            cli::token::list(&config, args).await
        }
        Command::Token(cli::token::TokenCommand::Revoke(args)) => {
            cli::token::revoke(&config, args).await
        }
        Command::Apply(args) => cli::store::apply(&config, args).await,
        Command::Store(cli::store::StoreCommand::Rekey { yes }) => {
            cli::store::rekey(&config, yes).await
        }
        Command::Loadtest(args) => tokengate::loadtest::run(*args, &config).await.map(drop),
        Command::Completions { .. } | Command::Man | Command::Cert(_) | Command::Config(_) => {
            Ok(())
        }
    }
}

fn cert_self_signed(args: &SelfSigned) -> Result<(), BoxError> {
    let names = match args.names.is_empty() {
        true => server::DEV_NAMES.iter().map(|n| n.to_string()).collect(),
        false => args.names.clone(),
    };
    let (cert, key) = server::self_signed(&names, args.days)?;
    server::write_new_file(&args.out_key, &key, args.force, true)?;
    server::write_new_file(&args.out_cert, &cert, args.force, false)?;
    println!(
        "wrote {} and {} for {} (self-signed, {} days: for local development only)",
        args.out_cert.display(),
        args.out_key.display(),
        names.join(", "),
        args.days
    );
    Ok(())
}

async fn serve(
    config: Config,
    reload: impl Fn() -> Result<Config, server::ConfigError> + Send + Sync + 'static,
) -> Result<(), BoxError> {
    // Installed before anything else, so an early SIGTERM still shuts down cleanly.
    let shutdown = server::shutdown_signal();
    let server = Server::bind(config).await?;
    server.config_reloader().load_with(reload);
    let mut stdout = std::io::stdout().lock();
    if let Some(addr) = server.public_addr() {
        writeln!(stdout, "tokengate public listening on {addr}")?;
    }
    writeln!(
        stdout,
        "tokengate admin listening on {}",
        server.admin_addr()
    )?;
    stdout.flush()?;
    drop(stdout);
    server.run(shutdown).await?;
    Ok(())
}

async fn service_add(config: &Config, args: Box<ServiceAdd>) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let entry = ServiceConfig {
        key: args.key,
        name: Some(args.name),
        access_token_ttl: args.settings.access_token_ttl,
        refresh_tokens: args.no_refresh_tokens.then_some(false),
        refresh_token_ttl: args.settings.refresh_token_ttl,
        authorization_code_ttl: args.settings.authorization_code_ttl,
        token_type: args.token_type,
        mac_algorithm: args.mac_algorithm,
        grants: args.settings.grants,
        scopes: args.scopes,
        any_scope: args.any_scope.then_some(true),
        require_pkce: args.settings.require_pkce,
        ..ServiceConfig::default()
    };
    let service = server::add_service(&*opened.store, &entry).await?;
    if args.json {
        println!("{:#}", service_json(&service));
    } else {
        println!("service {} added", service.key);
    }
    Ok(())
}

async fn service_list(config: &Config, as_json: bool) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let services = opened.store.services().await?;
    if as_json {
        let list: Vec<_> = services.iter().map(service_json).collect();
        println!("{:#}", serde_json::Value::Array(list));
        return Ok(());
    }
    let rows = services
        .iter()
        .map(|s| {
            vec![
                s.key.clone(),
                s.name.clone(),
                token_type_name(s.token_type),
                s.grants
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                s.access_token_ttl.to_string(),
                if s.refresh_tokens {
                    s.refresh_token_ttl.to_string()
                } else {
                    "off".to_owned()
                },
            ]
        })
        .collect();
    print_table(
        &[
            "KEY",
            "NAME",
            "TOKEN TYPE",
            "GRANTS",
            "ACCESS TTL",
            "REFRESH TTL",
        ],
        rows,
    );
    Ok(())
}

async fn client_add(config: &Config, args: ClientAdd) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let added = server::add_client(
        &*opened.store,
        &opened.pepper,
        NewClient {
            name: args.name,
            services: args.services,
            client_id: args.client_id,
            id: args.id,
            redirect_uris: args.redirect_uris,
            public: args.public,
        },
    )
    .await?;
    let client = &added.client;
    if args.json {
        let mut value = client_json(client);
        value["client_secret"] = json!(added.secret);
        println!("{value:#}");
    } else {
        println!("id: {}", client.id);
        println!("client_id: {}", client.client_id);
        match &added.secret {
            Some(secret) => println!("client_secret: {secret}"),
            None => println!("client_secret: (none: public client)"),
        }
    }
    if added.secret.is_some() {
        eprintln!("The secret is shown only now: it is stored hashed and cannot be shown again.");
    }
    Ok(())
}

async fn client_list(config: &Config, as_json: bool) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let clients = opened.store.clients().await?;
    if as_json {
        let list: Vec<_> = clients.iter().map(client_json).collect();
        println!("{:#}", serde_json::Value::Array(list));
        return Ok(());
    }
    let rows = clients
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.client_id.clone(),
                c.name.clone(),
                c.status.as_str().to_owned(),
                if c.secret_hash.is_some() {
                    "confidential"
                } else {
                    "public"
                }
                .to_owned(),
                c.services.join(","),
            ]
        })
        .collect();
    print_table(
        &["ID", "CLIENT ID", "NAME", "STATUS", "TYPE", "SERVICES"],
        rows,
    );
    Ok(())
}

async fn client_set_status(
    config: &Config,
    key: ClientKey,
    status: ClientStatus,
) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let ended = server::set_client_status(&*opened.store, &key.client_id, status).await?;
    println!(
        "client {} is {}; {ended} live token(s) revoked",
        key.client_id,
        status.as_str()
    );
    Ok(())
}

async fn client_delete(config: &Config, key: ClientKey) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let ended = server::delete_client(&*opened.store, &key.client_id).await?;
    println!(
        "client {} removed; {ended} live token(s) revoked",
        key.client_id
    );
    Ok(())
}

async fn service_show(config: &Config, key: &str) -> Result<(), BoxError> {
    let opened = server::open_configured_store(config).await?;
    let service = opened
        .store
        .service(key)
        .await?
        .ok_or_else(|| format!("service `{key}` does not exist"))?;
    println!("{:#}", service_json(&service));
    Ok(())
}

fn token_type_name(token_type: TokenType) -> String {
    match token_type {
        TokenType::Bearer => "bearer".to_owned(),
        TokenType::Mac(alg) => format!("mac ({})", alg.as_str()),
    }
}

fn service_json(s: &Service) -> serde_json::Value {
    json!({
        "key": s.key,
        "name": s.name,
        "token_type": s.token_type.as_str(),
        "mac_algorithm": match s.token_type {
            TokenType::Mac(alg) => Some(alg.as_str()),
            TokenType::Bearer => None,
        },
        "grants": s.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "access_token_ttl": s.access_token_ttl,
        "refresh_tokens": s.refresh_tokens,
        "refresh_token_ttl": s.refresh_token_ttl,
        "authorization_code_ttl": s.authorization_code_ttl,
        "force_redirect_validation": s.force_redirect_validation,
        "allow_multiple_tokens": s.allow_multiple_tokens,
        "allow_query_tokens": s.allow_query_tokens,
        "scopes": s.scopes,
        "any_scope": s.any_scope,
        "require_pkce": s.require_pkce.as_str(),
    })
}

/// A client without its secret hash.
fn client_json(c: &Client) -> serde_json::Value {
    json!({
        "id": c.id,
        "external_id": c.external_id,
        "client_id": c.client_id,
        "name": c.name,
        "attributes": c.attributes,
        "status": c.status.as_str(),
        "confidential": c.secret_hash.is_some(),
        "redirect_uris": c.redirect_uris,
        "services": c.services,
        "allowed_scopes": c.allowed_scopes,
    })
}

fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}
