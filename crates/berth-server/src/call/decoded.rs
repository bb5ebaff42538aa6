//! Recently decoded documents, each with the exact text it was decoded from.
//!
//! Decoding is most of what a Describe or List costs. A record whose stored text is
//! byte-for-byte what an entry was decoded from decodes to the same value, so it is cloned
//! from the entry instead (a fraction of the cost). The text is compared on every read, so a
//! changed record is always decoded afresh; nothing here can go stale.

use super::record::{to_doc, Fault};
use berth_store::{Collection, Record};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

/// What a stored resource type needs to be read through [`Decoded`].
pub trait Resource: DeserializeOwned + Serialize + Clone + Send + Sync + 'static {}
impl<T: DeserializeOwned + Serialize + Clone + Send + Sync + 'static> Resource for T {}

/// Above this many entries, or this many bytes of their documents, [`Decoded`] starts over:
/// enough for every task of a cluster of 100,000 (what a controller round reads).
const MAX_DECODED: usize = 1 << 18;
const MAX_DECODED_BYTES: usize = 512 << 20;

#[derive(Default)]
pub(super) struct Decoded {
    /// Read by every decode at once; written only to add what one decoded.
    entries: RwLock<Entries>,
}

#[derive(Default)]
struct Entries {
    len: usize,
    bytes: usize,
    /// By collection (`Collection as usize`), then key.
    by_collection: [HashMap<String, Entry>; Collection::ALL.len()],
}

struct Entry {
    doc: Arc<str>,
    /// A `Cached<T>` of the collection's resource type.
    cached: Arc<dyn Any + Send + Sync>,
}

/// A decoded document and, once an answer has asked for it, the JSON it renders to.
pub struct Cached<T> {
    pub value: T,
    json: OnceLock<String>,
}

impl<T: Serialize> Cached<T> {
    /// The value as answers show it: rendered once per version of the record, so that a
    /// Describe answering with it copies text instead of building the JSON again.
    pub fn json(&self) -> &str {
        self.json.get_or_init(|| to_doc(&self.value))
    }
}

/// Decodes a stored document straight from its text into the resource type.
fn from_record<T: DeserializeOwned>(record: &Record) -> Result<T, Fault> {
    serde_json::from_str(&record.doc).map_err(|source| Fault::Corrupt {
        key: record.key.clone(),
        source,
    })
}

impl Decoded {
    pub(super) fn decode<T: Resource>(
        &self,
        collection: Collection,
        record: &Record,
    ) -> Result<T, Fault> {
        Ok(self.cached::<T>(collection, record)?.value.clone())
    }

    pub(super) fn cached<T: Resource>(
        &self,
        collection: Collection,
        record: &Record,
    ) -> Result<Arc<Cached<T>>, Fault> {
        let hit = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_collection[collection as usize]
            .get(&record.key)
            .filter(|entry| Arc::ptr_eq(&entry.doc, &record.doc) || entry.doc == record.doc)
            .and_then(|entry| Arc::clone(&entry.cached).downcast::<Cached<T>>().ok());
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let cached = Arc::new(Cached {
            value: from_record::<T>(record)?,
            json: OnceLock::new(),
        });
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len >= MAX_DECODED || entries.bytes + record.doc.len() > MAX_DECODED_BYTES {
            *entries = Entries::default();
        }
        entries.bytes += record.doc.len();
        let entry = Entry {
            doc: Arc::clone(&record.doc),
            cached: Arc::clone(&cached) as Arc<dyn Any + Send + Sync>,
        };
        if entries.by_collection[collection as usize]
            .insert(record.key.clone(), entry)
            .is_none()
        {
            entries.len += 1;
        }
        Ok(cached)
    }
}
