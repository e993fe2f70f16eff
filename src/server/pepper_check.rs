//! The pepper is a key, not a cache: the store keeps the pepper's fingerprint
//! ([`Pepper::fingerprint`]) and a start with another pepper, or with a pepper file made anew
//! next to a store that already holds secrets or tokens, is refused.

use super::storage::{PepperSource, ENV_PEPPER};
use super::StoreLocation;
use crate::secret::Pepper;
use crate::store::Store;
use crate::Error;

/// The `meta` key under which the store keeps [`Pepper::fingerprint`].
pub const PEPPER_CHECK_KEY: &str = "pepper_check";

/// What to do when the store's pepper fingerprint and the pepper disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PepperCheck {
    /// Refuse (what `serve` and the management commands do).
    Enforce,
    /// Adopt the pepper (`tokengate store rekey`): the stored secrets and tokens made under the
    /// old one no longer verify.
    Rekey,
}

/// Compares `pepper` with the fingerprint the store keeps; records it (insert-if-absent,
/// [`Store::claim_meta`]) when the store has none and holds nothing made under another pepper. With [`PepperCheck::Enforce`], a mismatch (or
/// a pepper file created just now next to a store holding client secrets or tokens) is an
/// error saying how to recover, and a pepper file created just now is removed again.
pub(crate) async fn check_pepper(
    store: &dyn Store,
    pepper: &Pepper,
    source: &PepperSource,
    location: &StoreLocation,
    mode: PepperCheck,
) -> Result<(), Error> {
    let fingerprint = pepper.fingerprint();
    let stored = store.meta(PEPPER_CHECK_KEY).await?;
    if stored.as_deref() == Some(fingerprint.as_str()) {
        return Ok(());
    }
    if mode == PepperCheck::Enforce {
        let mismatch = match &stored {
            Some(_) => true,
            // A store from before the fingerprint: only a pepper made just now is suspect.
            None => {
                matches!(source, PepperSource::Generated(_)) && holds_credentials(store).await?
            }
        };
        // Insert-if-absent, then compare what is stored: of two first starts with different
        // peppers racing on one store (two nodes on one PostgreSQL database), one wins and the
        // other is refused, however their reads and writes interleave.
        if mismatch || store.claim_meta(PEPPER_CHECK_KEY, &fingerprint).await? != fingerprint {
            if let PepperSource::Generated(file) = source {
                // Made by this start; leave the place empty for the file to be restored.
                let _ = std::fs::remove_file(file);
            }
            return Err(refusal(location, source));
        }
        return Ok(());
    }
    store.set_meta(PEPPER_CHECK_KEY, &fingerprint).await
}

/// Whether the store holds anything made under a pepper: a client secret or a token.
async fn holds_credentials(store: &dyn Store) -> Result<bool, Error> {
    Ok(store
        .clients()
        .await?
        .iter()
        .any(|c| c.secret_hash.is_some())
        || !store.list_tokens(None, None, 1).await?.is_empty())
}

fn refusal(location: &StoreLocation, source: &PepperSource) -> Error {
    let given = match source {
        PepperSource::Config => "store.pepper".to_owned(),
        PepperSource::Env => ENV_PEPPER.to_owned(),
        PepperSource::File(file) => format!("the pepper file {}", file.display()),
        PepperSource::Generated(file) => format!(
            "no pepper file: {} is missing (a new one was not kept)",
            file.display()
        ),
        PepperSource::Ephemeral => "a random pepper".to_owned(),
    };
    Error::refused(
        format!(
            "the store {location} holds client secrets and tokens made under another pepper than \
             the one given ({given}); refusing to start. Restore the pepper that goes with this \
             store (the pepper file from a backup, store.pepper or {ENV_PEPPER}). If it is lost \
             for good, `tokengate store rekey` adopts the given pepper: every client secret must \
             then be reissued (`tokengate client rotate-secret`) and every token issued again"
        ),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Client, ClientStatus, Service};
    use crate::store::MemoryStore;

    fn pepper(byte: u8) -> Pepper {
        Pepper::new(vec![byte; 32])
    }

    #[tokio::test]
    async fn the_first_pepper_is_recorded_and_another_is_refused_until_rekeyed() {
        let store = MemoryStore::new();
        let location = StoreLocation::Memory;
        let source = PepperSource::Config;
        check_pepper(&store, &pepper(1), &source, &location, PepperCheck::Enforce)
            .await
            .unwrap();
        check_pepper(&store, &pepper(1), &source, &location, PepperCheck::Enforce)
            .await
            .unwrap();
        let err = check_pepper(&store, &pepper(2), &source, &location, PepperCheck::Enforce)
            .await
            .unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("another pepper") && shown.contains("store.pepper"),
            "{shown}"
        );
        assert!(shown.contains("tokengate store rekey"), "{shown}");
        assert!(!shown.contains(&pepper(2).fingerprint()), "{shown}");

        check_pepper(&store, &pepper(2), &source, &location, PepperCheck::Rekey)
            .await
            .unwrap();
        check_pepper(&store, &pepper(2), &source, &location, PepperCheck::Enforce)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_new_pepper_file_next_to_stored_secrets_is_refused_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.db.pepper");
        std::fs::write(&file, "x").unwrap();
        let store = MemoryStore::new();
        store.put_service(&Service::new("svc", "S")).await.unwrap();
        let client = Client {
            id: 1,
            external_id: None,
            name: "App".into(),
            attributes: None,
            client_id: "app".into(),
            secret_hash: Some(pepper(1).hash_secret("s")),
            redirect_uris: Vec::new(),
            services: vec!["svc".into()],
            status: ClientStatus::Active,
            allowed_scopes: None,
        };
        store.put_client(&client).await.unwrap();

        let source = PepperSource::Generated(file.clone());
        let err = check_pepper(
            &store,
            &pepper(2),
            &source,
            &StoreLocation::Memory,
            PepperCheck::Enforce,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("is missing"), "{err}");
        assert!(!file.exists(), "the pepper made by this start is not kept");
        assert_eq!(store.meta(PEPPER_CHECK_KEY).await.unwrap(), None);
    }
}
