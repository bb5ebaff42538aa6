//! The segmented store's own tests: its blocks and budgets, and what a crash between a
//! segment's commit and the catalog's leaves.

use super::*;
use crate::filter::Pattern;
use crate::store::trigrams::FULL_BITS;
use crate::store::{CapturedEvent, MemoryLogStore, DAY};
use proptest::prelude::*;

const NOW: Millis = 1_700_000_000_000;

fn open(tuning: Tuning) -> (tempfile::TempDir, SegmentedLogStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentedLogStore::open_tuned(dir.path(), tuning).unwrap();
    (dir, store)
}

fn tuning(block_events: u64, search_events: u64, filter_checks: usize) -> Tuning {
    Tuning {
        block_events,
        search_events,
        filter_checks,
        ..TUNING
    }
}

/// Each block of every segment as (stream, first seq, last seq, events, filter bytes).
fn blocks(store: &SegmentedLogStore) -> Vec<(i64, u64, u64, u64, usize)> {
    let mut inner = store.inner();
    let segments: Vec<SegmentRef> = {
        let mut statement = inner
            .catalog
            .prepare("SELECT id, group_id, window_start FROM segments ORDER BY id")
            .unwrap();
        let rows = statement.query_map([], segment_ref).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    let mut found = Vec::new();
    for segment in segments {
        let connection = store.segment(&mut inner, segment).unwrap();
        let mut statement = connection
            .prepare(
                "SELECT stream_id, first_seq, last_seq, events, length(filter) FROM blocks \
                 ORDER BY stream_id, first_seq",
            )
            .unwrap();
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get::<_, i64>(1)? as u64,
                    row.get::<_, i64>(2)? as u64,
                    row.get::<_, i64>(3)? as u64,
                    row.get::<_, i64>(4)? as usize,
                ))
            })
            .unwrap();
        found.extend(rows.map(Result::unwrap));
    }
    found.sort();
    found
}

/// The `seq` ranges of the blocks of stream `name`.
fn ranges(store: &SegmentedLogStore, name: &str) -> Vec<(u64, u64)> {
    let id: i64 = store
        .inner()
        .catalog
        .query_row("SELECT id FROM streams WHERE name = ?1", [name], |row| {
            row.get(0)
        })
        .unwrap();
    blocks(store)
        .into_iter()
        .filter(|b| b.0 == id)
        .map(|b| (b.1, b.2))
        .collect()
}

/// Every event found, as (stream, seq, timestamp, message), and the calls it took.
fn search_all<S: LogStore>(
    store: &S,
    query: &FilterQuery<'_>,
    pattern: &str,
    limit: usize,
) -> (Vec<(String, u64, Millis, String)>, usize) {
    let pattern = Pattern::parse(pattern).unwrap();
    let required = pattern.required_terms();
    let query = FilterQuery {
        contains: &required,
        ..query.clone()
    };
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    for calls in 1.. {
        let page = store
            .filter(&query, &|m| pattern.matches(m), cursor.as_deref(), limit)
            .unwrap();
        assert!(page.events.len() <= limit);
        found.extend(
            page.events
                .into_iter()
                .map(|e| (e.stream, e.seq, e.timestamp, e.message)),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => return (found, calls),
        }
    }
    unreachable!()
}

fn line(n: u64) -> String {
    format!(
        "10.0.{}.{} GET /api/v1/items 200 req-{n:08}",
        n % 256,
        n % 7
    )
}

fn lines(range: std::ops::Range<u64>, rare: u64) -> Vec<NewEvent> {
    range
        .map(|n| NewEvent {
            timestamp: NOW + n as Millis,
            message: if n == rare {
                format!("{} rare-Qz81-term", line(n))
            } else {
                line(n)
            },
        })
        .collect()
}

#[test]
fn a_call_that_reads_nothing_goes_on_past_its_budget() {
    let (_dir, store) = open(tuning(100, 100, 1000));
    store.create_group("g", NOW).unwrap();
    store.create_stream("g", "s", NOW).unwrap();
    store
        .append("g", "s", &lines(0..10_000, 9_950), NOW)
        .unwrap();
    assert_eq!(blocks(&store).len(), 100);
    let query = FilterQuery {
        group: "g",
        ..FilterQuery::default()
    };
    let (found, calls) = search_all(&store, &query, "rare-Qz81-term", 100);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, 9_951);
    assert_eq!(calls, 1, "99 blocks skipped, one read");
    // A term in every block reads a block a call.
    let (found, calls) = search_all(&store, &query, "GET", 10_000);
    assert_eq!(found.len(), 10_000);
    assert_eq!(calls, 100);
    // So does a term no block can rule out, through the time index.
    let (found, calls) = search_all(&store, &query, "GE", 10_000);
    assert_eq!((found.len(), calls), (10_000, 100));
    // The filters a call checks are bounded too.
    let (_dir, store) = open(tuning(100, 100, 10));
    store.create_group("g", NOW).unwrap();
    store.create_stream("g", "s", NOW).unwrap();
    store
        .append("g", "s", &lines(0..10_000, 9_950), NOW)
        .unwrap();
    let (found, calls) = search_all(&store, &query, "rare-Qz81-term", 100);
    assert_eq!((found.len(), calls), (1, 10));
}

#[test]
fn the_index_is_kept_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let reopen = || SegmentedLogStore::open_tuned(dir.path(), tuning(100, 200, 1000)).unwrap();
    let store = reopen();
    store.create_group("g", NOW).unwrap();
    store.create_stream("g", "s", NOW).unwrap();
    store.append("g", "s", &lines(0..1_050, 950), NOW).unwrap();
    let before = blocks(&store);
    assert_eq!(before.len(), 11);
    drop(store);
    let store = reopen();
    assert_eq!(blocks(&store), before, "not built again");
    let query = FilterQuery {
        group: "g",
        ..FilterQuery::default()
    };
    let (found, calls) = search_all(&store, &query, "rare-Qz81-term", 100);
    assert_eq!((found.len(), found[0].1, calls), (1, 951, 1));
    // The open block goes on filling after the reopening.
    store
        .append("g", "s", &lines(1_050..1_060, 1_055), NOW)
        .unwrap();
    assert_eq!(ranges(&store, "s").last(), Some(&(1_001, 1_060)));
    let (found, calls) = search_all(&store, &query, "rare-Qz81-term", 100);
    assert_eq!((found.len(), found[1].1, calls), (2, 1_056, 1));
    // An append of nothing leaves the blocks as they are.
    let kept = blocks(&store);
    let ask = CapturedStream {
        group: "g",
        stream: "s",
        create_group: false,
        events: &[],
    };
    store.append_captured(&[ask], NOW).unwrap();
    assert_eq!(blocks(&store), kept);
}

#[test]
fn blocks_fill_seal_and_go_with_their_events() {
    let (_dir, store) = open(tuning(8, 100, 1000));
    store.create_group("g", NOW).unwrap();
    store.set_retention("g", Some(1)).unwrap();
    store.create_stream("g", "s", NOW).unwrap();
    store.append("g", "s", &lines(0..20, 99), NOW).unwrap();
    let seen = blocks(&store);
    let sizes: Vec<(u64, u64, u64)> = seen.iter().map(|b| (b.1, b.2, b.3)).collect();
    assert_eq!(sizes, [(1, 8, 8), (9, 16, 8), (17, 20, 4)]);
    assert!(seen[0].4 < FULL_BITS / 8, "sealed blocks fold");
    assert_eq!(
        seen[2].4,
        FULL_BITS / 8,
        "the open block keeps its full size"
    );
    // The open block takes the next events, one append at a time.
    for n in 20..23 {
        store.append("g", "s", &lines(n..n + 1, 99), NOW).unwrap();
    }
    assert_eq!(ranges(&store, "s"), [(1, 8), (9, 16), (17, 23)]);
    // Captured events go in blocks as well.
    let captured: Vec<CapturedEvent> = (1..=10)
        .map(|position| CapturedEvent {
            position,
            event: NewEvent {
                timestamp: NOW,
                message: format!("captured {position} rare-Qz81-term"),
            },
        })
        .collect();
    let entry = CapturedStream {
        group: "g",
        stream: "c",
        create_group: false,
        events: &captured,
    };
    store.append_captured(&[entry], NOW).unwrap();
    assert_eq!(ranges(&store, "c"), [(1, 8), (9, 10)]);
    let query = FilterQuery {
        group: "g",
        ..FilterQuery::default()
    };
    assert_eq!(
        search_all(&store, &query, "rare-Qz81-term", 100).0.len(),
        10
    );
    store.delete_stream("g", "c").unwrap();
    assert_eq!(blocks(&store).len(), 3);
    // Blocks are per segment: a day's old events in blocks of their own, which go with
    // their segment.
    let old: Vec<NewEvent> = (0..12)
        .map(|n| NewEvent {
            timestamp: NOW - 2 * DAY,
            message: format!("old {n}"),
        })
        .collect();
    store.create_stream("g", "t", NOW).unwrap();
    store.append("g", "t", &old, NOW).unwrap();
    store.append("g", "t", &lines(0..4, 99), NOW).unwrap();
    assert_eq!(ranges(&store, "t"), [(1, 8), (9, 12), (13, 16)]);
    store.enforce_retention(NOW, u64::MAX).unwrap();
    assert_eq!(ranges(&store, "t"), [(13, 16)]);
    // The size cap drops blocks too.
    store.enforce_retention(NOW, 0).unwrap();
    assert!(blocks(&store).is_empty());
    store.append("g", "t", &lines(0..2, 99), NOW).unwrap();
    assert_eq!(ranges(&store, "t"), [(17, 18)]);
    store.delete_group("g").unwrap();
    assert!(blocks(&store).is_empty());
}

/// 32 characters of 87 kinds (none that a quoted phrase must escape), different for
/// every `n`.
fn noise(n: u64) -> String {
    const ALPHABET: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789#$%&()*+,./:;<=>@[]^_{|}~";
    let mut x = n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..32)
        .map(|_| {
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            char::from(ALPHABET[(x >> 32) as usize % ALPHABET.len()])
        })
        .collect()
}

#[test]
fn a_dense_block_seals_when_its_filter_is_full() {
    let (_dir, store) = open(TUNING);
    store.create_group("g", NOW).unwrap();
    store.create_stream("g", "s", NOW).unwrap();
    let noise: Vec<NewEvent> = (0..4000u64)
        .map(|n| NewEvent {
            timestamp: NOW,
            message: noise(n),
        })
        .collect();
    store.append("g", "s", &noise, NOW).unwrap();
    let seen = blocks(&store);
    assert!(seen.len() > 1, "{seen:?}");
    assert!(seen[0].3 < 4000);
    let query = FilterQuery {
        group: "g",
        ..FilterQuery::default()
    };
    let wanted = format!("\"{}\"", &noise[3_999].message[4..20]);
    let (found, _) = search_all(&store, &query, &wanted, 100);
    assert!(found.iter().any(|f| f.1 == 4_000));
}

const WORDS: &[&str] = &[
    "alpha", "beta", "gamma", "Delta", "ab", "x", "needle", "NEEDLE", "é", "αβγ", "a b",
];
const TERMS: &[&str] = &[
    "alpha",
    "eta",
    "lph",
    "ab",
    "x",
    "needle",
    "NEEDLE",
    "Needle",
    "é",
    "βγ",
    "\"a b\"",
    "\"ta ga\"",
    "zzz",
    "-beta",
    "?x ?gamma",
];

fn message(words: &[usize]) -> String {
    let words: Vec<&str> = words.iter().map(|w| WORDS[w % WORDS.len()]).collect();
    words.join(" ")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Whatever the blocks and budgets, following a search to its end finds what the
    /// fake finds, in the same order.
    #[test]
    fn searches_find_what_the_fake_finds(
        appends in proptest::collection::vec(
            (0usize..3, proptest::collection::vec(
                (0i64..40, proptest::collection::vec(0usize..20, 1..4)), 1..12)),
            1..10),
        block_events in 1u64..6, block_bytes in 8u64..200, search_events in 1u64..20,
        search_bytes in 1u64..300, filter_checks in 1usize..5, read_by_time_above in 0u64..4,
        terms in proptest::collection::vec(0usize..TERMS.len(), 1..3),
        start in proptest::option::of(0i64..40), end in proptest::option::of(0i64..45),
        only in proptest::option::of(0usize..3), limit in 1usize..5,
    ) {
        let tuning = Tuning {
            block_events, block_bytes, search_events, search_bytes, filter_checks,
            read_by_time_above, open_segments: 2,
        };
        let (_dir, store) = open(tuning);
        let fake = MemoryLogStore::default();
        let streams = ["s0", "s1", "s2"];
        for target in [&store as &dyn LogStore, &fake] {
            target.create_group("g", NOW).unwrap();
            for s in streams {
                target.create_stream("g", s, NOW).unwrap();
            }
            for (stream, events) in &appends {
                let events: Vec<NewEvent> = events
                    .iter()
                    .map(|(t, words)| NewEvent { timestamp: NOW + t, message: message(words) })
                    .collect();
                target.append("g", streams[*stream], &events, NOW).unwrap();
            }
        }
        let pattern: Vec<&str> = terms.iter().map(|t| TERMS[*t]).collect();
        let pattern = pattern.join(" ");
        let named = only.map(|s| vec![streams[s].to_string()]).unwrap_or_default();
        let query = FilterQuery {
            group: "g",
            streams: &named,
            start: start.map(|s| NOW + s),
            end: end.map(|e| NOW + e),
            ..FilterQuery::default()
        };
        let (got, _) = search_all(&store, &query, &pattern, limit);
        let (want, _) = search_all(&fake, &query, &pattern, 1000);
        prop_assert_eq!(got, want);
    }
}

/// A crash after a segment's commit and before the catalog's: the catalog copied from just
/// before the second append stands in for one that never got that append's heads.
#[test]
fn a_catalog_behind_its_segments_catches_up_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let captured = |positions: std::ops::Range<u64>| -> Vec<CapturedEvent> {
        positions
            .map(|position| CapturedEvent {
                position,
                event: NewEvent {
                    // Odd ones the day before, even ones today: two segments, taking turns.
                    timestamp: NOW - DAY * (position % 2) as i64 + position as Millis,
                    message: format!("line {position}"),
                },
            })
            .collect()
    };
    let ship = |store: &SegmentedLogStore, events: &[CapturedEvent]| {
        let entry = CapturedStream {
            group: "g",
            stream: "s",
            create_group: true,
            events,
        };
        store
            .append_captured(&[entry], NOW)
            .unwrap()
            .remove(0)
            .unwrap()
    };
    let store = SegmentedLogStore::open(dir.path()).unwrap();
    assert_eq!(ship(&store, &captured(1..3)), Some(2));
    let saved = dir.path().join("saved");
    std::fs::create_dir(&saved).unwrap();
    for suffix in ["", "-wal"] {
        let name = format!("catalog.db{suffix}");
        std::fs::copy(dir.path().join(&name), saved.join(&name)).unwrap();
    }
    // Both segments get events the saved catalog does not know, six runs taking turns.
    assert_eq!(ship(&store, &captured(3..9)), Some(8));
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let name = format!("catalog.db{suffix}");
        let _ = std::fs::remove_file(dir.path().join(&name));
        if saved.join(&name).exists() {
            std::fs::copy(saved.join(&name), dir.path().join(&name)).unwrap();
        }
    }
    let store = SegmentedLogStore::open(dir.path()).unwrap();
    // The resend adds nothing, and the stream goes on after what the segments hold.
    assert_eq!(ship(&store, &captured(3..9)), Some(8));
    assert_eq!(ship(&store, &captured(9..10)), Some(9));
    let page = store
        .read("g", "s", (None, None), Position::Head, 100)
        .unwrap();
    let read: Vec<(u64, String)> = page
        .events
        .iter()
        .map(|e| (e.seq, e.message.clone()))
        .collect();
    let wanted: Vec<(u64, String)> = (1..=9).map(|p| (p, format!("line {p}"))).collect();
    assert_eq!(read, wanted);
    let info = store
        .streams("g", "s", StreamOrder::Name, false, None, 1)
        .unwrap()
        .remove(0);
    let bytes: u64 = page.events.iter().map(|e| e.message.len() as u64).sum();
    assert_eq!(info.stored_bytes, bytes);
    assert_eq!(info.first_event, Some(NOW - DAY + 1));
    assert_eq!(info.last_event, Some(NOW + 8));
}

/// Files a crash left behind (of a deleted group, of a dropped segment) go when the store is
/// opened; the others stay.
#[test]
fn files_the_catalog_does_not_know_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentedLogStore::open(dir.path()).unwrap();
    store.create_group("g", NOW).unwrap();
    store.create_stream("g", "s", NOW).unwrap();
    store.append("g", "s", &lines(0..3, 99), NOW).unwrap();
    drop(store);
    let segments = dir.path().join("segments");
    let kept = segments.join("1").join(segment::file_name(NOW));
    assert!(kept.exists(), "{kept:?}");
    let stray_group = segments.join("7");
    std::fs::create_dir_all(&stray_group).unwrap();
    std::fs::write(stray_group.join("2020-01-01.db"), b"").unwrap();
    let stray_day = segments.join("1").join("2020-01-01.db-wal");
    std::fs::write(&stray_day, b"").unwrap();
    let store = SegmentedLogStore::open(dir.path()).unwrap();
    assert!(!stray_group.exists());
    assert!(!stray_day.exists());
    assert!(kept.exists());
    assert_eq!(
        store
            .read("g", "s", (None, None), Position::Head, 10)
            .unwrap()
            .events
            .len(),
        3
    );
}
