//! What only the SQLite store promises: durability, the file's contents, its settings, and
//! behaviour across connections and processes. The shared behaviour is in `store_conformance.rs`.
#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlx::Connection;
use tokengate::model::{
    AuthorizationCode, Client, ClientStatus, GrantType, PkceRequirement, RefreshState, Service,
    TokenRecord, TokenType,
};
use tokengate::secret::{generate_id, generate_token, TokenHash};
use tokengate::store::{Redemption, Rotation, SqliteStore, Store};

const NOW: i64 = 1_700_000_000_000;

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("tokengate.db")
}

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path.to_str().unwrap()).await.unwrap()
}

/// [`open`], with the client that holds the records of [`token_with_secrets`] registered (a
/// token is only found while its client holds it).
async fn open_holding(path: &Path) -> SqliteStore {
    let store = open(path).await;
    store.put_client(&public_app(&["svc"])).await.unwrap();
    store
}

/// The active public client `app` (id 1), registered for `services`.
fn public_app(services: &[&str]) -> Client {
    Client {
        id: 1,
        external_id: None,
        name: "App".into(),
        attributes: None,
        client_id: "app".into(),
        secret_hash: None,
        redirect_uris: vec![],
        services: services.iter().map(|s| s.to_string()).collect(),
        status: ClientStatus::Active,
        allowed_scopes: None,
    }
}

/// A plain connection to the file, outside the store.
async fn raw(path: &Path) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

/// A token record whose hashes come from the returned raw (access token, refresh token).
fn token_with_secrets(code_hash: Option<TokenHash>) -> (TokenRecord, String, String) {
    let (access, refresh) = (generate_token(), generate_token());
    let id = generate_id();
    let record = TokenRecord {
        id: id.clone(),
        token_hash: TokenHash::of(&access),
        service_key: "svc".into(),
        client_id: "app".into(),
        token_type: TokenType::Bearer,
        grant_type: GrantType::AuthorizationCode,
        scope: Some("read".into()),
        user_context: Some("alice".into()),
        created_at: NOW,
        expires_at: NOW + 3_600_000,
        revoked: false,
        refresh: Some(RefreshState {
            hash: TokenHash::of(&refresh),
            expires_at: NOW + 7_200_000,
            used: false,
        }),
        family_id: id,
        code_hash,
    };
    (record, access, refresh)
}

fn code_with_secret() -> (AuthorizationCode, String) {
    let raw = generate_token();
    let code = AuthorizationCode {
        code_hash: TokenHash::of(&raw),
        service_key: "svc".into(),
        client_id: "app".into(),
        redirect_uri: None,
        scope: None,
        user_context: Some("alice".into()),
        pkce: None,
        expires_at: NOW + 300_000,
        used: false,
    };
    (code, raw)
}

#[tokio::test]
async fn data_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let service = Service::new("svc-key-0123456789abcdef", "API");
    let client = Client {
        id: 7,
        external_id: Some(70),
        name: "App".into(),
        attributes: None,
        client_id: "app".into(),
        secret_hash: Some("hmac-sha256$s$d".into()),
        redirect_uris: vec!["https://app.example/cb".into()],
        services: vec![service.key.clone(), "svc".into()],
        status: ClientStatus::Active,
        allowed_scopes: None,
    };
    let (code, _) = code_with_secret();
    let (token, _, _) = token_with_secrets(Some(code.code_hash));

    let store = open(&path).await;
    store.put_service(&service).await.unwrap();
    store.put_client(&client).await.unwrap();
    store.insert_code(&code).await.unwrap();
    store.insert_token(&token).await.unwrap();
    store.close().await;

    // Every accepted spelling of the location opens the same file; reopening migrates nothing.
    for location in [
        format!("sqlite://{}", path.display()),
        format!("sqlite:{}", path.display()),
        path.display().to_string(),
    ] {
        let store = SqliteStore::open(&location).await.unwrap();
        assert_eq!(
            store.service(&service.key).await.unwrap(),
            Some(service.clone())
        );
        assert_eq!(store.client("app").await.unwrap(), Some(client.clone()));
        assert_eq!(
            store.token(&token.token_hash).await.unwrap(),
            Some(token.clone())
        );
        store.close().await;
    }

    let store = open(&path).await;
    assert_eq!(
        store.redeem_code(&code.code_hash).await.unwrap(),
        Redemption::Fresh(code.clone())
    );
    store.close().await;
    let store = open(&path).await;
    assert!(matches!(
        store.redeem_code(&code.code_hash).await.unwrap(),
        Redemption::Replayed(_)
    ));
}

/// The main file and its WAL, concatenated.
fn file_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(more) = std::fs::read(&wal) {
        bytes.extend(more);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn the_file_never_holds_a_raw_token_refresh_token_or_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path).await;
    let mut secrets = Vec::new();
    let mut hashes = Vec::new();
    for _ in 0..3 {
        let (code, raw_code) = code_with_secret();
        let (token, access, refresh) = token_with_secrets(Some(code.code_hash));
        let (next, next_access, next_refresh) = token_with_secrets(None);
        store.insert_code(&code).await.unwrap();
        store.redeem_code(&code.code_hash).await.unwrap();
        store.insert_token(&token).await.unwrap();
        let old_refresh = token.refresh.as_ref().unwrap().hash;
        assert_eq!(
            store.rotate_refresh(&old_refresh, &next).await.unwrap(),
            Rotation::Rotated
        );
        secrets.extend([raw_code, access, refresh, next_access, next_refresh]);
        hashes.extend([
            code.code_hash,
            token.token_hash,
            old_refresh,
            next.token_hash,
            next.refresh.unwrap().hash,
        ]);
    }

    // While open (the data is in the WAL) and after closing (checkpointed into the main file).
    let open_bytes = file_bytes(&path);
    store.close().await;
    let closed_bytes = file_bytes(&path);
    for bytes in [open_bytes, closed_bytes] {
        for secret in &secrets {
            assert!(!contains(&bytes, secret), "raw secret {secret} in the file");
        }
        for hash in &hashes {
            assert!(
                contains(&bytes, &hash.to_hex()),
                "hash {hash:?} not in the file"
            );
        }
    }
}

#[tokio::test]
async fn the_file_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw(&path).await)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    store.close().await;
}

/// Each statement corrupts one row the way a bad migration or a hand edit could; every read
/// of that row must then fail with a store error (and lookups of other rows keep working).
#[tokio::test]
async fn corrupt_rows_are_store_errors() {
    // (sabotage, how many of the reads below must fail)
    let cases = [
        ("UPDATE services SET token_type = 'mac:hmac-md5'", 2),
        ("UPDATE services SET grants = '[\"telepathy\"]'", 2),
        ("UPDATE services SET grants = 'not json'", 2),
        ("UPDATE services SET access_token_ttl = -1", 2),
        ("UPDATE clients SET status = 'banished'", 2),
        (
            "UPDATE clients SET redirect_uris = '{\"not\": \"a list\"}'",
            2,
        ),
        ("UPDATE clients SET allowed_scopes = '[1, 2]'", 2),
        ("UPDATE tokens SET grant_type = 'telepathy'", 3),
        ("UPDATE tokens SET token_type = 'carrier-pigeon'", 3),
        ("UPDATE tokens SET code_hash = 'zz'", 3),
        // The record can no longer be found by these hashes, but listings still meet it.
        ("UPDATE tokens SET token_hash = 'short'", 2),
        ("UPDATE tokens SET refresh_hash = 'xyz'", 2),
    ];
    for (sql, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = db_path(&dir);
        let store = open(&path).await;
        store
            .put_service(&Service::new("svc", "API"))
            .await
            .unwrap();
        let client = public_app(&["svc"]);
        store.put_client(&client).await.unwrap();
        let (token, _, _) = token_with_secrets(None);
        store.insert_token(&token).await.unwrap();
        sqlx::query(sql)
            .execute(&mut raw(&path).await)
            .await
            .unwrap();

        let refresh = token.refresh.as_ref().unwrap().hash;
        let failures: Vec<_> = [
            store.service("svc").await.err(),
            store.services().await.err(),
            store.client("app").await.err(),
            store.clients().await.err(),
            store.token(&token.token_hash).await.err(),
            store.token_by_refresh(&refresh).await.err(),
            store.tokens_by_owner("svc", "alice").await.err(),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(failures.len(), expected, "after {sql}: {failures:?}");
        assert!(
            failures.iter().all(|e| e.is_store()),
            "after {sql}: {failures:?}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_a_bad_url_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    open(&path).await.close().await;
    sqlx::query("PRAGMA user_version = 99")
        .execute(&mut raw(&path).await)
        .await
        .unwrap();
    let err = SqliteStore::open(path.to_str().unwrap()).await.unwrap_err();
    assert!(err.is_store(), "{err:?}");

    let err = SqliteStore::open("sqlite://x.db?colour=blue")
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
}

/// Two stores on one file stand for two processes: each has its own writer connection, so the
/// single-use guarantees must hold at the SQLite level, not just inside one pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_use_holds_across_stores_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let stores: Vec<Arc<dyn Store>> = vec![
        Arc::new(open_holding(&path).await),
        Arc::new(open(&path).await),
        Arc::new(open(&path).await),
    ];
    let (code, _) = code_with_secret();
    let (token, _, _) = token_with_secrets(None);
    stores[0].insert_code(&code).await.unwrap();
    stores[0].insert_token(&token).await.unwrap();
    let refresh = token.refresh.as_ref().unwrap().hash;

    let mut redemptions = Vec::new();
    let mut rotations = Vec::new();
    let mut nexts = Vec::new();
    for i in 0..30 {
        let store = stores[i % stores.len()].clone();
        redemptions.push(tokio::spawn(async move {
            store.redeem_code(&code.code_hash).await.unwrap()
        }));
        let store = stores[i % stores.len()].clone();
        let (next, _, _) = token_with_secrets(None);
        nexts.push(next.clone());
        rotations.push(tokio::spawn(async move {
            store.rotate_refresh(&refresh, &next).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for task in redemptions {
        match task.await.unwrap() {
            Redemption::Fresh(_) => fresh += 1,
            Redemption::Replayed(_) => {}
            Redemption::Unknown => panic!("the code exists"),
        }
    }
    assert_eq!(fresh, 1);
    let mut rotated = 0;
    for task in rotations {
        match task.await.unwrap() {
            Rotation::Rotated => rotated += 1,
            Rotation::Reused => {}
            Rotation::Unknown => panic!("the refresh token exists"),
        }
    }
    assert_eq!(rotated, 1);
    let mut stored = 0;
    for next in &nexts {
        stored += stores[1].token(&next.token_hash).await.unwrap().is_some() as usize;
    }
    assert_eq!(stored, 1);
}

/// Marking the refresh token used and storing its successor are one transaction: when the
/// insert fails (here a duplicate access token hash), the refresh token stays unused.
#[tokio::test]
async fn a_failed_rotation_marks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_holding(&db_path(&dir)).await;
    let (first, _, _) = token_with_secrets(None);
    store.insert_token(&first).await.unwrap();
    let refresh = first.refresh.as_ref().unwrap().hash;

    let (clash, _, _) = token_with_secrets(None);
    let clash = TokenRecord {
        token_hash: first.token_hash,
        ..clash
    };
    let err = store.rotate_refresh(&refresh, &clash).await.unwrap_err();
    assert!(err.is_store(), "{err:?}");
    assert_eq!(store.token_by_refresh(&refresh).await.unwrap(), Some(first));

    let (next, _, _) = token_with_secrets(None);
    assert_eq!(
        store.rotate_refresh(&refresh, &next).await.unwrap(),
        Rotation::Rotated
    );
}

/// Group commit: many concurrent inserts are committed together, every acknowledged one is on
/// disk after close and reopen, and a duplicate among them fails alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_are_durable_and_a_duplicate_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open_holding(&path).await;
    let (existing, _, _) = token_with_secrets(None);
    store.insert_token(&existing).await.unwrap();

    // Hold the write lock from outside so the inserts pile up in the writer's queue and go
    // into one batch once it is released.
    let mut blocker = raw(&path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();

    let records: Vec<TokenRecord> = (0..200).map(|_| token_with_secrets(None).0).collect();
    let mut tasks = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let store = store.clone();
        let mut record = record.clone();
        if i == 100 {
            // Same access token hash as a stored record: a UNIQUE violation.
            record.token_hash = existing.token_hash;
        }
        tasks.push(tokio::spawn(
            async move { store.insert_token(&record).await },
        ));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    sqlx::query("COMMIT").execute(&mut blocker).await.unwrap();

    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        if i == 100 {
            let err = result.expect_err("the duplicate fails");
            assert!(err.is_store(), "{err}");
        } else {
            result.unwrap_or_else(|e| panic!("insert {i} failed: {e}"));
        }
    }
    store.close().await;
    drop(store);

    let store = open(&path).await;
    for (i, record) in records.iter().enumerate() {
        let found = store.token(&record.token_hash).await.unwrap();
        if i == 100 {
            assert_eq!(found, None, "the duplicate was inserted under another hash");
            let original = store.token(&existing.token_hash).await.unwrap().unwrap();
            assert_eq!(original, existing, "the original is untouched");
        } else {
            assert_eq!(found.as_ref(), Some(record), "record {i} is durable");
        }
    }
}

/// Migration 3 on a version-2 file: tokens whose client no longer holds them (disabled, deleted,
/// service no longer listed) are revoked, so re-enabling cannot bring them back; the others are
/// untouched; and from then on every token change is written to the change feed's table.
#[tokio::test]
async fn migration_3_ends_tokens_no_client_holds_and_starts_the_change_feed() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
    for sql in [
        include_str!("../src/store/sqlite/0001_init.sql"),
        include_str!("../src/store/sqlite/0002_token_listing.sql"),
        "PRAGMA user_version = 2",
        "INSERT INTO clients (id, name, client_id, redirect_uris, services, status) VALUES \
         (1, 'On', 'on', '[]', '[\"svc\"]', 'active'), \
         (2, 'Off', 'off', '[]', '[\"svc\"]', 'disabled')",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    // (name, service, client)
    let rows = [
        ("held", "svc", "on"),
        ("disabled", "svc", "off"),
        ("unlisted", "other", "on"),
        ("orphan", "svc", "gone"),
    ];
    for (name, service, client) in rows {
        sqlx::query(
            "INSERT INTO tokens (token_hash, id, service_key, client_id, token_type, grant_type, \
             created_at, expires_at, revoked, family_id) \
             VALUES (?1, ?2, ?3, ?4, 'bearer', 'client_credentials', 1, ?5, 0, ?2)",
        )
        .bind(TokenHash::of(name).to_hex())
        .bind(name)
        .bind(service)
        .bind(client)
        .bind(NOW * 2)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.unwrap();

    let store = open(&path).await;
    let revoked: Vec<(String, bool)> = sqlx::query_as("SELECT id, revoked FROM tokens ORDER BY id")
        .fetch_all(&mut raw(&path).await)
        .await
        .unwrap();
    assert_eq!(
        revoked,
        [
            ("disabled", true),
            ("held", false),
            ("orphan", true),
            ("unlisted", true)
        ]
        .map(|(id, r)| (id.to_owned(), r))
    );
    assert!(store.token(&TokenHash::of("held")).await.unwrap().is_some());

    // Re-enabling the disabled client does not bring its token back.
    let off = store.client("off").await.unwrap().unwrap();
    store
        .put_client(&Client {
            status: ClientStatus::Active,
            ..off
        })
        .await
        .unwrap();
    assert!(
        store
            .token(&TokenHash::of("disabled"))
            .await
            .unwrap()
            .unwrap()
            .revoked
    );

    // A change made outside the store (any writer of the file) is in the feed's table.
    sqlx::query("UPDATE tokens SET revoked = 1 WHERE id = 'held'")
        .execute(&mut raw(&path).await)
        .await
        .unwrap();
    let changed: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM token_changes")
        .fetch_all(&mut raw(&path).await)
        .await
        .unwrap();
    assert_eq!(changed, vec![TokenHash::of("held").to_hex()]);
}

/// The change feed of one store (a process) evicts what another store on the same file (another
/// process) revokes, within a few polls; reads the table only when something was committed; and
/// flushes the whole cache when changes it never read were pruned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_feed_evicts_what_another_process_revokes() {
    use std::time::{Duration, Instant};
    use tokengate::oauth::TokenService;
    use tokengate::resolve::{LocalResolver, Lookup, TokenCache};
    use tokengate::secret::Pepper;
    use tokengate::store::Revocation;

    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let here = open(&path).await;
    here.put_client(&public_app(&["svc"])).await.unwrap();
    let pepper = Pepper::new(b"feed pepper".to_vec());
    let tokens = Arc::new(TokenService::new(Arc::new(here.clone()), pepper.clone()));
    let cache = TokenCache::builder(LocalResolver::new(tokens, "svc"))
        .ttl(Duration::from_secs(300))
        .build();
    let mut cached = Vec::new();
    for _ in 0..2 {
        let token = pepper.tag_key().issue();
        let (mut record, _, _) = token_with_secrets(None);
        record.token_hash = TokenHash::of(&token);
        record.client_id = "app".into();
        record.service_key = "svc".into();
        record.expires_at = i64::MAX;
        here.insert_token(&record).await.unwrap();
        cached.push((token, record.token_hash));
    }
    let feed = here.subscribe(&cache);
    feed.ready().await;
    for (token, _) in &cached {
        assert!(matches!(
            cache.lookup(token).await.unwrap(),
            Lookup::Valid(_)
        ));
    }
    let serves = |hash: &TokenHash| matches!(cache.cached(hash), Some(Lookup::Valid(_)));

    // Nothing committed: polls never read the table.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(feed.stats().reads, 0, "{feed:?}");

    let elsewhere = open(&path).await;
    let (_, first) = &cached[0];
    let started = Instant::now();
    assert_eq!(
        elsewhere.revoke(Revocation::Token(first)).await.unwrap(),
        vec![*first]
    );
    while serves(first) {
        assert!(started.elapsed() < Duration::from_secs(2), "{feed:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    eprintln!("revoked elsewhere → evicted here: {:?}", started.elapsed());
    let (_, second) = &cached[1];
    assert!(serves(second), "only the revoked token is evicted");
    let stats = feed.stats();
    assert_eq!((stats.evicted, stats.flushes), (1, 1), "{stats:?}");

    // Changes this feed never read were pruned: it cannot know what they changed.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DELETE FROM token_changes; \
         INSERT INTO token_changes (seq, token_hash) VALUES (1000000, '{}')",
        TokenHash::of("elsewhere").to_hex()
    )))
    .execute(&mut raw(&path).await)
    .await
    .unwrap();
    while serves(second) {
        assert!(started.elapsed() < Duration::from_secs(4), "{feed:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(feed.stats().flushes, 2);

    // The changes end before the last one read (the file was replaced by an older copy).
    // The loop above may see the flush before it has finished clearing, so the lookup repeats
    // until the token is cached again.
    while !serves(second) {
        assert!(started.elapsed() < Duration::from_secs(5), "{feed:?}");
        assert!(matches!(
            cache.lookup(&cached[1].0).await.unwrap(),
            Lookup::Valid(_)
        ));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(feed.stats().flushes, 2);
    sqlx::query("DELETE FROM token_changes")
        .execute(&mut raw(&path).await)
        .await
        .unwrap();
    while serves(second) {
        assert!(started.elapsed() < Duration::from_secs(7), "{feed:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(feed.stats().flushes, 3);
}

/// Migration 4 on a version-3 file: a service stored before it declares no scopes, lets no
/// client give itself any (`any_scope` off: the insecure default ends with the upgrade) and
/// requires PKCE of public clients.
#[tokio::test]
async fn migration_4_gives_existing_services_the_secure_issuance_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
    for sql in [
        include_str!("../src/store/sqlite/0001_init.sql"),
        include_str!("../src/store/sqlite/0002_token_listing.sql"),
        include_str!("../src/store/sqlite/0003_token_validity.sql"),
        "PRAGMA user_version = 3",
        "INSERT INTO services (key, name, access_token_ttl, refresh_tokens, refresh_token_ttl, \
         authorization_code_ttl, token_type, grants, force_redirect_validation, \
         allow_multiple_tokens, allow_query_tokens) \
         VALUES ('svc', 'Old', 3600, 1, 2764800, 300, 'bearer', '[\"client_credentials\"]', 1, 1, 0)",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();

    let store = open(&path).await;
    let old = store.service("svc").await.unwrap().unwrap();
    let mut expected = Service::new("svc", "Old");
    expected.grants = vec![GrantType::ClientCredentials];
    assert_eq!(old, expected);
    assert_eq!(
        (old.scopes, old.any_scope, old.require_pkce),
        (None, false, PkceRequirement::PublicClients)
    );
}
