//! The contract every [`Store`] meets, as a suite each implementation runs.
//!
//! Call [`run_all`] from an implementation's tests with a constructor for empty stores.

use crate::{Collection, Store, StoreError};
use serde_json::json;
use std::sync::Arc;

/// Runs every check against fresh stores made by `make`.
pub fn run_all<S: Store>(make: impl Fn() -> S) {
    insert_then_get(&make());
    insert_twice_is_refused(&make());
    update_bumps_version_and_detects_conflicts(&make());
    delete_checks_version(&make());
    list_filters_by_scope_in_key_order(&make());
    collections_are_separate(&make());
    revisions_are_consecutive_and_never_reused(&make());
    concurrent_revisions_have_no_gaps(Arc::new(make()));
    concurrent_updates_lose_nothing(Arc::new(make()));
}

fn insert_then_get(store: &impl Store) {
    let doc = json!({"clusterName": "a", "nested": {"x": [1, 2.5, "s", null]}});
    let record = store.insert(Collection::Clusters, "a", "", &doc).unwrap();
    assert_eq!(record.version, 1);
    let read = store.get(Collection::Clusters, "a").unwrap().unwrap();
    assert_eq!(read, record);
    assert_eq!(read.doc, doc);
    assert!(store.get(Collection::Clusters, "b").unwrap().is_none());
}

fn insert_twice_is_refused(store: &impl Store) {
    store
        .insert(Collection::Services, "c/s", "c", &json!({"v": 1}))
        .unwrap();
    let err = store
        .insert(Collection::Services, "c/s", "c", &json!({"v": 2}))
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert_eq!(
        store.get(Collection::Services, "c/s").unwrap().unwrap().doc,
        json!({"v": 1})
    );
}

fn update_bumps_version_and_detects_conflicts(store: &impl Store) {
    store
        .insert(Collection::Tasks, "t", "c", &json!({"v": 1}))
        .unwrap();
    let updated = store
        .update(Collection::Tasks, "t", 1, &json!({"v": 2}))
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.scope, "c");
    let err = store
        .update(Collection::Tasks, "t", 1, &json!({"v": 3}))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { expected: 1, .. }),
        "{err}"
    );
    assert_eq!(
        store.get(Collection::Tasks, "t").unwrap().unwrap().doc,
        json!({"v": 2})
    );
    let err = store
        .update(Collection::Tasks, "missing", 1, &json!({}))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
}

fn delete_checks_version(store: &impl Store) {
    store
        .insert(Collection::Clusters, "d", "", &json!({}))
        .unwrap();
    let err = store.delete(Collection::Clusters, "d", 7).unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    store.delete(Collection::Clusters, "d", 1).unwrap();
    assert!(store.get(Collection::Clusters, "d").unwrap().is_none());
    let err = store.delete(Collection::Clusters, "d", 1).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
}

fn list_filters_by_scope_in_key_order(store: &impl Store) {
    for (key, scope) in [("b/2", "b"), ("a/2", "a"), ("a/1", "a"), ("b/1", "b")] {
        store
            .insert(Collection::Services, key, scope, &json!({"k": key}))
            .unwrap();
    }
    let keys = |scope| -> Vec<String> {
        store
            .list(Collection::Services, scope)
            .unwrap()
            .into_iter()
            .map(|r| r.key)
            .collect()
    };
    assert_eq!(keys(Some("a")), ["a/1", "a/2"]);
    assert_eq!(keys(None), ["a/1", "a/2", "b/1", "b/2"]);
    assert!(keys(Some("z")).is_empty());
}

fn collections_are_separate(store: &impl Store) {
    store
        .insert(Collection::Clusters, "same", "", &json!(1))
        .unwrap();
    store
        .insert(Collection::AccessKeys, "same", "", &json!(2))
        .unwrap();
    assert_eq!(
        store
            .get(Collection::Clusters, "same")
            .unwrap()
            .unwrap()
            .doc,
        json!(1)
    );
    assert_eq!(
        store
            .get(Collection::AccessKeys, "same")
            .unwrap()
            .unwrap()
            .doc,
        json!(2)
    );
}

fn revisions_are_consecutive_and_never_reused(store: &impl Store) {
    let register = |family: &str| {
        store
            .insert_next_revision(family, &mut |revision| json!({"revision": revision}))
            .unwrap()
    };
    for expected in 1..=12 {
        let record = register("web");
        assert_eq!(record.key, format!("web:{expected}"));
        assert_eq!(record.scope, "web");
    }
    assert_eq!(register("worker").key, "worker:1");
    let latest = store
        .get(Collection::TaskDefinitions, "web:12")
        .unwrap()
        .unwrap();
    store
        .delete(Collection::TaskDefinitions, "web:12", latest.version)
        .unwrap();
    assert_eq!(register("web").key, "web:13");
    let revisions: Vec<i64> = store
        .list(Collection::TaskDefinitions, Some("web"))
        .unwrap()
        .iter()
        .map(|r| r.doc["revision"].as_i64().unwrap())
        .collect();
    assert_eq!(
        revisions,
        (1..=11).chain([13]).collect::<Vec<_>>(),
        "listed by revision"
    );
}

fn concurrent_revisions_have_no_gaps(store: Arc<impl Store>) {
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| {
                        store
                            .insert_next_revision("busy", &mut |r| json!({"revision": r}))
                            .unwrap()
                            .doc["revision"]
                            .as_i64()
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<i64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=80).collect::<Vec<_>>());
}

fn concurrent_updates_lose_nothing(store: Arc<impl Store>) {
    store
        .insert(Collection::Clusters, "counter", "", &json!({"n": 0}))
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for _ in 0..25 {
                    loop {
                        let record = store.get(Collection::Clusters, "counter").unwrap().unwrap();
                        let n = record.doc["n"].as_i64().unwrap();
                        match store.update(
                            Collection::Clusters,
                            "counter",
                            record.version,
                            &json!({"n": n + 1}),
                        ) {
                            Ok(_) => break,
                            Err(StoreError::Conflict { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let record = store.get(Collection::Clusters, "counter").unwrap().unwrap();
    assert_eq!(record.doc["n"], json!(100));
    assert_eq!(record.version, 101);
}
