//! A [`Store`] whose every call fails, as when the database is down.

use async_trait::async_trait;
use tokengate::model::{AuthorizationCode, Client, Service, TokenRecord, TokenUpdate};
use tokengate::secret::TokenHash;
use tokengate::store::{Redemption, Revocation, Rotation, Store, TokenCursor};

/// A store whose every call fails with a store error.
pub struct DownStore;

macro_rules! down {
    ($($name:ident($($arg:ty),*) -> $ret:ty;)*) => {
        #[async_trait]
        impl Store for DownStore {
            $(async fn $name(&self, $(_: $arg),*) -> Result<$ret, tokengate::Error> {
                Err(tokengate::Error::store("database is down"))
            })*
        }
    };
}

down! {
    put_service(&Service) -> ();
    service(&str) -> Option<Service>;
    services() -> Vec<Service>;
    put_client(&Client) -> ();
    client(&str) -> Option<Client>;
    clients() -> Vec<Client>;
    insert_code(&AuthorizationCode) -> ();
    redeem_code(&TokenHash) -> Redemption;
    insert_token(&TokenRecord) -> ();
    token(&TokenHash) -> Option<TokenRecord>;
    token_by_refresh(&TokenHash) -> Option<TokenRecord>;
    rotate_refresh(&TokenHash, &TokenRecord) -> Rotation;
    revoke(Revocation<'_>) -> Vec<TokenHash>;
    update_token(&TokenHash, &TokenUpdate) -> bool;
    tokens_by_owner(&str, &str) -> Vec<TokenRecord>;
    list_tokens(Option<&str>, Option<&TokenCursor>, u32) -> Vec<TokenRecord>;
    purge_expired(i64, u32) -> u64;
}
