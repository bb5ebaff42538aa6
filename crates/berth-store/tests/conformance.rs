//! Every store implementation passes the same conformance suite.

use berth_store::{conformance, MemoryStore, SqliteStore, StoreError};

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
            .insert(Collection::Clusters, "c", "", r#"{"a":1}"#)
            .unwrap();
        store
            .insert_next_revision("f", &mut |r| format!(r#"{{"revision":{r}}}"#))
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        &*store.get(Collection::Clusters, "c").unwrap().unwrap().doc,
        r#"{"a":1}"#
    );
    let next = store.insert_next_revision("f", &mut |r| format!(r#"{{"revision":{r}}}"#));
    assert_eq!(next.unwrap().key, "f:2");
}

fn sqlite_store() -> (tempfile::TempDir, std::path::PathBuf, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let store = SqliteStore::open(&path).unwrap();
    (dir, path, store)
}

#[test]
fn a_panicking_build_changes_nothing_and_leaves_the_store_usable() {
    use berth_store::Store;
    let (_dir, _path, store) = sqlite_store();
    store
        .insert_next_revision("f", &mut |r| format!(r#"{{"revision":{r}}}"#))
        .unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.insert_next_revision("f", &mut |_| panic!("build failed"))
    }));
    assert!(panicked.is_err());
    // The revision the panicking call drew was never handed out, so it is the next one.
    let next = store
        .insert_next_revision("f", &mut |r| format!(r#"{{"revision":{r}}}"#))
        .unwrap();
    assert_eq!(next.key, "f:2");
}

/// Another process (here: another store on the same file) sees a batch only once it is
/// committed, and this store sees the other's writes at the latest after the read cache's
/// freshness bound.
#[test]
fn other_connections_see_committed_state_only() {
    use berth_store::{Collection, Store};
    let (_dir, path, store) = sqlite_store();
    let other = SqliteStore::open(&path).unwrap();
    store
        .insert(Collection::AccessKeys, "k", "", r#"{"v":1}"#)
        .unwrap();
    // Read (and so cached) by this store.
    assert!(store.get(Collection::AccessKeys, "k").unwrap().is_some());
    store
        .batch(&mut || {
            store
                .insert(Collection::Clusters, "c", "", r#"{"v":1}"#)
                .unwrap();
            assert!(other.get(Collection::Clusters, "c").unwrap().is_none());
        })
        .unwrap();
    std::thread::sleep(berth_store::FRESH_FOR * 5);
    assert!(other.get(Collection::Clusters, "c").unwrap().is_some());

    let record = other.get(Collection::AccessKeys, "k").unwrap().unwrap();
    other
        .delete(Collection::AccessKeys, "k", record.version)
        .unwrap();
    std::thread::sleep(berth_store::FRESH_FOR * 5);
    assert!(store.get(Collection::AccessKeys, "k").unwrap().is_none());
    assert!(store.list(Collection::AccessKeys, None).unwrap().is_empty());
}

#[test]
fn a_failed_open_keeps_sqlites_error_as_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let Err(error) = SqliteStore::open(&dir.path().join("missing").join("berth.db")) else {
        panic!("opened a database in a directory that does not exist");
    };
    assert!(matches!(error, StoreError::Sqlite(_)), "{error}");
    let source = std::error::Error::source(&error).expect("the error keeps its source");
    assert!(source.is::<rusqlite::Error>(), "{source:?}");
    assert!(error.to_string().starts_with("sqlite: "), "{error}");
}
