//! The management operations behind `tokengate client show|update`, `tokengate service
//! update|remove` and `tokengate store rekey` (the token and secret operations are [`TokenService`]'s, see
//! [`TokenService::find_tokens`]): each one store call or a few, so they work on the store a
//! running server uses, whose caches see the changes through the store's change feed.

use super::config::{ClientConfig, ServiceConfig};
use crate::model::{Client, Service};
use crate::oauth::TokenService;
use crate::store::{Store, TokenCursor};
use crate::Error;

/// Records read per page when every token is revoked.
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

/// Removes the service with `key`; refused while a client lists it (take it from them first:
/// that revokes their tokens of it).
pub async fn remove_service(store: &dyn Store, key: &str) -> Result<(), Error> {
    if store.service(key).await?.is_none() {
        return Err(Error::config(format!("service `{key}` does not exist")));
    }
    let users = clients_of(store, key).await?;
    if !users.is_empty() {
        return Err(Error::refused(
            format!(
                "service `{key}` is listed by client(s) {}: take it from them first \
                 (`tokengate client update --client-id ID --service OTHER`, which revokes their \
                 tokens of it) or remove them",
                users.join(", ")
            ),
            None,
        ));
    }
    store.delete_service(key).await?;
    Ok(())
}

/// Changes the stored service `key`: `change` edits the service written out as a
/// configuration entry ([`ServiceConfig::from`]), which is then checked as one from the file
/// and stored. Tokens already issued keep their lifetime and scope; the change applies to what
/// is issued from now on.
pub async fn update_service(
    store: &dyn Store,
    key: &str,
    change: impl FnOnce(&mut ServiceConfig),
) -> Result<Service, Error> {
    let stored = store
        .service(key)
        .await?
        .ok_or_else(|| Error::config(format!("service `{key}` does not exist")))?;
    let mut entry = ServiceConfig::from(&stored);
    change(&mut entry);
    entry.key = stored.key.clone();
    let service = entry.to_service("service")?;
    if service != stored {
        store.put_service(&service).await?;
        tracing::info!(service = %service.key, "service updated in the store");
    }
    Ok(service)
}

/// The developer keys of the clients that list the service `key`.
pub(crate) async fn clients_of(store: &dyn Store, key: &str) -> Result<Vec<String>, Error> {
    Ok(store
        .clients()
        .await?
        .into_iter()
        .filter(|c| c.services.iter().any(|s| s == key))
        .map(|c| c.client_id)
        .collect())
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

/// After `tokengate store rekey`: revokes every token (made under the old pepper) and returns
/// how many were live and the confidential clients, whose secrets must be reissued.
pub async fn after_rekey(tokens: &TokenService) -> Result<(usize, Vec<Client>), Error> {
    let store = tokens.store();
    let mut ended = 0;
    let mut after: Option<TokenCursor> = None;
    loop {
        let page = store.list_tokens(None, after.as_ref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(TokenCursor::after(last));
        let live: Vec<_> = page
            .iter()
            .filter(|t| !t.revoked)
            .map(|t| &t.token_hash)
            .collect();
        ended += tokens.revoke_hashes(&live).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MacAlgorithm, PkceRequirement, TokenType};
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn a_service_update_changes_what_it_names_and_keeps_the_rest() {
        let store = MemoryStore::new();
        let mut stored = Service::new("svc", "API");
        stored.token_type = TokenType::Mac(MacAlgorithm::HmacSha1);
        stored.scopes = Some(vec!["read".into()]);
        stored.require_pkce = PkceRequirement::AllClients;
        stored.access_token_ttl = 60;
        store.put_service(&stored).await.unwrap();

        let same = update_service(&store, "svc", |_| {}).await.unwrap();
        assert_eq!(same, stored, "written out and read back unchanged");

        let updated = update_service(&store, "svc", |e| {
            e.name = Some("API 2".into());
            e.key = "renamed".into();
            e.scopes = Some(vec!["read".into(), "write".into()]);
        })
        .await
        .unwrap();
        let expected = Service {
            name: "API 2".into(),
            scopes: Some(vec!["read".into(), "write".into()]),
            ..stored.clone()
        };
        assert_eq!(updated, expected, "the key is not changed");
        assert_eq!(store.service("svc").await.unwrap(), Some(expected.clone()));

        let err = update_service(&store, "svc", |e| e.access_token_ttl = Some(0))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("access_token_ttl"), "{err}");
        assert_eq!(store.service("svc").await.unwrap(), Some(expected));
        let err = update_service(&store, "nope", |_| {}).await.unwrap_err();
        assert!(err.to_string().contains("`nope` does not exist"), "{err}");
    }
}
