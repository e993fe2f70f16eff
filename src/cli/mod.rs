//! The `tokengate` commands that manage records over their life: `client show|update|
//! rotate-secret`, `service update`, `token list|revoke`, `store rekey` and `apply`. Each opens
//! the store a running server may be using; the server's caches see the change through the
//! store's change feed (SQLite: within about 100 ms; PostgreSQL: NOTIFY). `config check`
//! validates and prints the configuration.

pub mod client;
pub mod config;
pub mod service;
pub mod store;
pub mod token;
