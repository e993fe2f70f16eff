//! The management operations behind `tokengate service add` and `tokengate client
//! add|disable|enable|delete`.

use std::fmt;

use super::config::{ClientConfig, ServiceConfig};
use crate::model::{Client, ClientStatus, Service};
use crate::secret::{generate_token, Pepper};
use crate::store::Store;
use crate::Error;

/// Validates a service definition and stores it; an error if the key is taken.
pub async fn add_service(store: &dyn Store, service: &ServiceConfig) -> Result<Service, Error> {
    let service = service.to_service("service")?;
    if store.service(&service.key).await?.is_some() {
        return Err(Error::refused(
            format!("service `{}` already exists", service.key),
            None,
        ));
    }
    store.put_service(&service).await?;
    Ok(service)
}

/// What `tokengate client add` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// Application name.
    pub name: String,
    /// Keys of the services the client may use; each must be in the store.
    pub services: Vec<String>,
    /// The developer's key; a new random token when `None`.
    pub client_id: Option<String>,
    /// Numeric id; the next free one (one more than the largest) when `None`.
    pub id: Option<i64>,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// A public client has no secret.
    pub public: bool,
}

/// A client just added, with its secret in clear: the only time it is known.
pub struct AddedClient {
    /// The stored client (its secret only as a hash).
    pub client: Client,
    /// The generated secret; `None` for a public client. Show it once; it cannot be recovered.
    pub secret: Option<String>,
}

impl fmt::Debug for AddedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddedClient")
            .field("client", &self.client)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Creates a client with a generated secret (unless public), hashed with `pepper` before it is
/// stored.
pub async fn add_client(
    store: &dyn Store,
    pepper: &Pepper,
    new: NewClient,
) -> Result<AddedClient, Error> {
    let existing = store.clients().await?;
    let id = match new.id {
        Some(id) => id,
        None => existing.iter().map(|c| c.id).max().unwrap_or(0).max(0) + 1,
    };
    let client_id = new.client_id.unwrap_or_else(generate_token);
    let entry = ClientConfig {
        id,
        client_id,
        name: new.name,
        redirect_uris: new.redirect_uris,
        services: new.services,
        ..ClientConfig::default()
    };
    let mut client = entry.to_client("client")?;
    if client.services.is_empty() {
        return Err(Error::config("a client needs at least one service"));
    }
    for key in &client.services {
        if store.service(key).await?.is_none() {
            return Err(Error::config(format!(
                "service `{key}` does not exist (add it with `tokengate service add`)"
            )));
        }
    }
    if let Some(other) = existing.iter().find(|c| c.id == client.id) {
        return Err(Error::config(format!(
            "id {} is taken by client `{}`",
            client.id, other.client_id
        )));
    }
    if existing.iter().any(|c| c.client_id == client.client_id) {
        return Err(Error::config(format!(
            "client_id `{}` is taken",
            client.client_id
        )));
    }
    let secret = (!new.public).then(generate_token);
    client.secret_hash = secret.as_deref().map(|s| pepper.hash_secret(s));
    store.put_client(&client).await?;
    Ok(AddedClient { client, secret })
}

fn no_such_client(client_id: &str) -> Error {
    Error::config(format!("client `{client_id}` does not exist"))
}

/// Sets the status of the client with developer key `client_id`; returns how many live tokens
/// the change ended. Disabling revokes the client's tokens in the same transaction (see
/// [`Client::ended_services`]); enabling it again does not bring them back.
pub async fn set_client_status(
    store: &dyn Store,
    client_id: &str,
    status: ClientStatus,
) -> Result<usize, Error> {
    let client = store
        .client(client_id)
        .await?
        .ok_or_else(|| no_such_client(client_id))?;
    Ok(store.put_client(&Client { status, ..client }).await?.len())
}

/// Deletes the client with developer key `client_id` and revokes its tokens; returns how many
/// were live.
pub async fn delete_client(store: &dyn Store, client_id: &str) -> Result<usize, Error> {
    store
        .delete_client(client_id)
        .await?
        .map(|ended| ended.len())
        .ok_or_else(|| no_such_client(client_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn pepper() -> Pepper {
        Pepper::new(b"0123456789abcdef0123".to_vec())
    }

    #[tokio::test]
    async fn services_are_added_once() {
        let store = MemoryStore::new();
        let entry = ServiceConfig {
            key: "svc".into(),
            name: Some("API".into()),
            token_type: Some("mac".into()),
            ..ServiceConfig::default()
        };
        let err = add_service(&store, &entry).await.unwrap_err();
        assert!(err.to_string().contains("service.mac_algorithm"), "{err}");

        let entry = ServiceConfig {
            token_type: None,
            ..entry
        };
        let service = add_service(&store, &entry).await.unwrap();
        assert_eq!(store.service("svc").await.unwrap(), Some(service));
        assert!(add_service(&store, &entry).await.is_err());
    }

    #[tokio::test]
    async fn clients_get_a_secret_shown_once_and_the_next_free_id() {
        let store = MemoryStore::new();
        store
            .put_service(&Service::new("svc", "API"))
            .await
            .unwrap();
        let new = NewClient {
            name: "App".into(),
            services: vec!["svc".into()],
            ..NewClient::default()
        };
        let first = add_client(&store, &pepper(), new.clone()).await.unwrap();
        assert_eq!(first.client.id, 1);
        assert_eq!(first.client.client_id.len(), 32);
        let secret = first.secret.clone().unwrap();
        assert!(!format!("{first:?}").contains(&secret));
        let stored = store
            .client(&first.client.client_id)
            .await
            .unwrap()
            .unwrap();
        let hash = stored.secret_hash.unwrap();
        assert!(!hash.contains(&secret));
        assert!(pepper().verify_secret(&secret, &hash));

        let public = add_client(
            &store,
            &pepper(),
            NewClient {
                public: true,
                client_id: Some("public-app".into()),
                ..new.clone()
            },
        )
        .await
        .unwrap();
        assert_eq!(public.client.id, 2);
        assert!(public.secret.is_none() && public.client.secret_hash.is_none());

        let taken = NewClient {
            client_id: Some("public-app".into()),
            ..new.clone()
        };
        assert!(add_client(&store, &pepper(), taken).await.is_err());
        let taken = NewClient {
            id: Some(1),
            ..new.clone()
        };
        assert!(add_client(&store, &pepper(), taken).await.is_err());
        let unknown = NewClient {
            services: vec!["nope".into()],
            ..new
        };
        let err = add_client(&store, &pepper(), unknown).await.unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
