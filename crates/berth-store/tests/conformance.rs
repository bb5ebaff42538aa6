//! Every store implementation passes the same conformance suite.

use berth_store::{conformance, MemoryStore, SqliteStore};

#[test]
fn memory_store_conforms() {
    conformance::run_all(MemoryStore::new);
}

#[test]
fn sqlite_store_conforms() {
    let dirs = std::sync::Mutex::new(Vec::new());
    conformance::run_all(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("berth.db")).unwrap();
        dirs.lock().unwrap().push(dir);
        store
    });
}

#[test]
fn sqlite_store_keeps_everything_across_reopen() {
    use berth_store::{Collection, Store};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .insert(Collection::Clusters, "c", "", &serde_json::json!({"a": 1}))
            .unwrap();
        store
            .insert_next_revision("f", &mut |r| serde_json::json!({"revision": r}))
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.get(Collection::Clusters, "c").unwrap().unwrap().doc["a"],
        1
    );
    let next = store.insert_next_revision("f", &mut |r| serde_json::json!({"revision": r}));
    assert_eq!(next.unwrap().key, "f:2");
}
