//! SQLite's group commit: single-statement writes queued by every caller, committed together
//! by one writer task in one transaction (one fsync for the lot), each caller answered only
//! after the commit. See [`SqliteStore`](super::SqliteStore) for the rules.

use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqlitePool};
use sqlx::{Row, Sqlite};
use tokio::sync::{mpsc, oneshot};

use super::failure::{is_database_wide, poisons_connection};
use super::statements::{INSERT_TOKENS, TOKEN_ROW};
use crate::model::TokenRecord;
use crate::secret::TokenHash;
use crate::store::sql::binds::{bind_token, insert_token};
use crate::Error;

/// Most single-statement writes committed together by the group-commit writer.
pub(super) const MAX_BATCH: usize = 256;

/// Writes waiting for the group-commit writer before callers wait to enqueue.
pub(super) const QUEUE: usize = 4 * MAX_BATCH;

/// Builds a single-statement write; called again if its batch has to be rerun item by item.
pub(super) type WriteQuery = Box<dyn Fn() -> Query<'static, Sqlite, SqliteArguments> + Send + Sync>;

/// One single-statement write waiting for the group-commit writer.
pub(super) struct Job {
    pub(super) op: Op,
    pub(super) ack: oneshot::Sender<Result<Written, Error>>,
}

/// A batched write.
pub(super) enum Op {
    /// A token insert: consecutive ones in a batch go in multi-row `INSERT`s.
    Token(Box<TokenRecord>),
    /// Any other statement; `true` when it returns `token_hash` rows (`RETURNING token_hash`).
    Query(WriteQuery, bool),
}

/// What a batched statement did.
pub(super) enum Written {
    Rows(u64),
    Hashes(Vec<TokenHash>),
}

impl Written {
    pub(super) fn rows(self) -> u64 {
        match self {
            Written::Rows(n) => n,
            Written::Hashes(h) => h.len() as u64,
        }
    }

    pub(super) fn hashes(self) -> Vec<TokenHash> {
        match self {
            Written::Rows(_) => Vec::new(),
            Written::Hashes(h) => h,
        }
    }
}

/// The group-commit writer: takes every queued write (up to [`MAX_BATCH`]), commits them in
/// one transaction, then answers each caller. Ends when every [`SqliteStore`] clone is gone.
pub(super) async fn group_commit(pool: SqlitePool, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (writes, started) = (jobs.len(), std::time::Instant::now());
        commit_batch(&pool, &mut jobs).await;
        tracing::trace!(
            writes,
            micros = started.elapsed().as_micros() as u64,
            "group commit"
        );
        jobs.clear();
    }
}

async fn run_write(conn: &mut sqlx::SqliteConnection, job: &Job) -> Result<Written, sqlx::Error> {
    let (query, returning) = match &job.op {
        Op::Token(token) => (insert_token::<Sqlite>(token), false),
        Op::Query(query, returning) => (query(), *returning),
    };
    if returning {
        let rows = query.fetch_all(&mut *conn).await?;
        let mut hashes = Vec::with_capacity(rows.len());
        for row in &rows {
            let hex: String = row.try_get("token_hash")?;
            let hash = TokenHash::from_hex(&hex).ok_or_else(|| {
                sqlx::Error::Decode(format!("corrupt hash in the database: {hex:?}").into())
            })?;
            hashes.push(hash);
        }
        Ok(Written::Hashes(hashes))
    } else {
        Ok(Written::Rows(
            query.execute(&mut *conn).await?.rows_affected(),
        ))
    }
}

/// A constraint failure: SQLite backs out that statement alone and the transaction goes on
/// (the default `ON CONFLICT ABORT`).
fn is_constraint(e: &sqlx::Error) -> bool {
    use sqlx::error::ErrorKind;
    matches!(e, sqlx::Error::Database(db) if matches!(db.kind(),
        ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation
        | ErrorKind::NotNullViolation | ErrorKind::CheckViolation))
}

/// How a grouped transaction failed.
enum Grouped {
    /// A statement, before `COMMIT`: nothing is written; each job can run again on its own.
    Rerun(sqlx::Error),
    /// `BEGIN`, `COMMIT` (what is on disk is unknown), or the database itself (locked past the
    /// busy timeout, unreadable, full: each job alone would fail the same way, one busy
    /// timeout after the other): every job fails.
    Failed(sqlx::Error),
}

/// A statement of a grouped transaction failed: [`Grouped::Rerun`], unless the failure is the
/// database's.
fn statement_failed(e: sqlx::Error) -> Grouped {
    if is_database_wide(&e) {
        Grouped::Failed(e)
    } else {
        Grouped::Rerun(e)
    }
}

fn answer(job: Job, result: Result<Written, Error>) {
    // A caller that stopped waiting no longer needs the answer.
    let _ = job.ack.send(result);
}

/// Answers every job with the failure `e`.
fn fail_every(jobs: impl IntoIterator<Item = Job>, e: &sqlx::Error) {
    let e = e.to_string();
    for job in jobs {
        answer(job, Err(Error::store(e.clone())));
    }
}

/// Commits `jobs` together and answers every caller, never before the commit.
pub(super) async fn commit_batch(pool: &SqlitePool, jobs: &mut Vec<Job>) {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => {
            fail_every(jobs.drain(..), &e);
            return;
        }
    };
    // Only token inserts, the common case: one statement, which in autocommit mode is its own
    // transaction (one round trip to the connection's thread, one fsync). If it fails, nothing
    // of it is written: a failure of the database fails every job, as below; any other (a
    // duplicate) leaves the batch to the general path, which finds the culprit.
    if jobs.len() <= TOKENS_PER_INSERT && jobs.iter().all(|job| matches!(job.op, Op::Token(_))) {
        match insert_tokens_query(jobs).execute(&mut *conn).await {
            Ok(_) => {
                for job in jobs.drain(..) {
                    answer(job, Ok(Written::Rows(1)));
                }
                return;
            }
            Err(e) if is_database_wide(&e) => {
                if poisons_connection(&e) {
                    conn.close_on_drop();
                }
                fail_every(jobs.drain(..), &e);
                return;
            }
            Err(e) => tracing::debug!(error = %e, "batched token insert failed; retrying"),
        }
    }
    if jobs.len() > 1 {
        let mut results = Vec::with_capacity(jobs.len());
        let grouped = async {
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
                .await
                .map_err(Grouped::Failed)?;
            let mut next = 0;
            while next < jobs.len() {
                // A run of token inserts: one statement.
                let run = jobs[next..]
                    .iter()
                    .take(TOKENS_PER_INSERT)
                    .take_while(|job| matches!(job.op, Op::Token(_)))
                    .count();
                if run > 1 {
                    let chunk = &jobs[next..next + run];
                    match insert_tokens_query(chunk).execute(&mut *tx).await {
                        Ok(_) => results.extend(chunk.iter().map(|_| Ok(Written::Rows(1)))),
                        // The statement was backed out whole: find the culprit row by row.
                        Err(e) if is_constraint(&e) => {
                            for job in chunk {
                                match run_write(&mut tx, job).await {
                                    Ok(written) => results.push(Ok(written)),
                                    Err(e) if is_constraint(&e) => {
                                        results.push(Err(Error::store(e)))
                                    }
                                    Err(e) => return Err(statement_failed(e)),
                                }
                            }
                        }
                        Err(e) => return Err(statement_failed(e)),
                    }
                    next += run;
                    continue;
                }
                match run_write(&mut tx, &jobs[next]).await {
                    Ok(written) => results.push(Ok(written)),
                    Err(e) if is_constraint(&e) => results.push(Err(Error::store(e))),
                    // The transaction may be gone: roll back (on drop) and rerun one by one.
                    Err(e) => return Err(statement_failed(e)),
                }
                next += 1;
            }
            tx.commit().await.map_err(Grouped::Failed)
        }
        .await;
        match grouped {
            Ok(()) => {
                for (job, result) in jobs.drain(..).zip(results) {
                    answer(job, result);
                }
                return;
            }
            Err(Grouped::Failed(e)) => {
                if poisons_connection(&e) {
                    conn.close_on_drop();
                }
                fail_every(jobs.drain(..), &e);
                return;
            }
            Err(Grouped::Rerun(e)) => {
                tracing::debug!(error = %e, "group commit failed; writing one by one");
            }
        }
    }
    let mut jobs = jobs.drain(..);
    while let Some(job) = jobs.next() {
        match run_write(&mut conn, &job).await {
            Ok(written) => answer(job, Ok(written)),
            // The rest would fail the same way, each after its own busy timeout.
            Err(e) if is_database_wide(&e) => {
                if poisons_connection(&e) {
                    conn.close_on_drop();
                }
                fail_every(jobs, &e);
                answer(job, Err(Error::store(e)));
                return;
            }
            Err(e) => answer(job, Err(Error::store(e))),
        }
    }
}

/// Most rows in one token `INSERT`: a statement is prepared (and cached on the writer's
/// connection) for each row count up to this, so the cache holds at most this many of them.
pub(super) const TOKENS_PER_INSERT: usize = 64;

/// One `INSERT` of every token in `jobs` (each [`Op::Token`]; at most [`TOKENS_PER_INSERT`]).
fn insert_tokens_query(jobs: &[Job]) -> Query<'static, Sqlite, SqliteArguments> {
    debug_assert!(jobs.len() <= TOKENS_PER_INSERT);
    let mut sql = String::with_capacity(INSERT_TOKENS.len() + jobs.len() * (TOKEN_ROW.len() + 2));
    sql.push_str(INSERT_TOKENS);
    for i in 0..jobs.len() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(TOKEN_ROW);
    }
    // Only placeholders are spliced in; every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for job in jobs {
        if let Op::Token(token) = &job.op {
            query = bind_token(query, token);
        }
    }
    query
}

#[cfg(test)]
mod tests;
