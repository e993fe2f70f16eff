//! A [`Store`] that fails on demand, as when the database is down, holds token lookups, as
//! when it is slow, and counts the calls it gets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokengate::model::{
    AuthorizationCode, Client, PreviousSecret, Service, TokenRecord, TokenUpdate,
};
use tokengate::secret::TokenHash;
use tokengate::store::{MemoryStore, Redemption, Revocation, Rotation, Store, TokenCursor};

/// Delegates to another store, except that every call fails with a store error while it is
/// switched down, and token lookups (`token`) wait while they are held. Counts every call by
/// method name.
pub struct FlakyStore {
    inner: Arc<dyn Store>,
    down: AtomicBool,
    held: tokio::sync::watch::Sender<bool>,
    waiting: AtomicUsize,
    calls: Mutex<HashMap<&'static str, u64>>,
}

/// The methods that look a token, refresh token or code up by its hash.
pub const LOOKUPS: [&str; 5] = ["token", "tokens", "token_by_refresh", "code", "redeem_code"];

impl FlakyStore {
    /// Up, over `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        FlakyStore {
            inner,
            down: AtomicBool::new(false),
            held: tokio::sync::watch::Sender::new(false),
            waiting: AtomicUsize::new(0),
            calls: Mutex::default(),
        }
    }

    /// Holds token lookups (they wait until released) or releases them.
    pub fn hold_lookups(&self, hold: bool) {
        self.held.send_replace(hold);
    }

    /// How many token lookups are waiting now.
    pub fn lookups_waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// How many times `method` was called.
    pub fn calls(&self, method: &str) -> u64 {
        self.calls.lock().unwrap().get(method).copied().unwrap_or(0)
    }

    /// How many calls looked a token, refresh token or code up ([`LOOKUPS`]).
    pub fn lookups(&self) -> u64 {
        LOOKUPS.iter().map(|m| self.calls(m)).sum()
    }

    async fn enter(&self, method: &'static str) -> Result<(), tokengate::Error> {
        self.check(method)?;
        if method == "token" {
            let mut held = self.held.subscribe();
            if *held.borrow_and_update() {
                self.waiting.fetch_add(1, Ordering::SeqCst);
                let _ = held.wait_for(|held| !*held).await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
            }
        }
        Ok(())
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

    fn check(&self, method: &'static str) -> Result<(), tokengate::Error> {
        *self.calls.lock().unwrap().entry(method).or_default() += 1;
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
                self.enter(stringify!($name)).await?;
                self.inner.$name($($arg),*).await
            })*
        }
    };
}

flaky! {
    put_service(s: &Service) -> ();
    service(key: &str) -> Option<Service>;
    services() -> Vec<Service>;
    put_client(c: &Client) -> Vec<TokenHash>;
    delete_client(id: &str) -> Option<Vec<TokenHash>>;
    client(id: &str) -> Option<Client>;
    clients() -> Vec<Client>;
    insert_code(c: &AuthorizationCode) -> ();
    code(h: &TokenHash) -> Option<AuthorizationCode>;
    redeem_code(h: &TokenHash) -> Redemption;
    insert_token(t: &TokenRecord) -> ();
    token(h: &TokenHash) -> Option<TokenRecord>;
    tokens(h: &[TokenHash]) -> Vec<TokenRecord>;
    token_by_refresh(h: &TokenHash) -> Option<TokenRecord>;
    rotate_refresh(h: &TokenHash, next: &TokenRecord) -> Rotation;
    revoke(which: Revocation<'_>) -> Vec<TokenHash>;
    update_token(h: &TokenHash, u: &TokenUpdate) -> bool;
    tokens_by_owner(s: &str, u: &str) -> Vec<TokenRecord>;
    list_tokens(owner: Option<&str>, after: Option<&TokenCursor>, limit: u32) -> Vec<TokenRecord>;
    purge_expired(before: i64, limit: u32) -> u64;
    meta(key: &str) -> Option<String>;
    set_meta(key: &str, value: &str) -> ();
    claim_meta(key: &str, value: &str) -> String;
    previous_secret(id: &str) -> Option<PreviousSecret>;
    put_previous_secret(id: &str, p: &PreviousSecret) -> ();
    delete_service(key: &str) -> bool;
}
