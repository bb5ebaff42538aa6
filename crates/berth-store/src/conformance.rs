//! The contract every [`Store`] meets, as a suite each implementation runs.
//!
//! Call [`run_all`] from an implementation's tests with a constructor for empty stores.

use crate::{Collection, Record, Store, StoreError};
use serde_json::{json, Value};
use std::sync::Arc;

/// A document's text, as callers hand it to a store.
fn text(doc: Value) -> String {
    doc.to_string()
}

/// A record's document, parsed.
fn value(record: &Record) -> Value {
    serde_json::from_str(&record.doc).expect("stored documents are JSON")
}

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
    concurrent_refusals_change_nothing(Arc::new(make()));
    batch_sees_its_writes_and_keeps_them(&make());
    batch_alongside_other_writers(Arc::new(make()));
    every_collection_keeps_its_records(&make());
}

/// Every collection, including those added by later migrations, stores, scopes, updates and
/// deletes on its own.
fn every_collection_keeps_its_records(store: &impl Store) {
    for (n, collection) in Collection::ALL.into_iter().enumerate() {
        if collection == Collection::TaskDefinitions {
            continue;
        }
        let doc = |v: usize| text(json!({"collection": n, "v": v}));
        store.insert(collection, "k2", "s", &doc(2)).unwrap();
        store.insert(collection, "k1", "s", &doc(1)).unwrap();
        store.insert(collection, "k3", "other", &doc(3)).unwrap();
        let keys: Vec<String> = store
            .list(collection, Some("s"))
            .unwrap()
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(keys, ["k1", "k2"], "{collection:?}");
        store.update(collection, "k1", 1, &doc(10)).unwrap();
        assert_eq!(
            value(&store.get(collection, "k1").unwrap().unwrap()),
            json!({"collection": n, "v": 10}),
            "{collection:?}"
        );
        store.delete(collection, "k3", 1).unwrap();
        assert_eq!(
            store.list(collection, None).unwrap().len(),
            2,
            "{collection:?}"
        );
    }
}

fn insert_then_get(store: &impl Store) {
    let doc = json!({"clusterName": "a", "nested": {"x": [1, 2.5, "s", null]}});
    let record = store
        .insert(Collection::Clusters, "a", "", &text(doc.clone()))
        .unwrap();
    assert_eq!(record.version, 1);
    let read = store.get(Collection::Clusters, "a").unwrap().unwrap();
    assert_eq!(read, record);
    assert_eq!(value(&read), doc);
    assert!(store.get(Collection::Clusters, "b").unwrap().is_none());
}

fn insert_twice_is_refused(store: &impl Store) {
    store
        .insert(Collection::Services, "c/s", "c", &text(json!({"v": 1})))
        .unwrap();
    let err = store
        .insert(Collection::Services, "c/s", "c", &text(json!({"v": 2})))
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert_eq!(
        value(&store.get(Collection::Services, "c/s").unwrap().unwrap()),
        json!({"v": 1})
    );
}

fn update_bumps_version_and_detects_conflicts(store: &impl Store) {
    store
        .insert(Collection::Tasks, "t", "c", &text(json!({"v": 1})))
        .unwrap();
    let updated = store
        .update(Collection::Tasks, "t", 1, &text(json!({"v": 2})))
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.scope, "c");
    let err = store
        .update(Collection::Tasks, "t", 1, &text(json!({"v": 3})))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { expected: 1, .. }),
        "{err}"
    );
    assert_eq!(
        value(&store.get(Collection::Tasks, "t").unwrap().unwrap()),
        json!({"v": 2})
    );
    let err = store
        .update(Collection::Tasks, "missing", 1, &text(json!({})))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
}

fn delete_checks_version(store: &impl Store) {
    store
        .insert(Collection::Clusters, "d", "", &text(json!({})))
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
            .insert(Collection::Services, key, scope, &text(json!({"k": key})))
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
        .insert(Collection::Clusters, "same", "", &text(json!(1)))
        .unwrap();
    store
        .insert(Collection::AccessKeys, "same", "", &text(json!(2)))
        .unwrap();
    assert_eq!(
        value(&store.get(Collection::Clusters, "same").unwrap().unwrap()),
        json!(1)
    );
    assert_eq!(
        value(&store.get(Collection::AccessKeys, "same").unwrap().unwrap()),
        json!(2)
    );
}

fn revisions_are_consecutive_and_never_reused(store: &impl Store) {
    let register = |family: &str| {
        store
            .insert_next_revision(family, &mut |revision| text(json!({"revision": revision})))
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
        .map(|r| value(r)["revision"].as_i64().unwrap())
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
                        let record = store
                            .insert_next_revision("busy", &mut |r| text(json!({"revision": r})))
                            .unwrap();
                        value(&record)["revision"].as_i64().unwrap()
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
        .insert(Collection::Clusters, "counter", "", &text(json!({"n": 0})))
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for _ in 0..25 {
                    loop {
                        let record = store.get(Collection::Clusters, "counter").unwrap().unwrap();
                        let n = value(&record)["n"].as_i64().unwrap();
                        match store.update(
                            Collection::Clusters,
                            "counter",
                            record.version,
                            &text(json!({"n": n + 1})),
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
    assert_eq!(value(&record)["n"], json!(100));
    assert_eq!(record.version, 101);
}

/// Writers racing with refused writes (duplicate inserts, stale updates and deletes): every
/// accepted write is kept and every refused one changes nothing, also when a store commits
/// concurrent writes together.
fn concurrent_refusals_change_nothing(store: Arc<impl Store>) {
    const THREADS: usize = 8;
    const ROUNDS: usize = 20;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    let key = format!("t{t}-{i}");
                    let doc = text(json!({"t": t, "i": i}));
                    store.insert(Collection::Tasks, &key, "c", &doc).unwrap();
                    let again = store.insert(Collection::Tasks, &key, "c", &text(json!(0)));
                    assert!(matches!(again, Err(StoreError::AlreadyExists { .. })));
                    let stale = store.update(Collection::Tasks, &key, 7, &text(json!(0)));
                    assert!(matches!(stale, Err(StoreError::Conflict { .. })));
                    let gone = store.delete(Collection::Tasks, &format!("{key}-missing"), 1);
                    assert!(matches!(gone, Err(StoreError::NotFound { .. })));
                    if i % 2 == 1 {
                        let updated = text(json!({"t": t, "i": i, "odd": true}));
                        store.update(Collection::Tasks, &key, 1, &updated).unwrap();
                    }
                    // What a write returned is what every later read sees.
                    let read = store.get(Collection::Tasks, &key).unwrap().unwrap();
                    assert_eq!(read.version, if i % 2 == 1 { 2 } else { 1 });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let records = store.list(Collection::Tasks, Some("c")).unwrap();
    assert_eq!(records.len(), THREADS * ROUNDS);
    for record in records {
        let doc = value(&record);
        let odd = doc["i"].as_u64().unwrap() % 2 == 1;
        assert_eq!(record.version, if odd { 2 } else { 1 });
        assert_eq!(doc.get("odd").is_some(), odd);
    }
}

/// Inside a batch, a thread reads what it wrote; refused writes change nothing; once the
/// batch returns `Ok`, everything it wrote is there for everyone.
fn batch_sees_its_writes_and_keeps_them(store: &impl Store) {
    store
        .insert(Collection::Clusters, "before", "", &text(json!({"n": 0})))
        .unwrap();
    let mut revisions = Vec::new();
    store
        .batch(&mut || {
            store
                .insert(Collection::Clusters, "a", "", &text(json!({"n": 1})))
                .unwrap();
            let read = store.get(Collection::Clusters, "a").unwrap().unwrap();
            assert_eq!(value(&read), json!({"n": 1}));
            store
                .update(Collection::Clusters, "a", 1, &text(json!({"n": 2})))
                .unwrap();
            let stale = store.update(Collection::Clusters, "a", 1, &text(json!({"n": 3})));
            assert!(matches!(stale, Err(StoreError::Conflict { .. })));
            let again = store.insert(Collection::Clusters, "a", "", &text(json!({})));
            assert!(matches!(again, Err(StoreError::AlreadyExists { .. })));
            store.delete(Collection::Clusters, "before", 1).unwrap();
            assert!(store.get(Collection::Clusters, "before").unwrap().is_none());
            for _ in 0..3 {
                let record = store
                    .insert_next_revision("b", &mut |r| text(json!({"revision": r})))
                    .unwrap();
                revisions.push(record.key);
            }
            let listed = store.list(Collection::TaskDefinitions, Some("b")).unwrap();
            assert_eq!(listed.len(), 3);
        })
        .unwrap();
    assert_eq!(revisions, ["b:1", "b:2", "b:3"]);
    let a = store.get(Collection::Clusters, "a").unwrap().unwrap();
    assert_eq!((a.version, value(&a)), (2, json!({"n": 2})));
    assert!(store.get(Collection::Clusters, "before").unwrap().is_none());
    let keys: Vec<String> = store
        .list(Collection::TaskDefinitions, None)
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, ["b:1", "b:2", "b:3"]);
}

/// Other threads keep writing, and see only committed state, while a batch runs.
fn batch_alongside_other_writers(store: Arc<impl Store>) {
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..20 {
                    let key = format!("other-{t}-{i}");
                    store
                        .insert(Collection::Tasks, &key, "c", &text(json!({"i": i})))
                        .unwrap();
                    assert!(store.get(Collection::Tasks, &key).unwrap().is_some());
                }
            })
        })
        .collect();
    for round in 0..10 {
        store
            .batch(&mut || {
                for i in 0..5 {
                    let key = format!("batch-{round}-{i}");
                    store
                        .insert(Collection::Tasks, &key, "c", &text(json!({"i": i})))
                        .unwrap();
                }
            })
            .unwrap();
    }
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(
        store.list(Collection::Tasks, Some("c")).unwrap().len(),
        4 * 20 + 10 * 5
    );
}
