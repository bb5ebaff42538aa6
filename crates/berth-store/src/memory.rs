//! An in-memory [`Store`] for tests of the layers above: same contract, no durability.

use crate::{revision_key, revision_of, Collection, Record, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    records: BTreeMap<(Collection, String), Record>,
    last_revision: HashMap<String, i64>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change: every method
        // mutates the map with a single call after all checks.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn sort_key(collection: Collection, record: &Record) -> (String, i64, String) {
    match collection {
        Collection::TaskDefinitions => (
            record.scope.clone(),
            revision_of(&record.doc),
            String::new(),
        ),
        _ => (String::new(), 0, record.key.clone()),
    }
}

fn check_json(doc: &str) {
    debug_assert!(
        serde_json::from_str::<serde_json::Value>(doc).is_ok(),
        "stored documents are JSON text: {doc:?}"
    );
}

impl Store for MemoryStore {
    fn get(&self, collection: Collection, key: &str) -> Result<Option<Record>, StoreError> {
        Ok(self
            .lock()
            .records
            .get(&(collection, key.to_string()))
            .cloned())
    }

    fn list(&self, collection: Collection, scope: Option<&str>) -> Result<Vec<Record>, StoreError> {
        let state = self.lock();
        let mut out: Vec<Record> = state
            .records
            .iter()
            .filter(|((c, _), r)| *c == collection && scope.is_none_or(|s| r.scope == s))
            .map(|(_, r)| r.clone())
            .collect();
        out.sort_by_cached_key(|r| sort_key(collection, r));
        Ok(out)
    }

    fn insert(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        doc: &str,
    ) -> Result<Record, StoreError> {
        check_json(doc);
        let mut state = self.lock();
        let id = (collection, key.to_string());
        if state.records.contains_key(&id) {
            return Err(StoreError::AlreadyExists {
                collection,
                key: key.to_string(),
            });
        }
        let record = Record {
            key: key.to_string(),
            scope: scope.to_string(),
            version: 1,
            doc: doc.into(),
        };
        state.records.insert(id, record.clone());
        Ok(record)
    }

    fn update(
        &self,
        collection: Collection,
        key: &str,
        expected_version: i64,
        doc: &str,
    ) -> Result<Record, StoreError> {
        check_json(doc);
        let mut state = self.lock();
        let Some(record) = state.records.get_mut(&(collection, key.to_string())) else {
            return Err(StoreError::NotFound {
                collection,
                key: key.to_string(),
            });
        };
        if record.version != expected_version {
            return Err(StoreError::Conflict {
                collection,
                key: key.to_string(),
                expected: expected_version,
            });
        }
        record.version += 1;
        record.doc = doc.into();
        Ok(record.clone())
    }

    fn delete(
        &self,
        collection: Collection,
        key: &str,
        expected_version: i64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let id = (collection, key.to_string());
        match state.records.get(&id) {
            None => Err(StoreError::NotFound {
                collection,
                key: key.to_string(),
            }),
            Some(r) if r.version != expected_version => Err(StoreError::Conflict {
                collection,
                key: key.to_string(),
                expected: expected_version,
            }),
            Some(_) => {
                state.records.remove(&id);
                Ok(())
            }
        }
    }

    fn insert_next_revision(
        &self,
        family: &str,
        build: &mut dyn FnMut(i64) -> String,
    ) -> Result<Record, StoreError> {
        let mut state = self.lock();
        let revision = state.last_revision.get(family).copied().unwrap_or(0) + 1;
        let doc = build(revision);
        check_json(&doc);
        let key = revision_key(family, revision);
        let record = Record {
            key: key.clone(),
            scope: family.to_string(),
            version: 1,
            doc: doc.into(),
        };
        state.last_revision.insert(family.to_string(), revision);
        state
            .records
            .insert((Collection::TaskDefinitions, key), record.clone());
        Ok(record)
    }
}
