//! A [`Store`] that fails on demand, as when the database is down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokengate::model::{AuthorizationCode, Client, Service, TokenRecord, TokenUpdate};
use tokengate::secret::TokenHash;
use tokengate::store::{MemoryStore, Redemption, Revocation, Rotation, Store, TokenCursor};

/// Delegates to another store, except that every call fails with a store error while it is
/// switched down.
pub struct FlakyStore {
    inner: Arc<dyn Store>,
    down: AtomicBool,
}

impl FlakyStore {
    /// Up, over `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        FlakyStore {
            inner,
            down: AtomicBool::new(false),
        }
    }

    /// A store that is down for good.
    pub fn down() -> Self {
        let store = Self::new(Arc::new(MemoryStore::new()));
        store.set_down(true);
        store
    }

    /// Switches the failures on or off.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), tokengate::Error> {
        if self.down.load(Ordering::SeqCst) {
            Err(tokengate::Error::store("database is down"))
        } else {
            Ok(())
        }
    }
}

macro_rules! flaky {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        #[async_trait]
        impl Store for FlakyStore {
            $(async fn $name(&self, $($arg: $ty),*) -> Result<$ret, tokengate::Error> {
                self.check()?;
                self.inner.$name($($arg),*).await
            })*
        }
    };
}

flaky! {
    put_service(s: &Service) -> ();
    service(key: &str) -> Option<Service>;
    services() -> Vec<Service>;
    put_client(c: &Client) -> ();
    client(id: &str) -> Option<Client>;
    clients() -> Vec<Client>;
    insert_code(c: &AuthorizationCode) -> ();
    code(h: &TokenHash) -> Option<AuthorizationCode>;
    redeem_code(h: &TokenHash) -> Redemption;
    insert_token(t: &TokenRecord) -> ();
    token(h: &TokenHash) -> Option<TokenRecord>;
    token_by_refresh(h: &TokenHash) -> Option<TokenRecord>;
    rotate_refresh(h: &TokenHash, next: &TokenRecord) -> Rotation;
    revoke(which: Revocation<'_>) -> Vec<TokenHash>;
    update_token(h: &TokenHash, u: &TokenUpdate) -> bool;
    tokens_by_owner(s: &str, u: &str) -> Vec<TokenRecord>;
    list_tokens(owner: Option<&str>, after: Option<&TokenCursor>, limit: u32) -> Vec<TokenRecord>;
    purge_expired(before: i64, limit: u32) -> u64;
}
