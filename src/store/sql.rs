//! What the SQLite and PostgreSQL stores share: everything but their SQL text and their
//! connection handling.
//!
//! * [`access`]: the [`Sql`] bound that lets this code run on either sqlx driver (`Sqlite`,
//!   `Postgres`): binding and reading the few column types the schema uses.
//! * [`Dialect`] ([`dialect`]): the statements, one constant each, that each backend spells in
//!   its own SQL (`sqlite/statements.rs`, `postgres/statements.rs`).
//! * [`rows`] and [`binds`]: the model to and from rows (enums by name, lists as JSON, hashes as
//!   hex, times as unix millis), one implementation for both.
//! * [`codes`], [`clients`], [`tokens`]: the order of statements of each operation that takes
//!   more than one (a redemption, a rotation, a client change and the tokens it ends), run on a
//!   connection inside the caller's transaction, and the choice of statement for a revocation,
//!   an update and a listing page; [`purge`], the batched delete of what has expired;
//!   [`migrate`], the migrations a database has not seen yet; [`registry`], deleting a
//!   service and the store's own metadata.
//! * [`impl_sql_store!`]: the `Store` methods that are the same on both, written once.
//!
//! The backends keep what is their own: SQLite its writer and reader pools, group commit and
//! `BEGIN IMMEDIATE`; PostgreSQL its pool and the `NOTIFY` published in the same transaction.

pub(super) mod access;
pub(super) mod binds;
pub(super) mod clients;
pub(super) mod codes;
pub(super) mod dialect;
pub(super) mod migrate;
pub(super) mod purge;
pub(super) mod registry;
pub(super) mod rows;
mod store_methods;
pub(super) mod tokens;

pub(super) use access::{Bind, Fields, Sql, Statement};
pub(super) use dialect::Dialect;
pub(super) use store_methods::impl_sql_store;
