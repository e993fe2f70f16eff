//! The store conformance suite: every [`Store`] backend must pass the same tests.
//!
//! Each test is an `async fn(Arc<dyn Store>)` given a fresh, empty store. [`store_suite!`]
//! instantiates all of them as `#[tokio::test]`s in a module per backend; adding a backend is a
//! fixture function and one line at the bottom of this file.

use std::collections::HashSet;
use std::sync::Arc;

use tokengate::model::{
    AuthorizationCode, Client, ClientStatus, GrantType, MacAlgorithm, PkceChallenge,
    PkceRequirement, PreviousSecret, RefreshState, Service, TokenRecord, TokenType, TokenUpdate,
};
use tokengate::secret::{generate_id, generate_token, TokenHash};
use tokengate::store::{MemoryStore, Redemption, Revocation, Rotation, Store, TokenCursor};

// ---- the harness ----------------------------------------------------------------------------

/// A fresh store, and whatever must live as long as it (a temp dir, a test database).
struct Fixture {
    store: Arc<dyn Store>,
    _guard: Box<dyn std::any::Any + Send>,
}

async fn memory() -> Fixture {
    Fixture {
        store: Arc::new(MemoryStore::new()),
        _guard: Box::new(()),
    }
}

#[cfg(feature = "sqlite")]
async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conformance.db");
    let store = tokengate::store::SqliteStore::open(path.to_str().unwrap())
        .await
        .unwrap();
    Fixture {
        store: Arc::new(store),
        _guard: Box::new(dir),
    }
}

#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

/// A fresh schema in the test database (`tests/support/postgres.rs`: the test fails when that
/// database does not answer).
#[cfg(feature = "postgres")]
async fn postgres() -> Fixture {
    let db = pg::TestDb::new();
    let store = db.store().await;
    Fixture {
        store: Arc::new(store),
        _guard: Box::new(db),
    }
}

/// `store_suite!(name, fixture)`: the whole suite as module `name`, each test on `fixture().await`.
macro_rules! store_suite {
    ($backend:ident, $fixture:path) => {
        store_suite!(@tests $backend, $fixture,
            services_upsert_lookup_and_order,
            clients_upsert_lookup_and_order,
            client_id_belongs_to_one_client,
            service_and_client_together,
            code_redeems_fresh_then_replayed,
            unknown_code,
            concurrent_redemption_has_one_winner,
            token_round_trips_every_field,
            token_by_refresh,
            tokens_by_list,
            rotate_refresh_then_reused,
            rotate_unknown_refresh_stores_nothing,
            concurrent_rotation_has_one_winner,
            revoke_token,
            revoke_family,
            revoke_code,
            revoke_user_application,
            update_token_fields,
            tokens_by_owner_filters_and_orders,
            list_tokens_pages_newest_first_through_ties,
            list_tokens_by_owner,
            purge_expired_respects_before_and_limit,
            duplicate_inserts_are_errors,
            tokens_are_found_only_while_their_client_holds_them,
            disabling_a_client_ends_its_tokens_for_good,
            taking_a_service_from_a_client_ends_its_tokens_there,
            deleting_or_renaming_a_client_ends_its_tokens,
            meta_values_round_trip,
            previous_secrets_are_replaced_and_go_with_their_client,
            services_are_deleted_by_key,
        );
    };
    (@tests $backend:ident, $fixture:path, $($test:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let fixture = $fixture().await;
                    super::$test(fixture.store.clone()).await;
                }
            )+
        }
    };
}

store_suite!(memory, super::memory);
#[cfg(feature = "sqlite")]
store_suite!(sqlite, super::sqlite);
#[cfg(feature = "postgres")]
store_suite!(postgres, super::postgres);

// ---- builders -------------------------------------------------------------------------------

const NOW: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

/// A live bearer token record with no optional field set, in a family of its own.
fn record(service_key: &str, client_id: &str, user_context: Option<&str>) -> TokenRecord {
    let id = generate_id();
    TokenRecord {
        id: id.clone(),
        token_hash: TokenHash::of(&generate_token()),
        service_key: service_key.into(),
        client_id: client_id.into(),
        token_type: TokenType::Bearer,
        grant_type: GrantType::Password,
        scope: None,
        user_context: user_context.map(Into::into),
        created_at: NOW,
        expires_at: NOW + HOUR,
        revoked: false,
        refresh: None,
        family_id: id,
        code_hash: None,
    }
}

fn refresh(expires_at: i64) -> Option<RefreshState> {
    Some(RefreshState {
        hash: TokenHash::of(&generate_token()),
        expires_at,
        used: false,
    })
}

fn code() -> AuthorizationCode {
    AuthorizationCode {
        code_hash: TokenHash::of(&generate_token()),
        service_key: "svc".into(),
        client_id: "app".into(),
        redirect_uri: Some("https://app.example/cb".into()),
        scope: Some("read write".into()),
        user_context: Some("alice".into()),
        pkce: Some(PkceChallenge {
            challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        }),
        expires_at: NOW + 300_000,
        used: false,
    }
}

fn client(id: i64, client_id: &str) -> Client {
    Client {
        id,
        external_id: None,
        name: format!("app {id}"),
        attributes: None,
        client_id: client_id.into(),
        secret_hash: None,
        redirect_uris: vec![],
        services: vec![],
        status: ClientStatus::Active,
        allowed_scopes: None,
    }
}

fn hashes<'a>(records: impl IntoIterator<Item = &'a TokenRecord>) -> HashSet<TokenHash> {
    records.into_iter().map(|t| t.token_hash).collect()
}

fn set(hashes: Vec<TokenHash>) -> HashSet<TokenHash> {
    let len = hashes.len();
    let set: HashSet<_> = hashes.into_iter().collect();
    assert_eq!(set.len(), len, "a revoked hash was reported twice");
    set
}

/// Registers (or extends) an active client holding `record`: a token is only found while its
/// client exists, is active and lists the token's service.
async fn hold(store: &dyn Store, record: &TokenRecord) {
    let holder = match store.client(&record.client_id).await.unwrap() {
        Some(c) if c.services.contains(&record.service_key) => return,
        Some(c) => c,
        None => {
            let id = store.clients().await.unwrap().len() as i64 + 1000;
            client(id, &record.client_id)
        }
    };
    let mut services = holder.services.clone();
    services.push(record.service_key.clone());
    store
        .put_client(&Client { services, ..holder })
        .await
        .unwrap();
}

/// Stores `record`, with a client holding it.
async fn insert(store: &dyn Store, record: &TokenRecord) {
    hold(store, record).await;
    store.insert_token(record).await.unwrap();
}

async fn insert_all(store: &dyn Store, records: &[&TokenRecord]) {
    for record in records {
        insert(store, record).await;
    }
}

async fn is_revoked(store: &dyn Store, record: &TokenRecord) -> bool {
    store
        .token(&record.token_hash)
        .await
        .unwrap()
        .unwrap()
        .revoked
}

// ---- services and clients -------------------------------------------------------------------

async fn services_upsert_lookup_and_order(store: Arc<dyn Store>) {
    let mut b = Service::new("b-service-key", "B");
    b.access_token_ttl = 60;
    b.refresh_tokens = false;
    b.refresh_token_ttl = 120;
    b.authorization_code_ttl = 30;
    b.token_type = TokenType::Mac(MacAlgorithm::HmacSha256);
    b.grants = vec![GrantType::ClientCredentials, GrantType::Password];
    b.force_redirect_validation = false;
    b.allow_multiple_tokens = false;
    b.allow_query_tokens = true;
    b.scopes = Some(vec!["read".into(), "write".into()]);
    b.require_pkce = PkceRequirement::AllClients;
    let mut c = Service::new("c-service-key", "C");
    c.grants = vec![];
    c.token_type = TokenType::Mac(MacAlgorithm::HmacSha1);
    c.any_scope = true;
    c.scopes = Some(vec![]);
    c.require_pkce = PkceRequirement::Off;
    let a = Service::new("a-service-key", "A");
    for s in [&b, &c, &a] {
        store.put_service(s).await.unwrap();
    }

    assert_eq!(
        store.service("b-service-key").await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        store.service("c-service-key").await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(store.service("missing").await.unwrap(), None);
    assert_eq!(
        store.services().await.unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );

    let mut b2 = Service::new("b-service-key", "B renamed");
    b2.token_type = TokenType::Bearer;
    store.put_service(&b2).await.unwrap();
    assert_eq!(
        store.service("b-service-key").await.unwrap(),
        Some(b2.clone())
    );
    assert_eq!(store.services().await.unwrap(), vec![a, b2, c]);
}

async fn clients_upsert_lookup_and_order(store: Arc<dyn Store>) {
    let full = Client {
        id: 3,
        external_id: Some(-42),
        name: "Full".into(),
        attributes: Some(r#"{"tier":"gold"}"#.into()),
        client_id: "key-three".into(),
        secret_hash: Some("hmac-sha256$salt$digest".into()),
        redirect_uris: vec!["https://a.example/cb".into(), "https://b.example/cb".into()],
        services: vec!["svc-1".into(), "svc-2".into()],
        status: ClientStatus::Disabled,
        allowed_scopes: Some(vec!["read".into(), "write".into()]),
    };
    // `Some(empty)` allows nothing and must not come back as `None` (which allows anything).
    let empty_scopes = Client {
        allowed_scopes: Some(vec![]),
        ..client(1, "key-one")
    };
    let minimal = client(2, "key-two");
    for c in [&full, &empty_scopes, &minimal] {
        store.put_client(c).await.unwrap();
    }

    assert_eq!(store.client("key-three").await.unwrap(), Some(full.clone()));
    assert_eq!(
        store.client("key-one").await.unwrap(),
        Some(empty_scopes.clone())
    );
    assert_eq!(
        store.client("key-two").await.unwrap(),
        Some(minimal.clone())
    );
    assert_eq!(store.client("missing").await.unwrap(), None);
    assert_eq!(
        store.clients().await.unwrap(),
        vec![empty_scopes.clone(), minimal, full.clone()]
    );

    // Upsert by numeric id, including a change of client_id.
    let renamed = Client {
        name: "Two".into(),
        status: ClientStatus::Disabled,
        ..client(2, "key-two-b")
    };
    store.put_client(&renamed).await.unwrap();
    assert_eq!(store.client("key-two").await.unwrap(), None);
    assert_eq!(
        store.client("key-two-b").await.unwrap(),
        Some(renamed.clone())
    );
    assert_eq!(
        store.clients().await.unwrap(),
        vec![empty_scopes, renamed, full]
    );
}

/// `service_and_client` answers as `service` and `client` would, whichever of the two exists,
/// and sees every update (issuance must never use a stale client).
async fn service_and_client_together(store: Arc<dyn Store>) {
    let mut service = Service::new("svc-together", "Together");
    service.token_type = TokenType::Mac(MacAlgorithm::HmacSha1);
    service.grants = vec![GrantType::Password];
    service.allow_query_tokens = true;
    service.scopes = Some(vec!["read".into()]);
    let app = Client {
        external_id: Some(7),
        attributes: Some("attrs".into()),
        secret_hash: Some("hmac-sha256$salt$digest".into()),
        redirect_uris: vec!["https://a.example/cb".into()],
        services: vec!["svc-together".into()],
        allowed_scopes: Some(vec!["read".into()]),
        ..client(9, "key-together")
    };
    let both = |s: &str, c: &str| {
        let (store, s, c) = (store.clone(), s.to_owned(), c.to_owned());
        async move { store.service_and_client(&s, &c).await.unwrap() }
    };
    assert_eq!(both("svc-together", "key-together").await, (None, None));
    store.put_service(&service).await.unwrap();
    assert_eq!(
        both("svc-together", "key-together").await,
        (Some(service.clone()), None)
    );
    store.put_client(&app).await.unwrap();
    assert_eq!(
        both("svc-together", "key-together").await,
        (Some(service.clone()), Some(app.clone()))
    );
    assert_eq!(
        both("missing", "key-together").await,
        (None, Some(app.clone()))
    );

    // A disabled client is seen disabled at once, and a client that changes its key is gone
    // under the old one.
    let disabled = Client {
        status: ClientStatus::Disabled,
        ..app.clone()
    };
    store.put_client(&disabled).await.unwrap();
    assert_eq!(
        both("svc-together", "key-together").await,
        (Some(service.clone()), Some(disabled.clone()))
    );
    let moved = Client {
        client_id: "key-moved".into(),
        ..app
    };
    store.put_client(&moved).await.unwrap();
    assert_eq!(
        both("svc-together", "key-together").await,
        (Some(service.clone()), None)
    );
    assert_eq!(
        both("svc-together", "key-moved").await,
        (Some(service), Some(moved))
    );
}

async fn client_id_belongs_to_one_client(store: Arc<dyn Store>) {
    let first = client(1, "shared-key");
    store.put_client(&first).await.unwrap();
    let err = store
        .put_client(&client(2, "shared-key"))
        .await
        .expect_err("a client_id owned by another id must be refused");
    assert!(err.is_store(), "{err:?}");
    assert_eq!(
        store.client("shared-key").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.clients().await.unwrap(), vec![first.clone()]);

    // Taking over a client_id fails for an existing id too, and changes nothing.
    let other = client(2, "other-key");
    store.put_client(&other).await.unwrap();
    let err = store
        .put_client(&client(2, "shared-key"))
        .await
        .expect_err("a client_id owned by another id must be refused");
    assert!(err.is_store(), "{err:?}");
    assert_eq!(store.clients().await.unwrap(), vec![first, other]);
}

// ---- authorization codes --------------------------------------------------------------------

async fn code_redeems_fresh_then_replayed(store: Arc<dyn Store>) {
    let with_everything = code();
    let bare = AuthorizationCode {
        redirect_uri: None,
        scope: None,
        user_context: None,
        pkce: None,
        ..code()
    };
    for c in [&with_everything, &bare] {
        store.insert_code(c).await.unwrap();
        // Reading a code marks nothing.
        for _ in 0..2 {
            assert_eq!(store.code(&c.code_hash).await.unwrap(), Some(c.clone()));
        }
        assert_eq!(
            store.redeem_code(&c.code_hash).await.unwrap(),
            Redemption::Fresh(c.clone())
        );
        let used = AuthorizationCode {
            used: true,
            ..c.clone()
        };
        assert_eq!(store.code(&c.code_hash).await.unwrap(), Some(used.clone()));
        assert_eq!(
            store.redeem_code(&c.code_hash).await.unwrap(),
            Redemption::Replayed(used.clone())
        );
        assert_eq!(
            store.redeem_code(&c.code_hash).await.unwrap(),
            Redemption::Replayed(used)
        );
    }
}

async fn unknown_code(store: Arc<dyn Store>) {
    store.insert_code(&code()).await.unwrap();
    let missing = TokenHash::of(&generate_token());
    assert_eq!(
        store.redeem_code(&missing).await.unwrap(),
        Redemption::Unknown
    );
    assert_eq!(store.code(&missing).await.unwrap(), None);
}

async fn concurrent_redemption_has_one_winner(store: Arc<dyn Store>) {
    let c = code();
    store.insert_code(&c).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.redeem_code(&c.code_hash).await.unwrap() })
        })
        .collect();
    let (mut fresh, mut replayed) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Redemption::Fresh(_) => fresh += 1,
            Redemption::Replayed(_) => replayed += 1,
            Redemption::Unknown => panic!("the code exists"),
        }
    }
    assert_eq!((fresh, replayed), (1, 19));
}

// ---- token records --------------------------------------------------------------------------

async fn token_round_trips_every_field(store: Arc<dyn Store>) {
    let full = TokenRecord {
        token_type: TokenType::Mac(MacAlgorithm::HmacSha1),
        grant_type: GrantType::AuthorizationCode,
        scope: Some("read write".into()),
        created_at: NOW - 5,
        expires_at: NOW + 7,
        revoked: true,
        refresh: Some(RefreshState {
            hash: TokenHash::of(&generate_token()),
            expires_at: NOW + 99 * HOUR,
            used: true,
        }),
        family_id: generate_id(),
        code_hash: Some(TokenHash::of(&generate_token())),
        ..record("svc", "app", Some("alice"))
    };
    let mac256 = TokenRecord {
        token_type: TokenType::Mac(MacAlgorithm::HmacSha256),
        grant_type: GrantType::RefreshToken,
        refresh: refresh(NOW + HOUR),
        ..record("svc", "app", None)
    };
    let bare = TokenRecord {
        grant_type: GrantType::ClientCredentials,
        ..record("svc", "app", None)
    };
    let implicit = TokenRecord {
        grant_type: GrantType::Implicit,
        created_at: -1,
        expires_at: i64::MAX,
        ..record("svc", "app", Some(""))
    };
    for t in [&full, &mac256, &bare, &implicit] {
        insert(&*store, t).await;
    }
    for t in [&full, &mac256, &bare, &implicit] {
        assert_eq!(store.token(&t.token_hash).await.unwrap().as_ref(), Some(t));
    }
    let missing = TokenHash::of(&generate_token());
    assert_eq!(store.token(&missing).await.unwrap(), None);
}

async fn token_by_refresh(store: Arc<dyn Store>) {
    let with = TokenRecord {
        refresh: refresh(NOW + HOUR),
        ..record("svc", "app", Some("alice"))
    };
    let without = record("svc", "app", Some("alice"));
    insert_all(&*store, &[&with, &without]).await;
    let refresh_hash = with.refresh.as_ref().unwrap().hash;

    assert_eq!(
        store.token_by_refresh(&refresh_hash).await.unwrap(),
        Some(with.clone())
    );
    // An access token hash is not a refresh token hash.
    assert_eq!(
        store.token_by_refresh(&with.token_hash).await.unwrap(),
        None
    );
    assert_eq!(
        store.token_by_refresh(&without.token_hash).await.unwrap(),
        None
    );
    let missing = TokenHash::of(&generate_token());
    assert_eq!(store.token_by_refresh(&missing).await.unwrap(), None);
}

async fn tokens_by_list(store: Arc<dyn Store>) {
    assert!(store.tokens(&[]).await.unwrap().is_empty());
    let revoked = TokenRecord {
        revoked: true,
        ..record("svc", "app", Some("bob"))
    };
    let expired = TokenRecord {
        expires_at: NOW - HOUR,
        ..record("other", "app", None)
    };
    let with_refresh = TokenRecord {
        refresh: refresh(NOW + HOUR),
        ..record("svc", "app", Some("alice"))
    };
    let mut stored = vec![revoked, expired, with_refresh.clone()];
    stored.extend((0..297).map(|i| record("svc", "app", Some(&format!("user-{i}")))));
    // The holding client first (one registration), then the records concurrently.
    for record in &stored {
        hold(&*store, record).await;
    }
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in stored.chunks(30) {
        let (store, chunk) = (store.clone(), chunk.to_vec());
        tasks.spawn(async move {
            for record in &chunk {
                store.insert_token(record).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    // More hashes than SQLite's old limit of 999 bound variables: stored ones of any status
    // and service, missing ones, a refresh token's hash (not an access token's) and repeats.
    let mut asked: Vec<TokenHash> = stored.iter().map(|r| r.token_hash).collect();
    asked.extend((0..800).map(|_| TokenHash::of(&generate_token())));
    asked.push(with_refresh.refresh.as_ref().unwrap().hash);
    asked.extend(stored[..5].iter().map(|r| r.token_hash));
    let found = store.tokens(&asked).await.unwrap();
    assert_eq!(found.len(), stored.len(), "each stored record once");
    let mut by_hash: std::collections::HashMap<TokenHash, TokenRecord> =
        found.into_iter().map(|r| (r.token_hash, r)).collect();
    for record in &stored {
        assert_eq!(by_hash.remove(&record.token_hash).as_ref(), Some(record));
    }

    let missing: Vec<TokenHash> = (0..3).map(|_| TokenHash::of(&generate_token())).collect();
    assert!(store.tokens(&missing).await.unwrap().is_empty());
    assert_eq!(
        store.tokens(&[stored[7].token_hash]).await.unwrap(),
        vec![stored[7].clone()]
    );
}

/// The record that rotating `from` would store.
fn successor(from: &TokenRecord) -> TokenRecord {
    TokenRecord {
        grant_type: GrantType::RefreshToken,
        refresh: refresh(NOW + 2 * HOUR),
        family_id: from.family_id.clone(),
        created_at: from.created_at + 1,
        ..record(
            &from.service_key,
            &from.client_id,
            from.user_context.as_deref(),
        )
    }
}

async fn rotate_refresh_then_reused(store: Arc<dyn Store>) {
    let first = TokenRecord {
        refresh: refresh(NOW + HOUR),
        ..record("svc", "app", Some("alice"))
    };
    insert(&*store, &first).await;
    let old = first.refresh.as_ref().unwrap().hash;

    let second = successor(&first);
    assert_eq!(
        store.rotate_refresh(&old, &second).await.unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        store.token(&second.token_hash).await.unwrap(),
        Some(second.clone())
    );
    let new = second.refresh.as_ref().unwrap().hash;
    assert_eq!(
        store.token_by_refresh(&new).await.unwrap(),
        Some(second.clone())
    );
    // The old record is unchanged but for its refresh token being used.
    let mut expected = first.clone();
    expected.refresh.as_mut().unwrap().used = true;
    assert_eq!(store.token_by_refresh(&old).await.unwrap(), Some(expected));

    let third = successor(&first);
    assert_eq!(
        store.rotate_refresh(&old, &third).await.unwrap(),
        Rotation::Reused
    );
    assert_eq!(store.token(&third.token_hash).await.unwrap(), None);

    // The new refresh token rotates in turn.
    let fourth = successor(&second);
    assert_eq!(
        store.rotate_refresh(&new, &fourth).await.unwrap(),
        Rotation::Rotated
    );
    assert_eq!(store.token(&fourth.token_hash).await.unwrap(), Some(fourth));
}

async fn rotate_unknown_refresh_stores_nothing(store: Arc<dyn Store>) {
    let plain = record("svc", "app", Some("alice"));
    insert(&*store, &plain).await;
    for presented in [TokenHash::of(&generate_token()), plain.token_hash] {
        let next = successor(&plain);
        assert_eq!(
            store.rotate_refresh(&presented, &next).await.unwrap(),
            Rotation::Unknown
        );
        assert_eq!(store.token(&next.token_hash).await.unwrap(), None);
        let next_refresh = next.refresh.as_ref().unwrap().hash;
        assert_eq!(store.token_by_refresh(&next_refresh).await.unwrap(), None);
    }
}

async fn concurrent_rotation_has_one_winner(store: Arc<dyn Store>) {
    let first = TokenRecord {
        refresh: refresh(NOW + HOUR),
        ..record("svc", "app", Some("alice"))
    };
    insert(&*store, &first).await;
    let old = first.refresh.as_ref().unwrap().hash;
    let nexts: Vec<TokenRecord> = (0..20).map(|_| successor(&first)).collect();
    let tasks: Vec<_> = nexts
        .iter()
        .cloned()
        .map(|next| {
            let store = store.clone();
            tokio::spawn(async move { store.rotate_refresh(&old, &next).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let rotated = outcomes.iter().filter(|o| **o == Rotation::Rotated).count();
    let reused = outcomes.iter().filter(|o| **o == Rotation::Reused).count();
    assert_eq!((rotated, reused), (1, 19));

    let mut stored = Vec::new();
    for next in &nexts {
        if let Some(found) = store.token(&next.token_hash).await.unwrap() {
            assert_eq!(&found, next);
            stored.push(found);
        }
    }
    assert_eq!(stored.len(), 1, "exactly one successor is stored");
    let owner = store.tokens_by_owner("svc", "alice").await.unwrap();
    assert_eq!(owner.len(), 2, "the first record and one successor");
}

// ---- revocation -----------------------------------------------------------------------------

async fn revoke_token(store: Arc<dyn Store>) {
    let a = record("svc", "app", Some("alice"));
    let b = record("svc", "app", Some("alice"));
    let gone = TokenRecord {
        revoked: true,
        ..record("svc", "app", Some("alice"))
    };
    insert_all(&*store, &[&a, &b, &gone]).await;

    assert_eq!(
        store
            .revoke(Revocation::Token(&a.token_hash))
            .await
            .unwrap(),
        vec![a.token_hash]
    );
    assert!(is_revoked(&*store, &a).await);
    assert!(!is_revoked(&*store, &b).await, "only the one token");
    assert_eq!(
        store
            .revoke(Revocation::Token(&a.token_hash))
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .revoke(Revocation::Token(&gone.token_hash))
            .await
            .unwrap(),
        vec![]
    );
    let missing = TokenHash::of(&generate_token());
    assert_eq!(
        store.revoke(Revocation::Token(&missing)).await.unwrap(),
        vec![]
    );
}

async fn revoke_family(store: Arc<dyn Store>) {
    let head = TokenRecord {
        refresh: refresh(NOW + HOUR),
        ..record("svc", "app", Some("alice"))
    };
    let next = successor(&head);
    let dead = TokenRecord {
        revoked: true,
        ..successor(&head)
    };
    let stranger = record("svc", "app", Some("alice"));
    insert_all(&*store, &[&head, &next, &dead, &stranger]).await;

    let revoked = store
        .revoke(Revocation::Family(&head.family_id))
        .await
        .unwrap();
    assert_eq!(set(revoked), hashes([&head, &next]));
    assert!(is_revoked(&*store, &next).await);
    assert!(!is_revoked(&*store, &stranger).await);
    assert_eq!(
        store
            .revoke(Revocation::Family(&head.family_id))
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store.revoke(Revocation::Family("nope")).await.unwrap(),
        vec![]
    );
}

async fn revoke_code(store: Arc<dyn Store>) {
    let code_hash = TokenHash::of(&generate_token());
    let from_code = TokenRecord {
        code_hash: Some(code_hash),
        ..record("svc", "app", Some("alice"))
    };
    let also_from_code = TokenRecord {
        code_hash: Some(code_hash),
        ..successor(&from_code)
    };
    let dead = TokenRecord {
        code_hash: Some(code_hash),
        revoked: true,
        ..record("svc", "app", Some("alice"))
    };
    let other_code = TokenRecord {
        code_hash: Some(TokenHash::of(&generate_token())),
        ..record("svc", "app", Some("alice"))
    };
    let no_code = record("svc", "app", Some("alice"));
    insert_all(
        &*store,
        &[&from_code, &also_from_code, &dead, &other_code, &no_code],
    )
    .await;

    let revoked = store.revoke(Revocation::Code(&code_hash)).await.unwrap();
    assert_eq!(set(revoked), hashes([&from_code, &also_from_code]));
    assert!(!is_revoked(&*store, &other_code).await);
    assert!(!is_revoked(&*store, &no_code).await);
    assert_eq!(
        store.revoke(Revocation::Code(&code_hash)).await.unwrap(),
        vec![]
    );
}

async fn revoke_user_application(store: Arc<dyn Store>) {
    let alice1 = record("svc", "app", Some("alice"));
    let alice2 = TokenRecord {
        refresh: refresh(NOW + HOUR),
        ..record("svc", "app", Some("alice"))
    };
    let alice_dead = TokenRecord {
        revoked: true,
        ..record("svc", "app", Some("alice"))
    };
    let no_user = record("svc", "app", None);
    let bob = record("svc", "app", Some("bob"));
    let other_app = record("svc", "other-app", Some("alice"));
    let other_service = record("svc-2", "app", Some("alice"));
    let all = [
        &alice1,
        &alice2,
        &alice_dead,
        &no_user,
        &bob,
        &other_app,
        &other_service,
    ];
    insert_all(&*store, &all).await;

    let alice = Revocation::UserApplication {
        service_key: "svc",
        client_id: "app",
        user_context: Some("alice"),
    };
    assert_eq!(
        set(store.revoke(alice).await.unwrap()),
        hashes([&alice1, &alice2])
    );
    assert_eq!(store.revoke(alice).await.unwrap(), vec![]);

    // `None` selects the tokens without a user context, and only those.
    let nobody = Revocation::UserApplication {
        service_key: "svc",
        client_id: "app",
        user_context: None,
    };
    assert_eq!(
        store.revoke(nobody).await.unwrap(),
        vec![no_user.token_hash]
    );
    assert_eq!(store.revoke(nobody).await.unwrap(), vec![]);

    for untouched in [&bob, &other_app, &other_service] {
        assert!(!is_revoked(&*store, untouched).await);
    }
}

// ---- updates, listings, purging -------------------------------------------------------------

async fn update_token_fields(store: Arc<dyn Store>) {
    let mut expected = TokenRecord {
        scope: Some("read".into()),
        refresh: refresh(NOW + HOUR),
        ..record("svc", "app", Some("alice"))
    };
    let neighbour = record("svc", "app", Some("alice"));
    insert_all(&*store, &[&expected, &neighbour]).await;
    let hash = expected.token_hash;

    let updates = [
        TokenUpdate {
            scope: Some("read write".into()),
            ..TokenUpdate::default()
        },
        TokenUpdate {
            expires_at: Some(NOW + 10 * HOUR),
            ..TokenUpdate::default()
        },
        TokenUpdate {
            user_context: Some("alice@example".into()),
            ..TokenUpdate::default()
        },
        TokenUpdate::default(),
        TokenUpdate {
            scope: Some("admin".into()),
            expires_at: Some(NOW),
            user_context: Some("carol".into()),
        },
    ];
    for update in updates {
        assert!(store.update_token(&hash, &update).await.unwrap());
        if let Some(scope) = &update.scope {
            expected.scope = Some(scope.clone());
        }
        if let Some(expires_at) = update.expires_at {
            expected.expires_at = expires_at;
        }
        if let Some(user_context) = &update.user_context {
            expected.user_context = Some(user_context.clone());
        }
        assert_eq!(
            store.token(&hash).await.unwrap(),
            Some(expected.clone()),
            "after {update:?}"
        );
    }
    assert_eq!(
        store.token(&neighbour.token_hash).await.unwrap(),
        Some(neighbour)
    );

    let missing = TokenHash::of(&generate_token());
    let update = TokenUpdate {
        scope: Some("x".into()),
        ..TokenUpdate::default()
    };
    assert!(!store.update_token(&missing, &update).await.unwrap());
    assert_eq!(store.token(&missing).await.unwrap(), None);
}

async fn tokens_by_owner_filters_and_orders(store: Arc<dyn Store>) {
    let at = |created_at: i64, t: TokenRecord| TokenRecord { created_at, ..t };
    let oldest = at(NOW, record("svc", "app", Some("alice")));
    let newest = at(NOW + 20, record("svc", "other-app", Some("alice")));
    let middle = TokenRecord {
        revoked: true,
        ..at(NOW + 10, record("svc", "app", Some("alice")))
    };
    let noise = [
        record("svc", "app", Some("bob")),
        record("svc-2", "app", Some("alice")),
        record("svc", "app", None),
        record("svc", "app", Some("Alice")),
    ];
    insert_all(&*store, &[&oldest, &newest, &middle]).await;
    for t in &noise {
        insert(&*store, t).await;
    }

    assert_eq!(
        store.tokens_by_owner("svc", "alice").await.unwrap(),
        vec![newest, middle, oldest]
    );
    assert_eq!(store.tokens_by_owner("svc", "carol").await.unwrap(), vec![]);
    assert_eq!(
        store.tokens_by_owner("svc-3", "alice").await.unwrap(),
        vec![]
    );
}

/// Walks every page of `owner`'s listing with pages of `limit`; returns the ids in order.
async fn walk(store: &dyn Store, owner: Option<&str>, limit: u32) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<TokenCursor> = None;
    loop {
        let page = store
            .list_tokens(owner, cursor.as_ref(), limit)
            .await
            .unwrap();
        assert!(page.len() <= limit as usize);
        let Some(last) = page.last() else { break };
        cursor = Some(TokenCursor::after(last));
        seen.extend(page.iter().map(|t| t.id.clone()));
    }
    seen
}

async fn list_tokens_pages_newest_first_through_ties(store: Arc<dyn Store>) {
    // 60 records over 12 distinct milliseconds: five share each `created_at`, so page
    // boundaries fall between records of the same millisecond.
    let mut all = Vec::new();
    for i in 0..60 {
        let t = TokenRecord {
            created_at: NOW + i / 5,
            revoked: i % 7 == 0,
            expires_at: if i % 3 == 0 { NOW - 1 } else { NOW + HOUR },
            ..record(["svc", "svc-2"][i as usize % 2], "app", Some("alice"))
        };
        insert(&*store, &t).await;
        all.push(t);
    }
    let mut expected = all.clone();
    expected.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let expected_ids: Vec<String> = expected.iter().map(|t| t.id.clone()).collect();

    // Every record, whatever its service, status or expiry, and each record whole.
    let first = store.list_tokens(None, None, 1000).await.unwrap();
    assert_eq!(first, expected);
    for limit in [1, 4, 5, 7, 59, 60, 61] {
        assert_eq!(
            walk(&*store, None, limit).await,
            expected_ids,
            "limit {limit}"
        );
    }
    assert_eq!(store.list_tokens(None, None, 0).await.unwrap(), vec![]);

    // A cursor from a record that is gone still positions the listing.
    let gone = TokenCursor {
        created_at: NOW + 6,
        id: "8".repeat(32),
    };
    let after_gone = store.list_tokens(None, Some(&gone), 1000).await.unwrap();
    let want: Vec<&TokenRecord> = expected.iter().filter(|t| gone.precedes(t)).collect();
    assert_eq!(after_gone.iter().collect::<Vec<_>>(), want);
    assert!(!want.is_empty() && want.len() < expected.len());
}

async fn list_tokens_by_owner(store: Arc<dyn Store>) {
    let at = |created_at: i64, t: TokenRecord| TokenRecord { created_at, ..t };
    let alice_old = at(NOW, record("svc", "app", Some("alice")));
    let alice_new = at(NOW + 10, record("svc-2", "other-app", Some("alice")));
    // No user context: owned by the client.
    let app_own = at(NOW + 5, record("svc", "app", None));
    let app_own_too = TokenRecord {
        grant_type: GrantType::ClientCredentials,
        ..at(NOW + 5, record("svc", "app", None))
    };
    let noise = [
        record("svc", "app", Some("bob")),
        record("svc", "alice", Some("carol")), // a client named like the owner, with a user
        record("svc", "Alice", None),
    ];
    insert_all(&*store, &[&alice_old, &alice_new, &app_own, &app_own_too]).await;
    for t in &noise {
        insert(&*store, t).await;
    }

    assert_eq!(
        store.list_tokens(Some("alice"), None, 100).await.unwrap(),
        vec![alice_new.clone(), alice_old.clone()]
    );
    let mut apps = vec![app_own.clone(), app_own_too.clone()];
    apps.sort_by(|a, b| b.id.cmp(&a.id));
    assert_eq!(
        store.list_tokens(Some("app"), None, 100).await.unwrap(),
        apps
    );
    assert_eq!(
        walk(&*store, Some("app"), 1).await,
        apps.iter().map(|t| t.id.clone()).collect::<Vec<_>>()
    );
    let page = store
        .list_tokens(Some("alice"), Some(&TokenCursor::after(&alice_new)), 100)
        .await
        .unwrap();
    assert_eq!(page, vec![alice_old]);
    assert_eq!(
        store.list_tokens(Some("dave"), None, 100).await.unwrap(),
        vec![]
    );
}

async fn purge_expired_respects_before_and_limit(store: Arc<dyn Store>) {
    let cutoff = NOW;
    let expiring = |expires_at: i64, refresh_expires_at: Option<i64>| TokenRecord {
        expires_at,
        refresh: refresh_expires_at.and_then(refresh),
        ..record("svc", "app", Some("alice"))
    };
    let doomed_tokens = [
        expiring(cutoff - HOUR, None),
        expiring(cutoff - 2 * HOUR, None),
        expiring(cutoff - 1, None),
        expiring(cutoff - HOUR, Some(cutoff - 1)),
    ];
    let kept_tokens = [
        expiring(cutoff, None),                    // expires exactly at `before`
        expiring(cutoff + HOUR, None),             // unexpired
        expiring(cutoff - HOUR, Some(cutoff + 1)), // refresh token still valid
        expiring(cutoff + HOUR, Some(cutoff - 1)), // access token still valid
    ];
    let doomed_code = AuthorizationCode {
        expires_at: cutoff - 1,
        ..code()
    };
    let kept_code = AuthorizationCode {
        expires_at: cutoff,
        ..code()
    };
    for t in doomed_tokens.iter().chain(&kept_tokens) {
        insert(&*store, t).await;
    }
    store.insert_code(&doomed_code).await.unwrap();
    store.insert_code(&kept_code).await.unwrap();
    let doomed_total = doomed_tokens.len() as u64 + 1;

    assert_eq!(
        store.purge_expired(cutoff - 3 * HOUR, 100).await.unwrap(),
        0
    );
    assert_eq!(store.purge_expired(cutoff, 0).await.unwrap(), 0);
    assert_eq!(store.purge_expired(cutoff, 2).await.unwrap(), 2);
    assert_eq!(
        store.purge_expired(cutoff, 100).await.unwrap(),
        doomed_total - 2
    );
    assert_eq!(store.purge_expired(cutoff, 100).await.unwrap(), 0);

    for t in &doomed_tokens {
        assert_eq!(store.token(&t.token_hash).await.unwrap(), None);
        if let Some(r) = &t.refresh {
            assert_eq!(store.token_by_refresh(&r.hash).await.unwrap(), None);
        }
    }
    for t in &kept_tokens {
        assert_eq!(store.token(&t.token_hash).await.unwrap().as_ref(), Some(t));
    }
    assert_eq!(
        store.redeem_code(&doomed_code.code_hash).await.unwrap(),
        Redemption::Unknown
    );
    assert_eq!(
        store.redeem_code(&kept_code.code_hash).await.unwrap(),
        Redemption::Fresh(kept_code)
    );
}

async fn duplicate_inserts_are_errors(store: Arc<dyn Store>) {
    let first = record("svc", "app", Some("alice"));
    insert(&*store, &first).await;
    let same_hash = TokenRecord {
        id: generate_id(),
        ..first.clone()
    };
    assert!(store.insert_token(&same_hash).await.unwrap_err().is_store());
    assert_eq!(store.token(&first.token_hash).await.unwrap(), Some(first));
    let c = code();
    store.insert_code(&c).await.unwrap();
    assert!(store.insert_code(&c).await.unwrap_err().is_store());
    assert!(matches!(
        store.redeem_code(&c.code_hash).await.unwrap(),
        Redemption::Fresh(_)
    ));
}

// ---- token validity follows the registry ------------------------------------------------------

/// Whether every lookup by hash finds `record` (`token`, `tokens`, and `token_by_refresh` when
/// it has a refresh token); panics when they disagree.
async fn found(store: &dyn Store, record: &TokenRecord) -> Option<TokenRecord> {
    let one = store.token(&record.token_hash).await.unwrap();
    let listed = store.tokens(&[record.token_hash]).await.unwrap();
    assert_eq!(listed.first(), one.as_ref(), "token and tokens disagree");
    if let Some(refresh) = &record.refresh {
        let by_refresh = store.token_by_refresh(&refresh.hash).await.unwrap();
        assert_eq!(by_refresh, one, "token and token_by_refresh disagree");
    }
    one
}

async fn tokens_are_found_only_while_their_client_holds_them(store: Arc<dyn Store>) {
    let orphan = TokenRecord {
        refresh: refresh(NOW + HOUR),
        ..record("svc", "nobody", None)
    };
    store.insert_token(&orphan).await.unwrap();
    assert_eq!(found(&*store, &orphan).await, None, "no client");
    let elsewhere = TokenRecord {
        refresh: refresh(NOW + HOUR),
        ..record("other-svc", "app", None)
    };
    store.insert_token(&elsewhere).await.unwrap();
    store
        .put_client(&Client {
            services: vec!["svc".into()],
            ..client(1, "app")
        })
        .await
        .unwrap();
    assert_eq!(found(&*store, &elsewhere).await, None, "service not listed");
    let held = TokenRecord {
        refresh: refresh(NOW + HOUR),
        ..record("svc", "app", None)
    };
    store.insert_token(&held).await.unwrap();
    assert_eq!(found(&*store, &held).await, Some(held.clone()));
    let everything = store
        .tokens(&[orphan.token_hash, elsewhere.token_hash, held.token_hash])
        .await
        .unwrap();
    assert_eq!(everything, vec![held]);
}

async fn disabling_a_client_ends_its_tokens_for_good(store: Arc<dyn Store>) {
    let app = Client {
        services: vec!["a".into(), "b".into()],
        ..client(1, "app")
    };
    store.put_client(&app).await.unwrap();
    let on_a = TokenRecord {
        refresh: refresh(NOW + HOUR),
        ..record("a", "app", Some("alice"))
    };
    let on_b = record("b", "app", None);
    let dead = TokenRecord {
        revoked: true,
        ..record("a", "app", None)
    };
    let neighbour = record("a", "other", None);
    insert_all(&*store, &[&on_a, &on_b, &dead, &neighbour]).await;

    // Storing the same client again ends nothing.
    assert!(store.put_client(&app).await.unwrap().is_empty());
    let disabled = Client {
        status: ClientStatus::Disabled,
        ..app.clone()
    };
    let ended = store.put_client(&disabled).await.unwrap();
    assert_eq!(set(ended), hashes([&on_a, &on_b]), "the live ones, once");
    for t in [&on_a, &on_b, &dead] {
        assert_eq!(found(&*store, t).await, None);
    }
    assert_eq!(found(&*store, &neighbour).await, Some(neighbour.clone()));

    // Enabled again: the client holds them again, but they were revoked with the disable.
    assert!(store.put_client(&app).await.unwrap().is_empty());
    for t in [&on_a, &on_b] {
        let again = found(&*store, t).await.expect("held again");
        assert!(again.revoked, "re-enabling must not bring a token back");
    }
    assert!(!is_revoked(&*store, &neighbour).await);
}

async fn taking_a_service_from_a_client_ends_its_tokens_there(store: Arc<dyn Store>) {
    let app = Client {
        services: vec!["a".into(), "b".into()],
        ..client(1, "app")
    };
    store.put_client(&app).await.unwrap();
    let on_a = record("a", "app", None);
    let on_b = record("b", "app", None);
    insert_all(&*store, &[&on_a, &on_b]).await;
    let only_b = Client {
        services: vec!["b".into(), "c".into()],
        ..app.clone()
    };
    let ended = store.put_client(&only_b).await.unwrap();
    assert_eq!(ended, vec![on_a.token_hash]);
    assert_eq!(found(&*store, &on_a).await, None);
    assert_eq!(found(&*store, &on_b).await, Some(on_b.clone()));
    // Listed again: still revoked.
    store.put_client(&app).await.unwrap();
    assert!(is_revoked(&*store, &on_a).await);
    assert!(!is_revoked(&*store, &on_b).await);
}

async fn services_are_deleted_by_key(store: Arc<dyn Store>) {
    store.put_service(&Service::new("a", "A")).await.unwrap();
    store.put_service(&Service::new("b", "B")).await.unwrap();
    assert!(store.delete_service("a").await.unwrap());
    assert!(!store.delete_service("a").await.unwrap(), "gone already");
    assert_eq!(store.service("a").await.unwrap(), None);
    let keys: Vec<String> = store
        .services()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(keys, ["b"]);
}

async fn meta_values_round_trip(store: Arc<dyn Store>) {
    assert_eq!(store.meta("pepper_check").await.unwrap(), None);
    store.set_meta("pepper_check", "one").await.unwrap();
    store.set_meta("other", "x").await.unwrap();
    store.set_meta("pepper_check", "two").await.unwrap();
    assert_eq!(
        store.meta("pepper_check").await.unwrap().as_deref(),
        Some("two")
    );
    assert_eq!(store.meta("other").await.unwrap().as_deref(), Some("x"));

    // Insert-if-absent: the first value claimed stays, and every later claim returns it.
    assert_eq!(store.claim_meta("first", "a").await.unwrap(), "a");
    assert_eq!(store.claim_meta("first", "b").await.unwrap(), "a");
    assert_eq!(store.meta("first").await.unwrap().as_deref(), Some("a"));
    assert_eq!(store.claim_meta("other", "y").await.unwrap(), "x");
}

async fn previous_secrets_are_replaced_and_go_with_their_client(store: Arc<dyn Store>) {
    store.put_client(&client(1, "app")).await.unwrap();
    assert_eq!(store.previous_secret("app").await.unwrap(), None);
    let first = PreviousSecret {
        secret_hash: "old-hash".into(),
        successor_hash: "new-hash".into(),
        valid_until: 1_700_000_000_000,
    };
    store.put_previous_secret("app", &first).await.unwrap();
    assert_eq!(store.previous_secret("app").await.unwrap(), Some(first));
    let second = PreviousSecret {
        secret_hash: "new-hash".into(),
        successor_hash: "newer-hash".into(),
        valid_until: 1_700_000_600_000,
    };
    store.put_previous_secret("app", &second).await.unwrap();
    assert_eq!(store.previous_secret("app").await.unwrap(), Some(second));
    assert_eq!(store.previous_secret("other").await.unwrap(), None);

    store.delete_client("app").await.unwrap().unwrap();
    assert_eq!(store.previous_secret("app").await.unwrap(), None);
}

async fn deleting_or_renaming_a_client_ends_its_tokens(store: Arc<dyn Store>) {
    let app = Client {
        services: vec!["svc".into()],
        ..client(1, "app")
    };
    store.put_client(&app).await.unwrap();
    let first = record("svc", "app", None);
    insert(&*store, &first).await;
    let renamed = Client {
        client_id: "app-2".into(),
        ..app.clone()
    };
    assert_eq!(
        store.put_client(&renamed).await.unwrap(),
        vec![first.token_hash]
    );
    assert_eq!(found(&*store, &first).await, None);
    // The old key registered again (another id): its old token stays revoked.
    store
        .put_client(&Client {
            id: 2,
            ..app.clone()
        })
        .await
        .unwrap();
    assert!(is_revoked(&*store, &first).await);

    let second = record("svc", "app-2", None);
    insert(&*store, &second).await;
    assert_eq!(
        store.delete_client("app-2").await.unwrap(),
        Some(vec![second.token_hash])
    );
    assert_eq!(store.client("app-2").await.unwrap(), None);
    assert_eq!(found(&*store, &second).await, None);
    assert_eq!(store.delete_client("app-2").await.unwrap(), None);
    // Registered anew under the same key: the deleted client's token does not come back.
    store.put_client(&renamed).await.unwrap();
    assert!(is_revoked(&*store, &second).await);
}

/// A PostgreSQL test whose database does not answer fails, naming the database: it is never
/// counted as passed (this test runs one of the suite's PostgreSQL tests in a child process of
/// this binary, pointed at a port nothing listens on).
#[cfg(feature = "postgres")]
#[test]
fn a_postgres_test_without_its_database_fails_and_says_why() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "postgres::revoke_token", "--test-threads=1"])
        .env(pg::ENV, &url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("0 passed; 1 failed"), "{stdout}");
    assert!(
        stdout.contains(&format!("{}={url} does not answer", pg::ENV)),
        "{stdout}"
    );
}
