//! [`Feed`]: the store's push of changes made elsewhere (another process on the SQLite file,
//! another node on the PostgreSQL database) into one token cache, started for every cache the
//! public listener builds, at start and at each reload.

use std::sync::Arc;

use crate::resolve::TokenCache;

/// One cache's feed; the feed stops when the last clone is dropped (with its cache).
#[derive(Clone, Default)]
pub(crate) struct Feed {
    /// The PostgreSQL revocation listener into the cache.
    #[cfg(feature = "postgres")]
    pub(crate) revocations: Option<Arc<crate::store::RevocationListener>>,
    /// The SQLite change feed into the cache.
    #[cfg(feature = "sqlite")]
    pub(crate) changes: Option<Arc<crate::store::ChangeFeed>>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").finish_non_exhaustive()
    }
}

/// Starts the feed of a new token cache.
pub(crate) type Subscribe = Arc<dyn Fn(&TokenCache) -> Feed + Send + Sync>;

/// The feeds of `opened`'s store (none for a memory store).
pub(crate) fn subscriber(opened: &super::OpenedStore) -> Subscribe {
    #[cfg(feature = "postgres")]
    let postgres = opened.postgres.clone();
    #[cfg(feature = "sqlite")]
    let sqlite = opened.sqlite.clone();
    #[cfg(not(any(feature = "postgres", feature = "sqlite")))]
    let _ = opened;
    Arc::new(move |cache: &TokenCache| {
        let _ = cache;
        Feed {
            // Revocations made by other nodes on a shared PostgreSQL database reach this
            // node's cache through LISTEN/NOTIFY.
            #[cfg(feature = "postgres")]
            revocations: postgres
                .as_ref()
                .map(|store| Arc::new(store.subscribe(cache))),
            // Revocations made by other processes on the same SQLite file reach this
            // process's cache through the change feed.
            #[cfg(feature = "sqlite")]
            changes: sqlite
                .as_ref()
                .map(|store| Arc::new(store.subscribe(cache))),
        }
    })
}
