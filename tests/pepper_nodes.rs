//! The pepper is a key across nodes (issue 19): several nodes with different peppers starting
//! at once on one new store (a SQLite file, a PostgreSQL schema) cannot all start. The store's
//! pepper fingerprint is written insert-if-absent and read back, so exactly one pepper wins,
//! however the first starts interleave; every other node is refused, and stays refused. A
//! `tokengate serve` with another pepper beside a running one is refused the same way.
//!
//! The PostgreSQL test needs the test database of `tests/support/postgres.rs` (fails, naming
//! it, when it does not answer).
#![cfg(all(feature = "sqlite", feature = "cli"))]

use tokengate::server::{open_configured_store, Config};

#[cfg(feature = "postgres")]
mod common;
#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

/// How many nodes start at once, each with a pepper of its own.
const NODES: u8 = 8;

/// Node `n`'s configuration: the store at `url`, a pepper of its own given in the file.
fn node_config(url: &str, n: u8) -> Config {
    let pepper = format!("{n:02x}").repeat(32);
    Config::from_toml(
        &format!("[store]\nurl = \"{url}\"\npepper = \"{pepper}\"\n"),
        None,
    )
    .unwrap()
}

/// Starts [`NODES`] nodes on `url` at once; checks that one started and the others were
/// refused, naming the other pepper, and that a second start of each ends the same way.
async fn one_pepper_wins(url: &str) {
    let configs: Vec<Config> = (0..NODES).map(|n| node_config(url, n)).collect();
    let starts = configs.iter().map(|config| {
        let config = config.clone();
        tokio::spawn(async move { open_configured_store(&config).await.map(drop) })
    });
    let mut winners = Vec::new();
    for (n, start) in starts.collect::<Vec<_>>().into_iter().enumerate() {
        match start.await.unwrap() {
            Ok(()) => winners.push(n),
            Err(e) => {
                let said = e.to_string();
                assert!(
                    said.contains("another pepper") && said.contains("store.pepper"),
                    "node {n}: {said} ({e:?})"
                );
            }
        }
    }
    assert_eq!(winners.len(), 1, "nodes started: {winners:?}");

    // Started again, one by one: the same node, and only it.
    for (n, config) in configs.iter().enumerate() {
        let again = open_configured_store(config).await;
        assert_eq!(again.is_ok(), n == winners[0], "node {n} restarted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_with_different_peppers_racing_on_a_new_sqlite_file_one_starts() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    one_pepper_wins(&url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_with_different_peppers_racing_on_a_new_postgresql_schema_one_starts() {
    let db = pg::TestDb::new();
    one_pepper_wins(&db.store_url()).await;
}

/// The binary: a second `tokengate serve` with another pepper on the PostgreSQL schema a
/// running node uses stops, saying so (and not showing either pepper).
#[cfg(all(unix, feature = "postgres"))]
#[test]
fn a_second_serve_with_another_pepper_on_a_postgresql_store_in_use_is_refused() {
    use common::config::{ServeConfig, PEPPER_HEX};
    use common::process::Gateway;

    let db = pg::TestDb::new();
    let first = tempfile::tempdir().unwrap();
    let config = ServeConfig::new(db.store_url()).toml();
    let _running = Gateway::start(first.path(), &config);

    let second = tempfile::tempdir().unwrap();
    let other = "ab".repeat(32);
    let path = second.path().join("tokengate.toml");
    std::fs::write(&path, config.replace(PEPPER_HEX, &other)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["serve", "--config"])
        .arg(&path)
        .env_remove("TOKENGATE_CONFIG")
        .env_remove("TOKENGATE_PEPPER")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("another pepper") && said.contains("store.pepper"),
        "{said}"
    );
    assert!(
        !said.contains(&other) && !said.contains(PEPPER_HEX),
        "{said}"
    );
}
