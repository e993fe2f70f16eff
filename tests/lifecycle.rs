//! End to end: managing clients and tokens over their life with the `tokengate` binary, beside a
//! running `tokengate serve` on the same store (SQLite file, PostgreSQL schema), and what the
//! configuration file and the pepper mean for what is stored (issue 19).
//!
//! Every change made by a command is checked where it matters: at the gateway (the token
//! refused within the change feed's bound, polled against a deadline, nothing forwarded), at the
//! admin API (an old secret refused), in the store (what `client list` shows).
#![cfg(all(unix, feature = "sqlite", feature = "cli"))]

use std::path::Path;
use std::process::Output;
use std::time::Instant;

use serde_json::{json, Value};

mod common;
#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

use common::config::ServeConfig;
use common::lifecycle::{issue, passes, refused_within, token_endpoint};
use common::process::{tokengate_with, Gateway};
use common::upstream::Recorder;
use common::SERVICE;

/// A running `tokengate serve` (in a directory of its own, on the store `store_url`, before an
/// upstream), and a confidential client added beside it with the CLI.
struct Beside {
    dir: tempfile::TempDir,
    upstream: Recorder,
    gateway: Gateway,
    client: String,
    secret: String,
}

impl Beside {
    async fn start(store_url: &str) -> Beside {
        let upstream = Recorder::start().await;
        let dir = tempfile::tempdir().unwrap();
        let config = ServeConfig::new(store_url)
            .public(&format!(
                "upstream = \"http://{}\"\ncache_ttl_secs = 300",
                upstream.addr
            ))
            .toml();
        let gateway = Gateway::start(dir.path(), &config);
        let add = [
            "client",
            "add",
            "--name",
            "App",
            "--service",
            SERVICE,
            "--json",
        ];
        let added = json_of(&ok(dir.path(), &add));
        let field = |name: &str| added[name].as_str().unwrap().to_owned();
        Beside {
            client: field("client_id"),
            secret: field("client_secret"),
            dir,
            upstream,
            gateway,
        }
    }
}

/// The value of the line `name: value` of a command's output.
fn line_value<'a>(said: &'a str, name: &str) -> &'a str {
    said.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no `{name}:` line: {said}"))
}

fn tokengate(dir: &Path, args: &[&str]) -> Output {
    tokengate_with(dir, args, "")
}

/// [`tokengate`], asserting success: its stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = tokengate(dir, args);
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// [`tokengate`], asserting failure: its stderr.
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = tokengate(dir, args);
    assert!(!out.status.success(), "{args:?} succeeded: {out:?}");
    String::from_utf8(out.stderr).unwrap()
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_commands_beside_a_running_sqlite_gateway() {
    running_flow("sqlite://tokengate.db").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_commands_beside_a_running_postgresql_gateway() {
    let db = pg::TestDb::new();
    running_flow(&db.store_url()).await;
}

async fn running_flow(store_url: &str) {
    // A client added with the CLI beside the running server.
    let Beside {
        dir,
        upstream,
        gateway,
        client,
        secret,
    } = Beside::start(store_url).await;
    let (dir, public) = (dir.path(), gateway.public());
    let alice1 = issue(gateway.admin, &client, &secret, Some("alice"))
        .await
        .unwrap();
    let alice2 = issue(gateway.admin, &client, &secret, Some("alice"))
        .await
        .unwrap();
    let bob = issue(gateway.admin, &client, &secret, Some("bob"))
        .await
        .unwrap();
    let machine = issue(gateway.admin, &client, &secret, None).await.unwrap();
    for token in [&alice1, &alice2, &bob, &machine] {
        passes(public, token).await; // now cached
    }

    // Listing: records, never the tokens.
    let listed = ok(dir, &["token", "list", "--user", "alice", "--json"]);
    assert!(
        !listed.contains(&alice1) && !listed.contains(&alice2),
        "{listed}"
    );
    let listed = json_of(&listed);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["user_context"] == "alice"
            && t["client_id"] == client.as_str()
            && t["status"] == "active"));
    let by_client = json_of(&ok(dir, &["token", "list", "--client", &client, "--json"]));
    assert_eq!(by_client.as_array().unwrap().len(), 4, "{by_client}");
    assert!(fails(dir, &["token", "list"]).contains("--client"));

    // Every token of a user, revoked.
    let since = Instant::now();
    let said = ok(dir, &["token", "revoke", "--user", "alice"]);
    assert!(
        said.contains("2 live token(s) of user alice revoked"),
        "{said}"
    );
    refused_within(public, &upstream, &alice1, since).await;
    refused_within(public, &upstream, &alice2, since).await;
    passes(public, &bob).await;
    let listed = json_of(&ok(
        dir,
        &["token", "list", "--user", "alice", "--active", "--json"],
    ));
    assert_eq!(listed, json!([]));

    // One token, read from stdin; a second time it is said to be revoked already.
    let since = Instant::now();
    let out = tokengate_with(dir, &["token", "revoke", "-"], &format!("{bob}\n"));
    assert!(out.status.success(), "{out:?}");
    refused_within(public, &upstream, &bob, since).await;
    let out = tokengate_with(dir, &["token", "revoke", "-"], &bob);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("already revoked"));
    let unknown = bob.replace(&bob[..4], "zzzz");
    let out = tokengate_with(dir, &["token", "revoke", "-"], &unknown);
    assert!(!out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("no such token") && !said.contains(&unknown),
        "{said}"
    );

    // A new secret: the old one is refused at once, the new one works, tokens stay.
    let rotated = json_of(&ok(
        dir,
        &["client", "rotate-secret", "--client-id", &client, "--json"],
    ));
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let refused = issue(gateway.admin, &client, &secret, None)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("Invalid client"), "{refused}");
    let fresh = issue(gateway.admin, &client, new_secret, None)
        .await
        .unwrap();
    passes(public, &fresh).await;
    passes(public, &machine).await;

    // With a grace period: the token endpoint takes the old secret beside the new one, until
    // the secret changes again; the old one is never shown.
    let graced = ok(
        dir,
        &[
            "client",
            "rotate-secret",
            "--client-id",
            &client,
            "--grace",
            "3600",
            "--json",
        ],
    );
    assert!(!graced.contains(new_secret), "{graced}");
    let graced = json_of(&graced);
    let newest = graced["client_secret"].as_str().unwrap().to_owned();
    assert!(graced["old_secret_valid_until"].is_string(), "{graced}");
    assert_eq!(token_endpoint(public, &client, new_secret).await.0, 200);
    assert_eq!(token_endpoint(public, &client, &newest).await.0, 200);
    assert_eq!(token_endpoint(public, &client, &secret).await.0, 401);
    let said = ok(dir, &["client", "rotate-secret", "--client-id", &client]);
    let last = line_value(&said, "client_secret").to_owned();
    assert!(said.contains("old secret valid until: -"), "{said}");
    for (old, what) in [(new_secret, "graced"), (newest.as_str(), "rotated away")] {
        let (status, body) = token_endpoint(public, &client, old).await;
        assert_eq!(
            (status, &body["error"]),
            (401, &json!("invalid_client")),
            "{what}"
        );
    }
    assert_eq!(token_endpoint(public, &client, &last).await.0, 200);

    // A service updated beside the server: tokens issued from now on follow it.
    let updated = json_of(&ok(
        dir,
        &[
            "service",
            "update",
            "--key",
            SERVICE,
            "--access-token-ttl",
            "60",
            "--json",
        ],
    ));
    assert_eq!(
        (
            updated["access_token_ttl"].as_u64(),
            updated["name"].as_str()
        ),
        (Some(60), Some("Reviews API"))
    );
    let (status, issued) = token_endpoint(public, &client, &last).await;
    assert_eq!(
        (status, issued["expires_in"].as_u64()),
        (200, Some(60)),
        "{issued}"
    );
    let err = fails(
        dir,
        &[
            "service",
            "update",
            "--key",
            SERVICE,
            "--access-token-ttl",
            "0",
        ],
    );
    assert!(err.contains("access_token_ttl"), "{err}");
    assert!(fails(dir, &["service", "update", "--key", "nope"]).contains("`nope` does not exist"));

    // Show and update.
    ok(
        dir,
        &[
            "client",
            "update",
            "--client-id",
            &client,
            "--name",
            "Mobile 2",
        ],
    );
    let shown = json_of(&ok(
        dir,
        &["client", "show", "--client-id", &client, "--json"],
    ));
    assert_eq!(
        (shown["name"].as_str(), shown["confidential"].as_bool()),
        (Some("Mobile 2"), Some(true))
    );
    let shown = ok(dir, &["client", "show", "--client-id", &client]);
    assert!(
        shown.contains("name: Mobile 2") && !shown.contains(new_secret),
        "{shown}"
    );
    assert!(fails(dir, &["client", "show", "--client-id", "nobody"])
        .contains("`nobody` does not exist"));
    let service = json_of(&ok(dir, &["service", "show", "--key", SERVICE]));
    assert_eq!(service["key"], SERVICE);

    // Removed: every token of the client ends.
    let live = json_of(&ok(
        dir,
        &["token", "list", "--client", &client, "--active", "--json"],
    ));
    let live = live.as_array().unwrap().len();
    assert!(live >= 2, "machine, fresh and the token endpoint's: {live}");
    let since = Instant::now();
    let said = ok(dir, &["client", "remove", "--client-id", &client]);
    assert!(
        said.contains(&format!("{live} live token(s) revoked")),
        "{said}"
    );
    refused_within(public, &upstream, &machine, since).await;
    refused_within(public, &upstream, &fresh, since).await;
    let list = json_of(&ok(dir, &["client", "list", "--json"]));
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["client_id"] != client.as_str()));
    assert!(fails(dir, &["client", "remove", "--client-id", &client]).contains("does not exist"));
    let err = fails(dir, &["service", "remove", "--key", SERVICE]);
    assert!(
        err.contains("tkr7f25gd6452zy8rjsf7bwd") && err.contains("take it from them"),
        "{err}"
    );
}

/// A configuration file on a SQLite file in `dir`, the pepper in a file next to it, with the
/// `[[clients]]` given.
fn write_config(dir: &Path, clients: &str) {
    let text = format!(
        "[store]\nurl = \"sqlite://tokengate.db\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         credentials = [{{ key = \"ops\", secret = \"admin-secret\" }}]\n\n[public]\n\
         listen = \"127.0.0.1:0\"\n\n[[services]]\nkey = \"{SERVICE}\"\nname = \"Reviews\"\n\n\
         {clients}"
    );
    std::fs::write(dir.join("tokengate.toml"), text).unwrap();
}

const WEB: &str = "[[clients]]\nid = 1\nclient_id = \"web\"\nsecret = \"web-secret\"\n\
     name = \"Web\"\nservices = [\"rmeqcgpw3zu2y47y9bs8vs2h\"]\n\
     redirect_uris = [\"https://web.example/cb\"]\n";
const BATCH: &str = "[[clients]]\nid = 2\nclient_id = \"batch\"\nsecret = \"batch-secret\"\n\
     name = \"Batch\"\nservices = [\"rmeqcgpw3zu2y47y9bs8vs2h\"]\n";

fn client_ids(dir: &Path) -> Vec<String> {
    json_of(&ok(dir, &["client", "list", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn clients_left_out_of_the_file_are_kept_unless_pruned_and_weakening_is_never_silent() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_config(dir, &format!("{WEB}\n{BATCH}"));
    let said = ok(dir, &["apply"]);
    assert!(said.contains("clients: 2 written"), "{said}");

    // Left out of the file: kept, and said so, naming it.
    write_config(dir, WEB);
    let out = tokengate(dir, &["apply"]);
    assert!(out.status.success(), "{out:?}");
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("client_ids=[\"batch\"]") && logs.contains("kept"),
        "{logs}"
    );
    assert_eq!(client_ids(dir), ["web", "batch"]);

    // Pruned: removed, naming it.
    let out = tokengate(dir, &["apply", "--prune"]);
    assert!(out.status.success(), "{out:?}");
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("client_id=batch") && logs.contains("removed"),
        "{logs}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 removed"));
    assert_eq!(client_ids(dir), ["web"]);

    // Services: one only in the store and listed by no client is pruned, removed by hand too.
    ok(
        dir,
        &["service", "add", "--key", "spare", "--name", "Spare"],
    );
    ok(
        dir,
        &["service", "add", "--key", "unlisted", "--name", "Unlisted"],
    );
    assert!(ok(dir, &["service", "remove", "--key", "spare"]).contains("spare removed"));
    assert!(fails(dir, &["service", "remove", "--key", "spare"]).contains("does not exist"));
    let out = tokengate(dir, &["apply", "--prune"]);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("service=unlisted") && logs.contains("removed"),
        "{logs}"
    );
    let services = json_of(&ok(dir, &["service", "list", "--json"]));
    assert_eq!(services.as_array().unwrap().len(), 1, "{services}");

    // The secret line deleted: refused, the client stays confidential.
    write_config(dir, &WEB.replace("secret = \"web-secret\"\n", ""));
    let err = fails(dir, &["apply"]);
    assert!(
        err.contains("clients[0].secret") && err.contains("public = true"),
        "{err}"
    );
    let err = fails(dir, &["serve"]);
    assert!(err.contains("public = true"), "{err}");
    let shown = json_of(&ok(
        dir,
        &["client", "show", "--client-id", "web", "--json"],
    ));
    assert_eq!(shown["confidential"], true);

    // Said explicitly: done, at WARN with the id.
    write_config(
        dir,
        &WEB.replace("secret = \"web-secret\"\n", "public = true\n"),
    );
    let out = tokengate(dir, &["apply"]);
    assert!(out.status.success(), "{out:?}");
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("WARN") && logs.contains("id=1") && logs.contains("made public"),
        "{logs}"
    );
    let shown = json_of(&ok(
        dir,
        &["client", "show", "--client-id", "web", "--json"],
    ));
    assert_eq!(shown["confidential"], false);

    // A redirect URI added: at WARN, naming it.
    let wider = WEB
        .replace("secret = \"web-secret\"\n", "public = true\n")
        .replace(
            "\"https://web.example/cb\"",
            "\"https://web.example/cb\", \"https://evil.example/cb\"",
        );
    write_config(dir, &wider);
    let out = tokengate(dir, &["apply"]);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("WARN")
            && logs.contains("evil.example")
            && logs.contains("redirect URIs added"),
        "{logs}"
    );

    // Allowed scopes widened, then removed: at WARN with the id, each time.
    for (scopes, said) in [
        ("allowed_scopes = [\"read\"]\n", None),
        (
            "allowed_scopes = [\"read\", \"admin\"]\n",
            Some("allowed scopes widened"),
        ),
        ("", Some("allowed_scopes removed")),
    ] {
        write_config(dir, &format!("{wider}{scopes}"));
        let out = tokengate(dir, &["apply"]);
        assert!(out.status.success(), "{out:?}");
        let logs = String::from_utf8_lossy(&out.stderr);
        let warned = logs.lines().find(|l| l.contains("WARN"));
        match said {
            None => assert_eq!(warned, None, "narrowing is no weakening: {logs}"),
            Some(said) => {
                let line = warned.unwrap_or_else(|| panic!("no WARN: {logs}"));
                assert!(line.contains(said) && line.contains("id=1"), "{line}");
            }
        }
    }
}

#[test]
fn a_lost_pepper_stops_the_server_until_restored_or_rekeyed() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_config(dir, WEB);
    ok(dir, &["apply"]);
    let pepper = dir.join("tokengate.db.pepper");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pepper).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the pepper file is private");
    }
    let kept = std::fs::read(&pepper).unwrap();

    // Lost: no new pepper is made, serve (and every command) refuses, saying how to recover.
    std::fs::remove_file(&pepper).unwrap();
    for args in [&["serve"][..], &["client", "list"]] {
        let err = fails(dir, args);
        assert!(err.contains("tokengate.db.pepper is missing"), "{err}");
        assert!(
            err.contains("another pepper") && err.contains("tokengate store rekey"),
            "{err}"
        );
        assert!(!pepper.exists(), "a new pepper was kept");
    }
    // Another pepper: refused too.
    std::fs::write(&pepper, format!("{}\n", "ab".repeat(32))).unwrap();
    let err = fails(dir, &["serve"]);
    assert!(
        err.contains("another pepper") && err.contains("the pepper file"),
        "{err}"
    );
    assert!(!err.contains(&"ab".repeat(32)), "{err}");

    // Restored: works again.
    std::fs::write(&pepper, &kept).unwrap();
    assert_eq!(client_ids(dir), ["web"]);

    // Or rekeyed, on purpose: the clients whose secrets must be reissued are named.
    std::fs::remove_file(&pepper).unwrap();
    assert!(fails(dir, &["store", "rekey"]).contains("--yes"));
    let said = ok(dir, &["store", "rekey", "--yes"]);
    assert!(said.contains("rotate-secret --client-id web"), "{said}");
    assert!(pepper.exists() && std::fs::read(&pepper).unwrap() != kept);
    assert_eq!(client_ids(dir), ["web"]);
}

/// Sets the end of `client`'s grace period in the SQLite file `db` to `valid_until` (ms since
/// the epoch): the hour of the grace period passing, without a test that waits for it.
async fn set_grace_end(db: &Path, client: &str, valid_until: i64) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let changed = sqlx::query("UPDATE previous_secrets SET valid_until = ?1 WHERE client_id = ?2")
        .bind(valid_until)
        .bind(client)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1);
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_secret_is_accepted_for_its_grace_period_then_refused() {
    let Beside {
        dir,
        gateway,
        client,
        secret: old,
        ..
    } = Beside::start("sqlite://tokengate.db").await;
    let (dir, public) = (dir.path(), gateway.public());

    let out = tokengate(
        dir,
        &[
            "client",
            "rotate-secret",
            "--client-id",
            &client,
            "--grace",
            "3600",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    let new = line_value(&said, "client_secret").to_owned();
    assert!(!said.contains(old.as_str()), "{said}");
    let until = line_value(&said, "old secret valid until");
    assert!(until.ends_with('Z'), "{said}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("still accepted until"));

    // During the grace period: both, and `client show` says until when.
    assert_eq!(token_endpoint(public, &client, &old).await.0, 200);
    assert_eq!(token_endpoint(public, &client, &new).await.0, 200);
    let show = ["client", "show", "--client-id", &client, "--json"];
    assert_eq!(json_of(&ok(dir, &show))["old_secret_valid_until"], until);
    // The grace period over: only the new one.
    let db = dir.join("tokengate.db");
    set_grace_end(&db, &client, now_ms() - 1).await;
    assert_eq!(
        json_of(&ok(dir, &show))["old_secret_valid_until"],
        Value::Null
    );
    let (status, body) = token_endpoint(public, &client, &old).await;
    assert_eq!((status, &body["error"]), (401, &json!("invalid_client")));
    assert_eq!(token_endpoint(public, &client, &new).await.0, 200);
    // It is the end that counts: moved ahead again, the old secret is taken again.
    set_grace_end(&db, &client, now_ms() + 3_600_000).await;
    assert_eq!(token_endpoint(public, &client, &old).await.0, 200);

    // Bad input: precise errors, nothing changed.
    for (grace, said) in [("soon", "invalid digit"), ("2592001", "0..=2592000")] {
        let rotate = [
            "client",
            "rotate-secret",
            "--client-id",
            &client,
            "--grace",
            grace,
        ];
        let err = fails(dir, &rotate);
        assert!(err.contains("--grace") && err.contains(said), "{err}");
    }
    ok(
        dir,
        &[
            "client",
            "add",
            "--name",
            "Spa",
            "--service",
            SERVICE,
            "--public",
            "--client-id",
            "spa",
        ],
    );
    let err = fails(
        dir,
        &[
            "client",
            "rotate-secret",
            "--client-id",
            "spa",
            "--grace",
            "60",
        ],
    );
    assert!(err.contains("`spa` is public"), "{err}");
    assert_eq!(token_endpoint(public, &client, &new).await.0, 200);
}
