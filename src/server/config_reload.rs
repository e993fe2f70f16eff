//! [`ConfigReloader`]: reading the configuration file again while the server runs (on SIGHUP,
//! or when a test or an embedder asks).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::apply::{apply_ending, unknown_service};
use super::carry::{Carried, Carry};
use super::config::{Config, ConfigError, RouteAuth};
use super::live::Swapper;
use super::metrics::Metrics;
use super::public::{self, PublicBase, PublicService};
use super::reload::CertificateReloader;
use super::restart_only::keep_restart_only;
use super::Unlisted;
use crate::oauth::TokenService;
use crate::store::Store;
use crate::Error;

/// What reads the configuration again: by default [`Config::load`] of the file the running
/// configuration came from ([`Config::origin`]).
type Loader = Arc<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// Puts a new configuration in force in a running [`super::Server`]: what SIGHUP does, as a
/// method. Cheap to clone; get it from [`super::Server::config_reloader`].
///
/// A reload re-reads the file and validates it, applies its services and clients to the store
/// as at start (see [`super::apply`]; everything is checked before anything is written), then
/// builds the public listener's whole service anew (routes, upstreams, scope rules, limits, the
/// OAuth endpoints) and swaps it in at once: requests under way finish on the service they
/// started with, later ones (on every connection) get the new one. The token caches of the
/// services still served are kept (a removed service's cache goes with it; changed cache
/// settings start a service's cache afresh), and so are the counters of the routes still
/// configured. The issuance limits (`issue_rate`) are replaced in the same reload.
///
/// A configuration that does not parse or validate, that names a service the store does not
/// have, or whose service cannot be built is refused: the one in force stays, the error
/// (naming the file and the key) is logged and returned, and
/// `tokengate_config_reloads_total{result="error"}` counts it (`result="ok"` counts the
/// others). What only a restart changes (listen addresses, TLS on or off and the certificate
/// files, the store and its pepper, the admin listener's settings, the log, how paths are
/// made canonical, the listener's header limits) is logged at WARN, naming the key, and
/// stays as it runs.
#[derive(Clone)]
pub struct ConfigReloader {
    inner: Arc<Inner>,
}

struct Inner {
    /// The configuration in force and what its public snapshot may hand on; held across a
    /// reload, so reloads happen one at a time.
    state: tokio::sync::Mutex<State>,
    loader: Mutex<Option<Loader>>,
    tokens: Arc<TokenService>,
    /// The public listener's snapshot and what it is built over, unless it is disabled.
    public: Option<(Swapper<PublicService>, PublicBase)>,
    metrics: Arc<Metrics>,
    certificates: CertificateReloader,
    /// The lookup limit when the file sets none (half the store's pool).
    default_lookups: Option<usize>,
}

struct State {
    running: Config,
    carried: Carried,
}

impl ConfigReloader {
    pub(crate) fn new(
        running: Config,
        tokens: Arc<TokenService>,
        public: Option<(Swapper<PublicService>, PublicBase, Carried)>,
        metrics: Arc<Metrics>,
        certificates: CertificateReloader,
        default_lookups: Option<usize>,
    ) -> ConfigReloader {
        let (public, carried) = match public {
            Some((swapper, base, carried)) => (Some((swapper, base)), carried),
            None => (None, Carried::default()),
        };
        ConfigReloader {
            inner: Arc::new(Inner {
                state: tokio::sync::Mutex::new(State { running, carried }),
                loader: Mutex::new(None),
                tokens,
                public,
                metrics,
                certificates,
                default_lookups,
            }),
        }
    }

    /// Reads the configuration with `loader` at each [`ConfigReloader::reload`] instead of
    /// [`Config::load`] of the file it came from: for a caller that changes the configuration
    /// after loading it (the `tokengate serve` command-line options), so that a reload keeps
    /// the changes.
    pub fn load_with(
        &self,
        loader: impl Fn() -> Result<Config, ConfigError> + Send + Sync + 'static,
    ) {
        *self.inner.loader.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(loader));
    }

    /// What SIGHUP does: reads the configuration file again and puts it in force
    /// ([`ConfigReloader::reload_with`]), then reads the TLS listeners' certificates again
    /// ([`CertificateReloader::reload`]), whether the configuration was refused or not.
    ///
    /// # Errors
    /// The configuration's, else the certificates'.
    pub async fn reload(&self) -> Result<(), Error> {
        let loaded = self.load().await;
        let configured = match loaded {
            Ok(config) => self.reload_with(config).await,
            Err(e) => Err(self.refused(e, None)),
        };
        let certificates = self.inner.certificates.reload();
        configured.and(certificates)
    }

    /// Puts `config` in force in place of the running configuration (see the type's
    /// documentation); nothing changes when it is refused.
    ///
    /// # Errors
    /// Why the configuration was refused.
    pub async fn reload_with(&self, config: Config) -> Result<(), Error> {
        let origin = config.origin.clone();
        match self.put_in_force(config).await {
            Ok(()) => {
                self.inner
                    .metrics
                    .reloads
                    .ok
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    file = origin
                        .as_ref()
                        .map(|f| tracing::field::display(f.display())),
                    "configuration reloaded"
                );
                Ok(())
            }
            Err(e) => Err(self.refused(e, origin)),
        }
    }

    /// Counts and logs a refused reload.
    fn refused(&self, e: Error, origin: Option<PathBuf>) -> Error {
        self.inner
            .metrics
            .reloads
            .error
            .fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            file = origin.as_ref().map(|f| tracing::field::display(f.display())),
            error = %e,
            "configuration reload refused: the configuration in force stays"
        );
        e
    }

    async fn load(&self) -> Result<Config, Error> {
        let loader = self
            .inner
            .loader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(loader) = loader {
            return Ok(loader()?);
        }
        let origin = self.inner.state.lock().await.running.origin.clone();
        match origin {
            Some(file) => Ok(Config::load(file)?),
            None => Err(Error::config(
                "the running configuration was not read from a file: there is nothing to \
                 read again (give the new configuration to ConfigReloader::reload_with)",
            )),
        }
    }

    async fn put_in_force(&self, mut config: Config) -> Result<(), Error> {
        let inner = &*self.inner;
        let mut state = inner.state.lock().await;
        config.validate()?;
        if let Some(lookups) = inner.default_lookups {
            config.public.max_concurrent_lookups.get_or_insert(lookups);
        }
        for key in keep_restart_only(&state.running, &mut config) {
            tracing::warn!(
                key,
                file = config
                    .origin
                    .as_ref()
                    .map(|f| tracing::field::display(f.display())),
                "changed in the configuration, but only a restart changes it: the running \
                 value stays"
            );
        }
        let issue_limits = config.issue_limits()?;
        let store = inner.tokens.store();
        check_service_keys(&config, &**store).await?;
        let (report, ended) =
            apply_ending(&config, &**store, inner.tokens.pepper(), Unlisted::Keep).await?;
        tracing::info!(
            services_written = report.services_written,
            clients_written = report.clients_written,
            "configuration applied to the store"
        );
        inner.tokens.invalidated(&ended).await;
        let built = match &inner.public {
            Some((swapper, base)) => {
                let mut carry = Carry::new(state.carried.clone(), base.subscribe.clone());
                let service = public::build(&config.public, &config.routes, base, &mut carry)
                    .await
                    .map_err(|e| match &config.origin {
                        Some(file) => Error::config(format!("{}: {e}", file.display())),
                        None => e,
                    })?;
                Some((swapper, service, carry))
            }
            None => None,
        };
        // Everything is built: the swap.
        inner.tokens.replace_issue_limits(issue_limits);
        if let Some((swapper, service, carry)) = built {
            let (carried, metrics) = carry.finish();
            swapper.swap(service);
            inner.metrics.public.store(Arc::new(metrics));
            state.carried = carried;
        }
        state.running = config;
        Ok(())
    }
}

/// Every service key a route or `[public]` names is declared in the file or stored: checked
/// before the file's services and clients are written, so a typo is refused with the store
/// untouched.
async fn check_service_keys(config: &Config, store: &dyn Store) -> Result<(), Error> {
    let declared: HashSet<&str> = config.services.iter().map(|s| s.key.as_str()).collect();
    let routes = config
        .routes
        .iter()
        .enumerate()
        .filter(|(_, route)| route.auth == RouteAuth::Oauth)
        .filter_map(|(i, route)| {
            let key = route.service_key.as_deref()?;
            Some((format!("routes[{i}].service_key"), key))
        });
    let named = routes.chain(
        config
            .public
            .service_key
            .as_deref()
            .map(|key| ("public.service_key".to_owned(), key)),
    );
    for (at, key) in named {
        if let Some(unknown) = unknown_service(store, declared.contains(key), key, || at).await? {
            return Err(unknown.in_file(config.origin.as_deref()).into());
        }
    }
    Ok(())
}
