//! What the fuzz targets share: a runtime and a token service over the memory store holding
//! one service and one confidential client.

use std::sync::{Arc, OnceLock};

use tokengate::model::{Client, ClientStatus, GrantType, Service};
use tokengate::oauth::TokenService;
use tokengate::secret::Pepper;
use tokengate::store::{MemoryStore, Store};

/// The service key.
pub const SERVICE: &str = "rmeqcgpw3zu2y47y9bs8vs2h";
/// The confidential client.
pub const CLIENT: &str = "tkr7f25gd6452zy8rjsf7bwd";
/// Its secret.
pub const SECRET: &str = "q13rupuifd";
/// Admin credentials.
pub const ADMIN: (&str, &str) = ("ops", "change-me");

/// One current-thread runtime for the whole run.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    })
}

/// The token service (built once).
pub fn tokens() -> Arc<TokenService> {
    static TOKENS: OnceLock<Arc<TokenService>> = OnceLock::new();
    TOKENS
        .get_or_init(|| {
            runtime().block_on(async {
                let pepper = Pepper::new(b"fuzzing pepper, 32 bytes long...".to_vec());
                let store = Arc::new(MemoryStore::new());
                let mut service = Service::new(SERVICE, "Fuzzed API");
                service.grants = GrantType::ALL.to_vec();
                store.put_service(&service).await.unwrap();
                store
                    .put_client(&Client {
                        id: 1,
                        external_id: None,
                        name: "Fuzz".into(),
                        attributes: None,
                        client_id: CLIENT.into(),
                        secret_hash: Some(pepper.hash_secret(SECRET)),
                        redirect_uris: vec!["https://client.example.com/cb".into()],
                        services: vec![SERVICE.into()],
                        status: ClientStatus::Active,
                        allowed_scopes: None,
                    })
                    .await
                    .unwrap();
                Arc::new(TokenService::new(store, pepper))
            })
        })
        .clone()
}
