//! Stored documents as text: how a resource is written, and the fault when the store fails
//! or holds a record that cannot be read.

use berth_store::StoreError;
use serde::Serialize;

/// A fault of the server's own, which no request can fix: the store failed, or it holds a
/// record that does not decode. Each API answers it with its 5xx error.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error("internal store failure: {0}")]
    Store(#[from] StoreError),
    #[error("stored record {key} does not decode: {source}")]
    Corrupt {
        key: String,
        source: serde_json::Error,
    },
}

/// A resource's JSON text, as the store keeps it.
pub fn to_doc<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("resource types serialize to JSON")
}

/// A resource as a JSON value, for answers built around it.
pub fn to_value<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("resource types serialize to JSON")
}
