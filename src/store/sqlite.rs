//! SQLite store (placeholder, replaced by the real implementation).

/// The embedded SQLite store.
#[derive(Debug)]
pub struct SqliteStore;
