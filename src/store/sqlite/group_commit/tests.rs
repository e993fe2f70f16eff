//! Group commit's batches, on a real SQLite file: what fails alone, what commits whole.

use tokio::sync::oneshot;

use super::{commit_batch, Job, Op, Written, TOKENS_PER_INSERT};
use crate::model::{Client, ClientStatus, RefreshState, TokenRecord, TokenType};
use crate::secret::TokenHash;
use crate::store::sql::Dialect;
use crate::store::{SqliteStore, Store};
use crate::Error;
use sqlx::Sqlite;

fn record(n: u8) -> TokenRecord {
    TokenRecord {
        id: format!("id-{n}"),
        token_hash: TokenHash::of(&format!("token-{n}")),
        service_key: "svc".into(),
        client_id: "app".into(),
        token_type: TokenType::Bearer,
        grant_type: crate::model::GrantType::ClientCredentials,
        scope: None,
        user_context: None,
        created_at: 1,
        expires_at: i64::MAX,
        revoked: false,
        refresh: None,
        family_id: format!("id-{n}"),
        code_hash: None,
    }
}

/// A store in a temporary directory (kept as long as the guard) with the client that holds
/// every `record(n)` (a token is only found while its client holds it).
async fn store_with_client() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("t.db").to_str().unwrap())
        .await
        .unwrap();
    let client = Client {
        id: 1,
        external_id: None,
        name: "App".into(),
        attributes: None,
        client_id: "app".into(),
        secret_hash: None,
        redirect_uris: vec![],
        services: vec!["svc".into()],
        status: ClientStatus::Active,
        allowed_scopes: None,
    };
    store.put_client(&client).await.unwrap();
    (dir, store)
}

/// [`store_with_client`] holding `record(0)`.
async fn store_holding_record_0() -> (tempfile::TempDir, SqliteStore) {
    let (dir, store) = store_with_client().await;
    store.insert_token(&record(0)).await.unwrap();
    (dir, store)
}

type Answer = oneshot::Receiver<Result<Written, Error>>;

/// A token-insert job for each record, and where each one's answer arrives.
fn token_jobs<'a>(records: impl IntoIterator<Item = &'a TokenRecord>) -> (Vec<Job>, Vec<Answer>) {
    records
        .into_iter()
        .map(|record| {
            let (ack, answer) = oneshot::channel();
            let op = Op::Token(Box::new(record.clone()));
            (Job { op, ack }, answer)
        })
        .unzip()
}

/// One batch with a duplicate in the middle: the duplicate fails, the others commit, and
/// every answer is sent only after the commit.
#[tokio::test]
async fn a_failing_statement_fails_alone_in_its_batch() {
    let (_dir, store) = store_holding_record_0().await;
    let records = [1, 2, 0, 3].map(record);
    let (mut jobs, answers) = token_jobs(&records);
    let (ack, answer) = oneshot::channel();
    let hex = record(1).token_hash.to_hex();
    jobs.push(Job {
        op: Op::Query(
            Box::new(move || sqlx::query(Sqlite::REVOKE_TOKEN).bind(hex.clone())),
            true,
        ),
        ack,
    });
    commit_batch(&store.writer, &mut jobs).await;
    assert!(jobs.is_empty());
    let mut results = Vec::new();
    for answer in answers {
        results.push(answer.await.unwrap().map(Written::rows));
    }
    assert!(matches!(results[0], Ok(1)));
    assert!(matches!(results[1], Ok(1)));
    assert!(results[2].as_ref().unwrap_err().is_store());
    assert!(matches!(results[3], Ok(1)));
    let revoked = answer.await.unwrap().unwrap().hashes();
    assert_eq!(revoked, vec![record(1).token_hash]);
    for n in 0..4 {
        let stored = store.token(&record(n).token_hash).await.unwrap().unwrap();
        assert_eq!(stored.revoked, n == 1);
    }
}

/// A batch of token inserts alone goes in one statement; a duplicate among them fails that
/// statement, and then only the duplicate fails: the others are committed and say so.
#[tokio::test]
async fn a_duplicate_in_a_batch_of_token_inserts_fails_alone() {
    let (_dir, store) = store_holding_record_0().await;
    let records = [1, 2, 0, 3].map(record);
    let (mut jobs, answers) = token_jobs(&records);
    commit_batch(&store.writer, &mut jobs).await;
    assert!(jobs.is_empty());
    for (answer, n) in answers.into_iter().zip([1, 2, 0, 3]) {
        let result = answer.await.unwrap();
        if n == 0 {
            assert!(matches!(result, Err(e) if e.is_store()));
        } else {
            assert!(matches!(result, Ok(Written::Rows(1))), "token {n}");
        }
    }
    for n in 0..4 {
        assert_eq!(
            store.token(&record(n).token_hash).await.unwrap(),
            Some(record(n))
        );
    }
}

/// A batch of more token inserts than one statement takes is committed whole.
#[tokio::test]
async fn a_batch_larger_than_one_insert_statement_is_committed_whole() {
    let (_dir, store) = store_with_client().await;
    let count = TOKENS_PER_INSERT * 2 + 3;
    let records: Vec<TokenRecord> = (0..count)
        .map(|n| TokenRecord {
            id: format!("id-{n}"),
            token_hash: TokenHash::of(&format!("many-{n}")),
            scope: Some("read write".into()),
            user_context: (n % 2 == 0).then(|| format!("user-{n}")),
            refresh: (n % 3 == 0).then(|| RefreshState {
                hash: TokenHash::of(&format!("refresh-{n}")),
                expires_at: 5,
                used: false,
            }),
            code_hash: (n % 5 == 0).then(|| TokenHash::of(&format!("code-{n}"))),
            ..record(0)
        })
        .collect();
    let (mut jobs, answers) = token_jobs(&records);
    commit_batch(&store.writer, &mut jobs).await;
    for answer in answers {
        assert!(matches!(answer.await.unwrap(), Ok(Written::Rows(1))));
    }
    for r in &records {
        assert_eq!(store.token(&r.token_hash).await.unwrap().as_ref(), Some(r));
    }
}
