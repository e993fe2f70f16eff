//! The management operations behind `tokengate client show|update|rotate-secret`,
//! `tokengate token list|revoke` and `tokengate store rekey`: each one store call or a few, so
//! they work on the store a running server uses, whose caches see the changes through the
//! store's change feed.

use super::config::ClientConfig;
use super::manage::AddedClient;
use crate::model::{Client, TokenRecord};
use crate::secret::{generate_token, Pepper, TokenHash};
use crate::store::{Revocation, Store, TokenCursor};
use crate::Error;

/// Records read per page when listing tokens.
const PAGE: u32 = 500;

fn no_such_client(client_id: &str) -> Error {
    Error::config(format!("client `{client_id}` does not exist"))
}

/// The client with developer key `client_id`, or an error naming it.
pub async fn find_client(store: &dyn Store, client_id: &str) -> Result<Client, Error> {
    store
        .client(client_id)
        .await?
        .ok_or_else(|| no_such_client(client_id))
}

/// What `tokengate client update` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    /// A new name.
    pub name: Option<String>,
    /// The registered redirect URIs, replacing the stored ones.
    pub redirect_uris: Option<Vec<String>>,
    /// The services the client may use, replacing the stored ones (each must be in the store;
    /// the tokens of a service taken away are revoked).
    pub services: Option<Vec<String>>,
    /// The scopes the client may be granted, replacing the stored ones; `Some(None)` removes
    /// the restriction.
    pub allowed_scopes: Option<Option<Vec<String>>>,
    /// New extended attributes; `Some(None)` removes them.
    pub attributes: Option<Option<String>>,
}

/// Applies `changes` to the client with developer key `client_id`; returns the stored client
/// and how many live tokens the change ended (those of services taken from it).
pub async fn update_client(
    store: &dyn Store,
    client_id: &str,
    changes: ClientChanges,
) -> Result<(Client, usize), Error> {
    let mut client = find_client(store, client_id).await?;
    if let Some(name) = changes.name {
        client.name = name;
    }
    if let Some(uris) = changes.redirect_uris {
        client.redirect_uris = uris;
    }
    if let Some(services) = changes.services {
        if services.is_empty() {
            return Err(Error::config("a client needs at least one service"));
        }
        for key in &services {
            if store.service(key).await?.is_none() {
                return Err(Error::config(format!("service `{key}` does not exist")));
            }
        }
        client.services = services;
    }
    if let Some(scopes) = changes.allowed_scopes {
        client.allowed_scopes = scopes;
    }
    if let Some(attributes) = changes.attributes {
        client.attributes = attributes;
    }
    // The same checks as a client from the configuration file (redirect URIs, names).
    ClientConfig {
        id: client.id,
        external_id: client.external_id,
        client_id: client.client_id.clone(),
        name: client.name.clone(),
        attributes: client.attributes.clone(),
        redirect_uris: client.redirect_uris.clone(),
        services: client.services.clone(),
        allowed_scopes: client.allowed_scopes.clone(),
        ..ClientConfig::default()
    }
    .to_client("client")?;
    let ended = store.put_client(&client).await?.len();
    Ok((client, ended))
}

/// Gives a confidential client a new generated secret, hashed with `pepper`; the old secret is
/// refused from the moment this returns (there is no grace period). The client's tokens stay
/// valid unless `revoke_tokens`, which revokes them too. A public client is an error: it has
/// no secret to rotate.
pub async fn rotate_secret(
    store: &dyn Store,
    pepper: &Pepper,
    client_id: &str,
    revoke_tokens: bool,
) -> Result<(AddedClient, usize), Error> {
    let mut client = find_client(store, client_id).await?;
    if client.is_public() {
        return Err(Error::config(format!(
            "client `{client_id}` is public: it has no secret to rotate"
        )));
    }
    let secret = generate_token();
    client.secret_hash = Some(pepper.hash_secret(&secret));
    store.put_client(&client).await?;
    let ended = if revoke_tokens {
        let records = find_tokens(store, &TokenOwner::Client(client_id.to_owned()), None).await?;
        revoke_records(store, &records).await?
    } else {
        0
    };
    let added = AddedClient {
        client,
        secret: Some(secret),
    };
    Ok((added, ended))
}

/// Whose tokens `tokengate token list|revoke` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// Every token issued to the client with this developer key.
    Client(String),
    /// Every token issued for this user context, to any client.
    User(String),
}

/// Every token record (any state) of `owner`, newest first, on `service` only when given.
/// By client, this reads every record page by page.
pub async fn find_tokens(
    store: &dyn Store,
    owner: &TokenOwner,
    service: Option<&str>,
) -> Result<Vec<TokenRecord>, Error> {
    let listed_owner = match owner {
        TokenOwner::User(user) => Some(user.as_str()),
        TokenOwner::Client(_) => None,
    };
    let mut found = Vec::new();
    let mut after: Option<TokenCursor> = None;
    loop {
        let page = store
            .list_tokens(listed_owner, after.as_ref(), PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(TokenCursor::after(last));
        let full = page.len() == PAGE as usize;
        found.extend(page.into_iter().filter(|t| {
            let mine = match owner {
                TokenOwner::Client(id) => &t.client_id == id,
                TokenOwner::User(user) => t.user_context.as_deref() == Some(user.as_str()),
            };
            mine && service.is_none_or(|s| t.service_key == s)
        }));
        if !full {
            break;
        }
    }
    Ok(found)
}

/// Revokes each of `records`; returns how many were not revoked before.
pub async fn revoke_records(store: &dyn Store, records: &[TokenRecord]) -> Result<usize, Error> {
    let mut ended = 0;
    for record in records.iter().filter(|t| !t.revoked) {
        ended += store
            .revoke(Revocation::Token(&record.token_hash))
            .await?
            .len();
    }
    Ok(ended)
}

/// Revokes one access token given in clear; `false` when the store has no live record of it.
pub async fn revoke_token(store: &dyn Store, token: &str) -> Result<bool, Error> {
    let hash = TokenHash::of(token.trim());
    Ok(!store.revoke(Revocation::Token(&hash)).await?.is_empty())
}

/// After `tokengate store rekey`: revokes every token (made under the old pepper) and returns
/// the confidential clients, whose secrets must be reissued.
pub async fn after_rekey(store: &dyn Store) -> Result<(usize, Vec<Client>), Error> {
    let mut ended = 0;
    let mut after: Option<TokenCursor> = None;
    loop {
        let page = store.list_tokens(None, after.as_ref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(TokenCursor::after(last));
        ended += revoke_records(store, &page).await?;
        if page.len() < PAGE as usize {
            break;
        }
    }
    let confidential = store
        .clients()
        .await?
        .into_iter()
        .filter(|c| !c.is_public())
        .collect();
    Ok((ended, confidential))
}
