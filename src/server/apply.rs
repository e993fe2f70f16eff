//! Writing the configuration's services and clients into the store at start.

use std::collections::{HashMap, HashSet};

use super::config::{Config, ConfigError};
use crate::model::Client;
use crate::secret::{Pepper, TokenHash};
use crate::store::Store;
use crate::Error;

/// What [`apply`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Services inserted or changed.
    pub services_written: usize,
    /// Services already stored exactly as configured.
    pub services_unchanged: usize,
    /// Clients inserted or changed.
    pub clients_written: usize,
    /// Clients already stored exactly as configured.
    pub clients_unchanged: usize,
    /// Clients in the store that the file does not declare, left as they are.
    pub clients_kept: usize,
    /// Clients in the store that the file does not declare, removed ([`Unlisted::Prune`]).
    pub clients_removed: usize,
    /// Services in the store that the file does not declare, left as they are (always
    /// without [`Unlisted::Prune`]; with it, while a client still lists them).
    pub services_kept: usize,
    /// Services in the store that the file does not declare and no client lists, removed
    /// ([`Unlisted::Prune`]).
    pub services_removed: usize,
}

/// What [`apply_with`] does with the clients in the store that the file does not declare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unlisted {
    /// Keep them as they are (`serve`, `tokengate apply`): clients added with the CLI live
    /// beside the file's.
    #[default]
    Keep,
    /// Remove them and revoke their tokens (`tokengate apply --prune`, like decK's `sync`):
    /// the store's clients become exactly the file's; then the services the file does not
    /// declare and no client lists are removed too.
    Prune,
}

/// [`apply_with`] keeping the clients the file does not declare ([`Unlisted::Keep`]): what
/// `serve` does at start.
pub async fn apply(
    config: &Config,
    store: &dyn Store,
    pepper: &Pepper,
) -> Result<ApplyReport, Error> {
    apply_with(config, store, pepper, Unlisted::Keep).await
}

/// Upserts the configuration's services (by key) and clients (by numeric id) into the store.
///
/// Idempotent: what is already stored as configured is not written again, and a client's secret
/// is hashed anew only when the stored hash does not verify the configured secret, so restarts do
/// not churn. Clients and services in the store that the file does not mention are kept or
/// removed as `unlisted` says (a service only when no client lists it), each named in a log
/// line.
///
/// A change that weakens a stored client is never silent: turning a confidential client public
/// needs `public = true` (leaving out `secret` alone is an error), and that, an added redirect
/// URI or widened allowed scopes are logged at WARN with the client's id.
///
/// Errors name the file and the key: a client naming a service that is neither in the file nor in
/// the store, or a `client_id` that belongs to another client in the store.
pub async fn apply_with(
    config: &Config,
    store: &dyn Store,
    pepper: &Pepper,
    unlisted: Unlisted,
) -> Result<ApplyReport, Error> {
    apply_ending(config, store, pepper, unlisted)
        .await
        .map(|(report, _)| report)
}

/// [`apply_with`], also returning the hashes of the tokens the changes ended (a client
/// disabled, removed or no longer listing a service): a running server's caches drop them.
///
/// Everything is checked before anything is written: an error leaves the store as it was.
pub(crate) async fn apply_ending(
    config: &Config,
    store: &dyn Store,
    pepper: &Pepper,
    unlisted: Unlisted,
) -> Result<(ApplyReport, Vec<TokenHash>), Error> {
    config.validate()?;
    let mut ended = Vec::new();
    let in_file = |e: ConfigError| Error::from(e.in_file(config.origin.as_deref()));
    let mut report = ApplyReport::default();

    let mut declared = HashSet::new();
    let mut services = Vec::new();
    for (i, entry) in config.services.iter().enumerate() {
        let service = entry
            .to_service(&format!("services[{i}]"))
            .map_err(in_file)?;
        declared.insert(service.key.clone());
        if store.service(&service.key).await?.as_ref() == Some(&service) {
            report.services_unchanged += 1;
        } else {
            services.push(service);
        }
    }

    let stored = store.clients().await?;
    let by_id: HashMap<i64, &Client> = stored.iter().map(|c| (c.id, c)).collect();
    let by_client_id: HashMap<&str, &Client> =
        stored.iter().map(|c| (c.client_id.as_str(), c)).collect();

    let mut clients = Vec::new();
    for (i, entry) in config.clients.iter().enumerate() {
        let path = format!("clients[{i}]");
        let mut client = entry.to_client(&path).map_err(in_file)?;

        for (j, key) in client.services.iter().enumerate() {
            let at = || format!("{path}.services[{j}]");
            if let Some(unknown) = unknown_service(store, declared.contains(key), key, at).await? {
                return Err(in_file(unknown));
            }
        }
        if let Some(other) = by_client_id.get(client.client_id.as_str()) {
            if other.id != client.id {
                return Err(in_file(ConfigError::at(
                    format!("{path}.client_id"),
                    format!(
                        "`{}` already belongs to client id {} in the store",
                        client.client_id, other.id
                    ),
                )));
            }
        }
        let existing = by_id.get(&client.id).copied();
        if let Some(old) = existing.filter(|old| old.client_id != client.client_id) {
            tracing::warn!(
                id = client.id,
                old_client_id = %old.client_id,
                new_client_id = %client.client_id,
                "{path}: replacing the stored client with this id"
            );
        }

        client.secret_hash = match &entry.secret {
            None => None,
            Some(secret) => match existing.and_then(|old| old.secret_hash.as_ref()) {
                Some(hash) if pepper.verify_secret(secret, hash) => Some(hash.clone()),
                _ => Some(pepper.hash_secret(secret)),
            },
        };
        if let Some(old) = existing {
            warn_if_weakened(&path, old, &client, entry.public).map_err(in_file)?;
        }

        if existing == Some(&client) {
            report.clients_unchanged += 1;
        } else {
            clients.push(client);
        }
    }
    for service in services {
        store.put_service(&service).await?;
        tracing::info!(service = %service.key, "service written to the store");
        report.services_written += 1;
    }
    for client in clients {
        ended.extend(store.put_client(&client).await?);
        tracing::info!(id = client.id, client_id = %client.client_id, "client written to the store");
        report.clients_written += 1;
    }

    let listed: HashSet<i64> = config.clients.iter().map(|c| c.id).collect();
    let mut kept = Vec::new();
    for client in stored.iter().filter(|c| !listed.contains(&c.id)) {
        match unlisted {
            Unlisted::Keep => kept.push(client.client_id.as_str()),
            Unlisted::Prune => {
                let revoked = store
                    .delete_client(&client.client_id)
                    .await?
                    .unwrap_or_default();
                tracing::info!(
                    id = client.id,
                    client_id = %client.client_id,
                    revoked_tokens = revoked.len(),
                    "client in the store but not in the configuration: removed (--prune)"
                );
                ended.extend(revoked);
                report.clients_removed += 1;
            }
        }
    }
    if !kept.is_empty() {
        // Nothing changed: one line, however many clients the CLI manages.
        const SHOWN: usize = 20;
        tracing::info!(
            count = kept.len(),
            client_ids = ?&kept[..kept.len().min(SHOWN)],
            "clients in the store but not in the configuration: kept (`tokengate apply --prune` removes them)"
        );
        report.clients_kept = kept.len();
    }
    for service in store
        .services()
        .await?
        .iter()
        .filter(|s| !declared.contains(&s.key))
    {
        let users = super::lifecycle::clients_of(store, &service.key).await?;
        if unlisted == Unlisted::Prune && users.is_empty() {
            store.delete_service(&service.key).await?;
            tracing::info!(service = %service.key, "service in the store but not in the configuration: removed (--prune)");
            report.services_removed += 1;
        } else {
            tracing::info!(service = %service.key, clients = ?users, "service in the store but not in the configuration: kept");
            report.services_kept += 1;
        }
    }
    Ok((report, ended))
}

/// Refuses a confidential client turned public without `public = true`, and logs at WARN every
/// change that lets `next` do what `old` could not.
/// `None` when the service `key` is `declared` in the configuration file or is in the store;
/// otherwise the error, at the key `at` names.
pub(crate) async fn unknown_service(
    store: &dyn Store,
    declared: bool,
    key: &str,
    at: impl FnOnce() -> String,
) -> Result<Option<ConfigError>, Error> {
    if declared || store.service(key).await?.is_some() {
        return Ok(None);
    }
    let message = format!("service `{key}` is declared neither in this file nor in the store");
    Ok(Some(ConfigError::at(at(), message)))
}

fn warn_if_weakened(
    path: &str,
    old: &Client,
    next: &Client,
    public: Option<bool>,
) -> Result<(), ConfigError> {
    if !old.is_public() && next.is_public() {
        if public != Some(true) {
            return Err(ConfigError::at(
                format!("{path}.secret"),
                format!(
                    "client id {} is confidential in the store; without `secret` it would \
                     become public: set `public = true` if that is meant",
                    next.id
                ),
            ));
        }
        tracing::warn!(id = next.id, client_id = %next.client_id, "{path}: confidential client made public (`public = true`): it authenticates with no secret from now on");
    }
    let added: Vec<&str> = next
        .redirect_uris
        .iter()
        .filter(|uri| !old.redirect_uris.contains(uri))
        .map(String::as_str)
        .collect();
    if !added.is_empty() {
        tracing::warn!(id = next.id, client_id = %next.client_id, added = ?added, "{path}: redirect URIs added");
    }
    match (&old.allowed_scopes, &next.allowed_scopes) {
        (Some(_), None) => {
            tracing::warn!(id = next.id, client_id = %next.client_id, "{path}: allowed_scopes removed: the client's scopes are no longer restricted");
        }
        (Some(before), Some(after)) => {
            let widened: Vec<&str> = after
                .iter()
                .filter(|s| !before.contains(s))
                .map(String::as_str)
                .collect();
            if !widened.is_empty() {
                tracing::warn!(id = next.id, client_id = %next.client_id, added = ?widened, "{path}: allowed scopes widened");
            }
        }
        (None, _) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Service;
    use crate::store::MemoryStore;

    const CONFIG: &str = r#"
[[services]]
key = "rmeqcgpw3zu2y47y9bs8vs2h"
name = "Reviews API"

[[clients]]
id = 12346
client_id = "tkr7f25gd6452zy8rjsf7bwd"
secret = "q13rupuifd"
name = "Reviews Web"
services = ["rmeqcgpw3zu2y47y9bs8vs2h"]

[[clients]]
id = 12347
client_id = "public-app"
name = "Public"
services = ["rmeqcgpw3zu2y47y9bs8vs2h"]
"#;

    fn pepper() -> Pepper {
        Pepper::new(b"0123456789abcdef0123".to_vec())
    }

    fn config(text: &str) -> Config {
        Config::from_toml(text, Some(std::path::Path::new("t.toml"))).unwrap()
    }

    async fn stored_hash(store: &MemoryStore, client_id: &str) -> Option<String> {
        store.client(client_id).await.unwrap().unwrap().secret_hash
    }

    #[tokio::test]
    async fn applying_twice_keeps_the_secret_hash_and_it_verifies() {
        let store = MemoryStore::new();
        let config = config(CONFIG);

        let first = apply(&config, &store, &pepper()).await.unwrap();
        assert_eq!(first.services_written, 1);
        assert_eq!(first.clients_written, 2);
        let hash = stored_hash(&store, "tkr7f25gd6452zy8rjsf7bwd")
            .await
            .unwrap();
        assert!(!hash.contains("q13rupuifd"), "never stored in clear");
        assert!(pepper().verify_secret("q13rupuifd", &hash));

        let second = apply(&config, &store, &pepper()).await.unwrap();
        assert_eq!(
            second,
            ApplyReport {
                services_written: 0,
                services_unchanged: 1,
                clients_written: 0,
                clients_unchanged: 2,
                ..ApplyReport::default()
            }
        );
        let again = stored_hash(&store, "tkr7f25gd6452zy8rjsf7bwd")
            .await
            .unwrap();
        assert_eq!(again, hash, "the hash did not churn");
        assert!(pepper().verify_secret("q13rupuifd", &again));
        assert_eq!(stored_hash(&store, "public-app").await, None);
    }

    #[tokio::test]
    async fn a_changed_secret_or_pepper_is_hashed_anew() {
        let store = MemoryStore::new();
        apply(&config(CONFIG), &store, &pepper()).await.unwrap();
        let hash = stored_hash(&store, "tkr7f25gd6452zy8rjsf7bwd")
            .await
            .unwrap();

        let changed = config(&CONFIG.replace("q13rupuifd", "n3w-secret"));
        let report = apply(&changed, &store, &pepper()).await.unwrap();
        assert_eq!(report.clients_written, 1);
        let new_hash = stored_hash(&store, "tkr7f25gd6452zy8rjsf7bwd")
            .await
            .unwrap();
        assert_ne!(new_hash, hash);
        assert!(pepper().verify_secret("n3w-secret", &new_hash));
        assert!(!pepper().verify_secret("q13rupuifd", &new_hash));

        let other = Pepper::new(b"another-pepper-0123456".to_vec());
        apply(&changed, &store, &other).await.unwrap();
        let rehashed = stored_hash(&store, "tkr7f25gd6452zy8rjsf7bwd")
            .await
            .unwrap();
        assert!(other.verify_secret("n3w-secret", &rehashed));
    }

    #[tokio::test]
    async fn changed_settings_are_upserted() {
        let store = MemoryStore::new();
        apply(&config(CONFIG), &store, &pepper()).await.unwrap();
        let edited = config(&CONFIG.replace(
            "name = \"Reviews API\"",
            "name = \"Reviews\"\naccess_token_ttl = 60",
        ));
        let report = apply(&edited, &store, &pepper()).await.unwrap();
        assert_eq!((report.services_written, report.clients_written), (1, 0));
        let service = store
            .service("rmeqcgpw3zu2y47y9bs8vs2h")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (service.name.as_str(), service.access_token_ttl),
            ("Reviews", 60)
        );
    }

    #[tokio::test]
    async fn clients_may_name_services_already_in_the_store() {
        let store = MemoryStore::new();
        store
            .put_service(&Service::new("stored-service", "S"))
            .await
            .unwrap();
        let text = "[[clients]]\nid = 1\nclient_id = \"a\"\nname = \"A\"\nservices = [\"stored-service\"]\n";
        apply(&config(text), &store, &pepper()).await.unwrap();

        let text = "[[clients]]\nid = 1\nclient_id = \"a\"\nname = \"A\"\nservices = [\"stored-service\", \"nowhere\"]\n";
        let err = apply(&config(text), &store, &pepper()).await.unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("t.toml: clients[0].services[1]: "),
            "{shown}"
        );
        assert!(shown.contains("nowhere"), "{shown}");
    }

    #[tokio::test]
    async fn a_client_id_owned_by_another_stored_client_is_an_error() {
        let store = MemoryStore::new();
        apply(&config(CONFIG), &store, &pepper()).await.unwrap();
        let text = "[[clients]]\nid = 99\nclient_id = \"public-app\"\nname = \"X\"\n";
        let err = apply(&config(text), &store, &pepper()).await.unwrap_err();
        assert!(err.to_string().contains("clients[0].client_id"), "{err}");
        assert!(err.to_string().contains("12347"), "{err}");
    }

    #[tokio::test]
    async fn a_confidential_client_turns_public_only_with_public_true() {
        let store = MemoryStore::new();
        apply(&config(CONFIG), &store, &pepper()).await.unwrap();
        let without_secret = CONFIG.replace("secret = \"q13rupuifd\"\n", "");
        let err = apply(&config(&without_secret), &store, &pepper())
            .await
            .unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("t.toml: clients[0].secret: "), "{shown}");
        assert!(
            shown.contains("12346") && shown.contains("public = true"),
            "{shown}"
        );
        assert!(stored_hash(&store, "tkr7f25gd6452zy8rjsf7bwd")
            .await
            .is_some());

        let explicit = without_secret.replace(
            "name = \"Reviews Web\"",
            "name = \"Reviews Web\"\npublic = true",
        );
        apply(&config(&explicit), &store, &pepper()).await.unwrap();
        assert_eq!(stored_hash(&store, "tkr7f25gd6452zy8rjsf7bwd").await, None);

        let contradiction = CONFIG.replace(
            "name = \"Reviews Web\"",
            "name = \"Reviews Web\"\npublic = true",
        );
        let err = Config::from_toml(&contradiction, None)
            .map(drop)
            .and_then(|()| {
                config(&contradiction).clients[0]
                    .to_client("clients[0]")
                    .map(drop)
            });
        assert!(err.unwrap_err().to_string().contains("clients[0].public"));
    }

    #[tokio::test]
    async fn unlisted_clients_are_kept_unless_pruned() {
        let store = MemoryStore::new();
        apply(&config(CONFIG), &store, &pepper()).await.unwrap();
        let only_web = &CONFIG[..CONFIG.rfind("[[clients]]").unwrap()];
        let report = apply(&config(only_web), &store, &pepper()).await.unwrap();
        assert_eq!((report.clients_kept, report.clients_removed), (1, 0));
        assert!(store.client("public-app").await.unwrap().is_some());

        let report = apply_with(&config(only_web), &store, &pepper(), Unlisted::Prune)
            .await
            .unwrap();
        assert_eq!((report.clients_kept, report.clients_removed), (0, 1));
        assert_eq!(report.clients_unchanged, 1);
        assert!(store.client("public-app").await.unwrap().is_none());
        assert!(store
            .client("tkr7f25gd6452zy8rjsf7bwd")
            .await
            .unwrap()
            .is_some());
    }
}
