//! Opening the store named by `store.url`, and finding the pepper that goes with it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::{parse_pepper, StoreConfig, StoreLocation};
use crate::secret::Pepper;
use crate::store::{MemoryStore, Store};
use crate::Error;

/// The environment variable holding the pepper (hex) when `store.pepper` is not set.
pub const ENV_PEPPER: &str = "TOKENGATE_PEPPER";

/// Opens (and for SQLite, creates; for SQLite and PostgreSQL, migrates) the store.
pub async fn open_store(location: &StoreLocation) -> Result<Arc<dyn Store>, Error> {
    Ok(open_backend(location).await?.store)
}

/// An opened store, and the PostgreSQL store itself when it is one (to subscribe caches).
pub(crate) struct Backend {
    pub(crate) store: Arc<dyn Store>,
    /// The size of the store's connection pool for reads, when it has one.
    pub(crate) read_connections: Option<u32>,
    #[cfg(feature = "postgres")]
    pub(crate) postgres: Option<crate::store::PostgresStore>,
    /// The SQLite store itself when it is one (to start its change feed).
    #[cfg(feature = "sqlite")]
    pub(crate) sqlite: Option<crate::store::SqliteStore>,
}

impl Backend {
    fn plain(store: Arc<dyn Store>, read_connections: Option<u32>) -> Self {
        Backend {
            store,
            read_connections,
            #[cfg(feature = "postgres")]
            postgres: None,
            #[cfg(feature = "sqlite")]
            sqlite: None,
        }
    }
}

pub(crate) async fn open_backend(location: &StoreLocation) -> Result<Backend, Error> {
    match location {
        StoreLocation::Memory => Ok(Backend::plain(Arc::new(MemoryStore::new()), None)),
        #[cfg(feature = "sqlite")]
        StoreLocation::Sqlite { url, .. } => {
            let store = crate::store::SqliteStore::open(url).await?;
            Ok(Backend {
                sqlite: Some(store.clone()),
                ..Backend::plain(Arc::new(store), Some(crate::store::SqliteStore::READERS))
            })
        }
        #[cfg(not(feature = "sqlite"))]
        StoreLocation::Sqlite { .. } => Err(Error::config(
            "this build has no SQLite store (feature `sqlite`); use store.url = \"memory:\"",
        )),
        #[cfg(feature = "postgres")]
        StoreLocation::Postgres { url } => {
            let store = crate::store::PostgresStore::connect(url).await?;
            Ok(Backend {
                postgres: Some(store.clone()),
                ..Backend::plain(Arc::new(store.clone()), Some(store.max_connections()))
            })
        }
        #[cfg(not(feature = "postgres"))]
        StoreLocation::Postgres { .. } => Err(Error::config(
            "this build has no PostgreSQL store (feature `postgres`)",
        )),
    }
}

/// Where the pepper came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PepperSource {
    /// `store.pepper` in the configuration.
    Config,
    /// The `TOKENGATE_PEPPER` environment variable.
    Env,
    /// The pepper file next to the database, which existed.
    File(PathBuf),
    /// The pepper file next to the database, created just now with a new random pepper.
    Generated(PathBuf),
    /// A random pepper for a store that is not durable.
    Ephemeral,
}

/// Finds the pepper: `store.pepper`, else `$TOKENGATE_PEPPER`, else the pepper file next to a
/// SQLite database (created with mode 0600 and a random pepper when missing), else (memory
/// store) a random one. A PostgreSQL store needs one of the first two (a configuration error
/// otherwise): its nodes must share it.
pub fn resolve_pepper(
    store: &StoreConfig,
    location: &StoreLocation,
) -> Result<(Pepper, PepperSource), Error> {
    let env = std::env::var(ENV_PEPPER)
        .ok()
        .filter(|v| !v.trim().is_empty());
    resolve_pepper_with(store.pepper.as_deref(), env.as_deref(), location)
}

pub(crate) fn resolve_pepper_with(
    configured: Option<&str>,
    env: Option<&str>,
    location: &StoreLocation,
) -> Result<(Pepper, PepperSource), Error> {
    if let Some(hex_text) = configured {
        let pepper =
            parse_pepper(hex_text).map_err(|m| Error::config(format!("store.pepper: {m}")))?;
        return Ok((pepper, PepperSource::Config));
    }
    if let Some(hex_text) = env {
        let pepper =
            parse_pepper(hex_text).map_err(|m| Error::config(format!("{ENV_PEPPER}: {m}")))?;
        return Ok((pepper, PepperSource::Env));
    }
    if location.is_shared() {
        return Err(Error::config(format!(
            "{location} is shared by every node, and so must be the pepper: set store.pepper \
             or {ENV_PEPPER} (e.g. `openssl rand -hex 32`) to the same value on each"
        )));
    }
    match location.pepper_file() {
        Some(file) => pepper_from_file(&file),
        None => Ok((
            parse_pepper(&Pepper::generate_hex()).expect("generated peppers are valid"),
            PepperSource::Ephemeral,
        )),
    }
}

fn pepper_from_file(file: &Path) -> Result<(Pepper, PepperSource), Error> {
    let cannot = |what: &str, e: std::io::Error| {
        Error::config(format!(
            "cannot {what} the pepper file {}: {e}",
            file.display()
        ))
    };
    match create_private(file) {
        Ok(mut out) => {
            let hex_text = Pepper::generate_hex();
            out.write_all(format!("{hex_text}\n").as_bytes())
                .and_then(|()| out.sync_all())
                .map_err(|e| cannot("write", e))?;
            let pepper = parse_pepper(&hex_text).expect("generated peppers are valid");
            Ok((pepper, PepperSource::Generated(file.to_path_buf())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut text = String::new();
            std::fs::File::open(file)
                .and_then(|mut f| f.read_to_string(&mut text))
                .map_err(|e| cannot("read", e))?;
            warn_if_readable_by_others(file);
            let pepper = parse_pepper(&text)
                .map_err(|m| Error::config(format!("pepper file {}: {m}", file.display())))?;
            Ok((pepper, PepperSource::File(file.to_path_buf())))
        }
        Err(e) => Err(cannot("create", e)),
    }
}

#[cfg(unix)]
fn create_private(file: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
}

#[cfg(not(unix))]
fn create_private(file: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
}

#[cfg(unix)]
fn warn_if_readable_by_others(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(file) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %file.display(),
                "the pepper file is readable by group or others; chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_file: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn pepper_precedence_config_then_env_then_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let location = StoreLocation::parse(&format!("sqlite://{}", db.display())).unwrap();
        let (_, source) = resolve_pepper_with(Some(HEX), Some(HEX), &location).unwrap();
        assert_eq!(source, PepperSource::Config);
        let (_, source) = resolve_pepper_with(None, Some(HEX), &location).unwrap();
        assert_eq!(source, PepperSource::Env);
        assert!(!dir.path().join("t.db.pepper").exists());

        let err = resolve_pepper_with(None, Some("not hex"), &location).unwrap_err();
        assert!(err.to_string().contains(ENV_PEPPER), "{err}");
        assert!(!err.to_string().contains("not hex"), "{err}");

        let (_, source) = resolve_pepper_with(None, None, &StoreLocation::Memory).unwrap();
        assert_eq!(source, PepperSource::Ephemeral);
    }

    #[test]
    fn pepper_file_is_created_private_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let location = StoreLocation::parse(&format!("sqlite://{}", db.display())).unwrap();
        let file = dir.path().join("t.db.pepper");

        let (first, source) = resolve_pepper_with(None, None, &location).unwrap();
        assert_eq!(source, PepperSource::Generated(file.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (second, source) = resolve_pepper_with(None, None, &location).unwrap();
        assert_eq!(source, PepperSource::File(file.clone()));
        let hash = first.hash_secret("s3cret");
        assert!(second.verify_secret("s3cret", &hash), "the same pepper");

        std::fs::write(&file, "zz\n").unwrap();
        let err = resolve_pepper_with(None, None, &location).unwrap_err();
        assert!(err.to_string().contains("t.db.pepper"), "{err}");
    }

    #[test]
    fn postgres_locations_parse_and_hide_their_password() {
        let parsed = StoreLocation::parse("postgres://tg:s3cret@db:5432/tokens?sslmode=disable");
        if !cfg!(feature = "postgres") {
            let err = parsed.unwrap_err();
            assert_eq!(err.key(), Some("store.url"));
            assert!(err.to_string().contains("feature `postgres`"), "{err}");
            return;
        }
        let location = parsed.unwrap();
        assert_eq!(
            location,
            StoreLocation::Postgres {
                url: "postgres://tg:s3cret@db:5432/tokens?sslmode=disable".into()
            }
        );
        for shown in [location.to_string(), format!("{location:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("tg:***@db:5432/tokens"), "{shown}");
        }
        assert!(location.is_durable() && location.is_shared());
        assert_eq!(location.pepper_file(), None);
        assert!(matches!(
            StoreLocation::parse("postgresql://db/tokens").unwrap(),
            StoreLocation::Postgres { .. }
        ));
        assert_eq!(
            StoreLocation::parse("postgres://[bad").unwrap_err().key(),
            Some("store.url")
        );

        // No pepper file next to a shared database: it must be configured.
        let err = resolve_pepper_with(None, None, &location).unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains(ENV_PEPPER),
            "{err}"
        );
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let (_, source) = resolve_pepper_with(None, Some(HEX), &location).unwrap();
        assert_eq!(source, PepperSource::Env);
    }

    #[tokio::test]
    async fn memory_store_opens() {
        let store = open_store(&StoreLocation::Memory).await.unwrap();
        assert!(store.services().await.unwrap().is_empty());
    }
}
