//! Durable state behind one small trait.
//!
//! Berth keeps every resource as a JSON document in a collection, keyed by its natural name
//! and grouped by a scope (the cluster of a service, the family of a task definition).
//! Each record carries a version: writers read, change and write back with the version they
//! read, and a concurrent change makes the write fail with [`StoreError::Conflict`] instead of
//! silently losing an update. Nothing here assumes SQLite: the same contract is met by the
//! in-memory [`MemoryStore`] used in tests, and [`conformance`] checks both.
//!
//! A write that returns `Ok` is durable: the SQLite store commits with `synchronous=FULL`.

pub mod conformance;
mod memory;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

use serde_json::Value;

/// The kinds of record Berth stores. Each is its own table in SQL stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    Clusters,
    TaskDefinitions,
    Services,
    Tasks,
    AccessKeys,
    ContainerInstances,
    /// Join tokens for agents, keyed by the SHA-256 of the token.
    JoinTokens,
}

impl Collection {
    pub const ALL: [Collection; 7] = [
        Collection::Clusters,
        Collection::TaskDefinitions,
        Collection::Services,
        Collection::Tasks,
        Collection::AccessKeys,
        Collection::ContainerInstances,
        Collection::JoinTokens,
    ];

    pub fn table(self) -> &'static str {
        match self {
            Collection::Clusters => "clusters",
            Collection::TaskDefinitions => "task_definitions",
            Collection::Services => "services",
            Collection::Tasks => "tasks",
            Collection::AccessKeys => "access_keys",
            Collection::ContainerInstances => "container_instances",
            Collection::JoinTokens => "join_tokens",
        }
    }
}

/// One stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: String,
    pub scope: String,
    /// Starts at 1 and grows by one on every update.
    pub version: i64,
    pub doc: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{collection:?} record {key} already exists")]
    AlreadyExists { collection: Collection, key: String },
    #[error("{collection:?} record {key} not found")]
    NotFound { collection: Collection, key: String },
    #[error("{collection:?} record {key} changed concurrently (expected version {expected})")]
    Conflict {
        collection: Collection,
        key: String,
        expected: i64,
    },
    #[error("store failure: {0}")]
    Backend(String),
}

/// Durable, versioned document storage.
///
/// Records in a scope list in key order, except task definitions, which list by revision.
pub trait Store: Send + Sync + 'static {
    fn get(&self, collection: Collection, key: &str) -> Result<Option<Record>, StoreError>;

    /// All records of a collection, or of one scope of it.
    fn list(&self, collection: Collection, scope: Option<&str>) -> Result<Vec<Record>, StoreError>;

    /// Inserts a new record at version 1.
    fn insert(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        doc: &Value,
    ) -> Result<Record, StoreError>;

    /// Replaces a record's document if its version is still `expected_version`.
    fn update(
        &self,
        collection: Collection,
        key: &str,
        expected_version: i64,
        doc: &Value,
    ) -> Result<Record, StoreError>;

    /// Removes a record if its version is still `expected_version`.
    fn delete(
        &self,
        collection: Collection,
        key: &str,
        expected_version: i64,
    ) -> Result<(), StoreError>;

    /// Registers the next revision of a task definition family in one transaction: revisions
    /// count 1, 2, 3 … per family with no gaps, and a number once handed out is never reused,
    /// even after its record is deleted. `build` turns the revision into the document.
    fn insert_next_revision(
        &self,
        family: &str,
        build: &mut dyn FnMut(i64) -> Value,
    ) -> Result<Record, StoreError>;
}

/// The key under which a task definition revision is stored.
pub fn revision_key(family: &str, revision: i64) -> String {
    format!("{family}:{revision}")
}
