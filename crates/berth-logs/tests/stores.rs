//! The conformance suite over the fake and the embedded store, and the embedded store's
//! opening of stores from before segments.

use berth_logs::store::{
    conformance, CapturedEvent, CapturedStream, FilterQuery, LogStore, MemoryLogStore, NewEvent,
    Position, SegmentedLogStore,
};

fn segmented() -> (tempfile::TempDir, SegmentedLogStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentedLogStore::open(dir.path()).unwrap();
    (dir, store)
}

macro_rules! conforms {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(#[test] fn $case() { conformance::$case(MemoryLogStore::default()); })*
        }
        mod segmented {
            use super::*;
            $(#[test] fn $case() { let (_dir, store) = segmented(); conformance::$case(store); })*
        }
    };
}

conforms!(
    groups_and_streams,
    reading_pages_forward_and_backward,
    filtering_across_streams,
    retention_and_the_size_cap,
    capturing_without_repeats,
    searching_for_rare_terms,
    searching_past_the_budget,
    searching_while_events_arrive,
    searching_after_retention,
    one_stream_across_segments,
    segments_dropped_under_readers,
    deleting_across_segments,
    capturing_a_shipment,
);

#[test]
fn the_segmented_store_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    conformance::survives_reopening(|| SegmentedLogStore::open(dir.path()).unwrap());
}

#[test]
fn a_store_that_cannot_be_opened_says_where() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let error = SegmentedLogStore::open(file.path())
        .err()
        .expect("a file is no directory");
    assert!(
        error
            .to_string()
            .contains(&file.path().display().to_string()),
        "{error}"
    );
}

/// The schema log stores were made with before streams kept a captured position.
const SCHEMA_BEFORE_CAPTURE: &str = "
    CREATE TABLE groups (
        name TEXT PRIMARY KEY, created INTEGER NOT NULL, retention_days INTEGER,
        tags TEXT NOT NULL DEFAULT '{}');
    CREATE TABLE streams (
        id INTEGER PRIMARY KEY, group_name TEXT NOT NULL, name TEXT NOT NULL,
        created INTEGER NOT NULL, first_event INTEGER, last_event INTEGER,
        last_ingestion INTEGER, last_seq INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0, UNIQUE (group_name, name));
    CREATE TABLE events (
        stream_id INTEGER NOT NULL, seq INTEGER NOT NULL, timestamp INTEGER NOT NULL,
        ingestion INTEGER NOT NULL, message TEXT NOT NULL,
        PRIMARY KEY (stream_id, seq)) WITHOUT ROWID;
    CREATE INDEX events_by_time ON events (timestamp, stream_id, seq);
    CREATE INDEX events_by_stream_time ON events (stream_id, timestamp);
";

/// A `logs.db` of the schema before capture in `dir`, holding the event "before" in stream s
/// of group g; its path.
fn store_before_capture_with_one_event(dir: &std::path::Path) -> std::path::PathBuf {
    let db = dir.join("logs.db");
    let old = rusqlite::Connection::open(&db).unwrap();
    old.execute_batch(SCHEMA_BEFORE_CAPTURE).unwrap();
    old.execute_batch(
        "INSERT INTO groups (name, created) VALUES ('g', 1);
         INSERT INTO streams (group_name, name, created, first_event, last_event,
             last_ingestion, last_seq, bytes) VALUES ('g', 's', 1, 5, 5, 1, 1, 6);
         INSERT INTO events VALUES (1, 1, 5, 1, 'before');",
    )
    .unwrap();
    db
}

#[test]
fn a_store_from_before_capture_takes_captured_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_before_capture_with_one_event(dir.path());

    // Past i64::MAX, so the position must survive SQLite's signed integers.
    let position = i64::MAX as u64 + 7;
    let after = [CapturedEvent {
        position,
        event: NewEvent {
            timestamp: 6,
            message: "after".into(),
        },
    }];
    let capture = |store: &SegmentedLogStore, now| {
        let entry = CapturedStream {
            group: "g",
            stream: "s",
            create_group: false,
            events: &after,
        };
        store
            .append_captured(&[entry], now)
            .unwrap()
            .remove(0)
            .unwrap()
    };
    let store = SegmentedLogStore::open(dir.path()).unwrap();
    assert!(!db.exists(), "moved into segments");
    assert_eq!(capture(&store, 2), Some(position));
    drop(store);
    // Opened again, it has nothing left to bring over and remembers the position.
    let store = SegmentedLogStore::open(dir.path()).unwrap();
    assert_eq!(capture(&store, 3), Some(position));
    let messages: Vec<(u64, String)> = store
        .read("g", "s", (None, None), Position::Head, 10)
        .unwrap()
        .events
        .into_iter()
        .map(|e| (e.seq, e.message))
        .collect();
    assert_eq!(messages, [(1, "before".into()), (2, "after".into())]);
    assert_eq!(search(&store, "before"), [("s".to_string(), 1)]);
    drop(store);
    let stored: i64 = rusqlite::Connection::open(dir.path().join("catalog.db"))
        .unwrap()
        .query_row("SELECT captured_through FROM streams", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, position as i64, "kept bit for bit");
}

/// Every event found by a search for `pattern`, followed to its end, as (stream, seq).
fn search(store: &SegmentedLogStore, pattern: &str) -> Vec<(String, u64)> {
    let pattern = berth_logs::filter::Pattern::parse(pattern).unwrap();
    let required = pattern.required_terms();
    let query = FilterQuery {
        group: "g",
        contains: &required,
        ..FilterQuery::default()
    };
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .filter(&query, &|m| pattern.matches(m), cursor.as_deref(), 10_000)
            .unwrap();
        found.extend(page.events.into_iter().map(|e| (e.stream, e.seq)));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return found,
        }
    }
}

/// A store made before segments, here before its block index (schema version 1): opening it
/// moves every stored event into segments, with its `seq`, id and ingestion time, and
/// searches find all of them, also those the index cannot help with.
#[test]
fn a_store_from_before_segments_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("logs.db");
    let mut old = rusqlite::Connection::open(&db).unwrap();
    old.execute_batch(SCHEMA_BEFORE_CAPTURE).unwrap();
    old.execute_batch(
        "ALTER TABLE streams ADD COLUMN captured_through INTEGER;
         PRAGMA user_version = 1;
         INSERT INTO groups (name, created) VALUES ('g', 1);
         INSERT INTO streams (group_name, name, created, last_seq) VALUES ('g', 'a', 1, 10000);
         INSERT INTO streams (group_name, name, created, last_seq) VALUES ('g', 'b', 1, 3000);",
    )
    .unwrap();
    let message = |stream: i64, seq: i64| -> String {
        let mut line = format!("10.0.{}.{} GET /health 200 req-{seq:08}", seq % 256, stream);
        if seq % 2_500 == 1_234 {
            line.push_str(" rare-Qz81-term");
        }
        line
    };
    let tx = old.transaction().unwrap();
    for (stream, count) in [(1i64, 10_000i64), (2, 3_000)] {
        for seq in 1..=count {
            // Seqs 100 to 199 of `a` dropped by retention already.
            if stream == 1 && (100..200).contains(&seq) {
                continue;
            }
            tx.execute(
                "INSERT INTO events VALUES (?1, ?2, ?3, 1, ?4)",
                rusqlite::params![stream, seq, 1_000 + seq * stream, message(stream, seq)],
            )
            .unwrap();
        }
    }
    tx.execute_batch(
        "UPDATE streams SET bytes = (SELECT SUM(length(message)) FROM events e \
         WHERE e.stream_id = streams.id), first_event = (SELECT MIN(timestamp) FROM events e \
         WHERE e.stream_id = streams.id), last_event = (SELECT MAX(timestamp) FROM events e \
         WHERE e.stream_id = streams.id)",
    )
    .unwrap();
    tx.commit().unwrap();
    drop(old);

    let store = SegmentedLogStore::open(dir.path()).unwrap();
    assert!(!db.exists(), "moved into segments");
    let a = store
        .read("g", "a", (None, None), Position::Head, 10_000)
        .unwrap();
    assert_eq!(a.events.len(), 9_900);
    assert_eq!((a.first_seq, a.events[99].seq), (Some(1), 100 + 100));
    assert_eq!(
        a.events[0].event_id,
        format!("{:010}{:020}", 1, 1),
        "ids kept"
    );
    assert_eq!(a.events[0].ingestion_time, 1);
    let info = store
        .streams(
            "g",
            "a",
            berth_logs::store::StreamOrder::Name,
            false,
            None,
            1,
        )
        .unwrap()
        .remove(0);
    let bytes: u64 = a.events.iter().map(|e| e.message.len() as u64).sum();
    assert_eq!(info.stored_bytes, bytes);
    assert_eq!(
        (info.first_event, info.last_event),
        (Some(1_001), Some(11_000))
    );
    let mut rare: Vec<(String, u64, i64)> = Vec::new();
    for (name, stream, count) in [("a", 1, 10_000), ("b", 2, 3_000)] {
        for seq in (1..=count).filter(|s| s % 2_500 == 1_234) {
            rare.push((name.to_string(), seq as u64, 1_000 + seq * stream));
        }
    }
    rare.sort_by_key(|(name, seq, time)| (*time, name.clone(), *seq));
    let rare: Vec<(String, u64)> = rare.into_iter().map(|(n, s, _)| (n, s)).collect();
    assert_eq!(search(&store, "rare-Qz81-term"), rare);
    assert_eq!(search(&store, "GET /health").len(), 12_900);
    assert_eq!(search(&store, "Qz").len(), rare.len());
    // New events go on after the old ones and are found too.
    let more = NewEvent {
        timestamp: 50_000,
        message: "later rare-Qz81-term".into(),
    };
    assert_eq!(store.append("g", "b", &[more], 2).unwrap(), 3_001..=3_001);
    assert_eq!(
        search(&store, "rare-Qz81-term").last(),
        Some(&("b".to_string(), 3_001))
    );
    drop(store);
    // Opened again, nothing is moved twice.
    let store = SegmentedLogStore::open(dir.path()).unwrap();
    assert_eq!(search(&store, "GET /health").len(), 12_900);
}

/// A move cut short (here: the catalog made, nothing marked as moved) starts again.
#[test]
fn a_move_cut_short_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_before_capture_with_one_event(dir.path());
    let copy = dir.path().join("logs.db.copy");
    std::fs::copy(&db, &copy).unwrap();
    drop(SegmentedLogStore::open(dir.path()).unwrap());
    // As if the first move had stopped before its end: `logs.db` still there, the catalog
    // not saying the move is done.
    std::fs::rename(&copy, &db).unwrap();
    rusqlite::Connection::open(dir.path().join("catalog.db"))
        .unwrap()
        .execute("DELETE FROM meta", [])
        .unwrap();
    let store = SegmentedLogStore::open(dir.path()).unwrap();
    let page = store
        .read("g", "s", (None, None), Position::Head, 10)
        .unwrap();
    let messages: Vec<(u64, String)> = page
        .events
        .into_iter()
        .map(|e| (e.seq, e.message))
        .collect();
    assert_eq!(messages, [(1, "before".to_string())], "once");
}
