//! What every [`LogStore`] must do, as functions over a fresh store, run against each
//! implementation by its tests (`tests/stores.rs`). A store that persists also runs
//! [`survives_reopening`] with a way to open its directory again.

use super::retention::SEGMENT_WINDOW;
use super::{
    Captured, CapturedEvent, CapturedStream, FilterQuery, LogError, LogStore, Millis, NewEvent,
    Position, StreamCursor, StreamOrder, DAY,
};
use crate::filter::Pattern;
use std::collections::{BTreeMap, BTreeSet};

const NOW: Millis = 1_700_000_000_000;

fn events(range: std::ops::Range<i64>, stream: &str) -> Vec<NewEvent> {
    range
        .map(|n| NewEvent {
            timestamp: NOW + n,
            message: format!("{stream} line {n}"),
        })
        .collect()
}

/// Lines of a container's output at `positions`, each stamped with its position.
fn captured(positions: impl IntoIterator<Item = u64>, stream: &str) -> Vec<CapturedEvent> {
    positions
        .into_iter()
        .map(|position| CapturedEvent {
            position,
            event: NewEvent {
                timestamp: NOW + position as Millis,
                message: format!("{stream} line {position}"),
            },
        })
        .collect()
}

/// A captured append of one stream: its answer.
fn capture<S: LogStore>(
    store: &S,
    group: &str,
    stream: &str,
    events: &[CapturedEvent],
    create_group: bool,
    now: Millis,
) -> Captured {
    let entry = CapturedStream {
        group,
        stream,
        create_group,
        events,
    };
    let mut answers = store.append_captured(&[entry], now).unwrap();
    assert_eq!(answers.len(), 1);
    answers.remove(0)
}

fn everything<'a>(group: &'a str) -> FilterQuery<'a> {
    FilterQuery {
        group,
        ..FilterQuery::default()
    }
}

pub fn groups_and_streams<S: LogStore>(store: S) {
    store.create_group("/ecs/web", NOW).unwrap();
    assert!(matches!(
        store.create_group("/ecs/web", NOW),
        Err(LogError::GroupExists(_))
    ));
    store.create_group("/ecs/worker", NOW + 1).unwrap();
    store.create_group("other", NOW + 2).unwrap();
    let names = |found: Vec<super::GroupInfo>| -> Vec<String> {
        found.into_iter().map(|g| g.name).collect()
    };
    assert_eq!(
        names(store.groups("/ecs/", None, 10).unwrap()),
        ["/ecs/web", "/ecs/worker"]
    );
    assert_eq!(
        names(store.groups("", Some("/ecs/web"), 10).unwrap()),
        ["/ecs/worker", "other"]
    );
    assert_eq!(names(store.groups("", None, 1).unwrap()), ["/ecs/web"]);
    store.set_retention("/ecs/web", Some(7)).unwrap();
    let tags = BTreeMap::from([("team".to_string(), "portal".to_string())]);
    store.tag_group("/ecs/web", &tags, &[]).unwrap();
    let web = store.group("/ecs/web").unwrap().unwrap();
    assert_eq!((web.created, web.retention_days), (NOW, Some(7)));
    assert_eq!(web.tags, tags);
    store
        .tag_group("/ecs/web", &BTreeMap::new(), &["team".to_string()])
        .unwrap();
    assert!(store.group("/ecs/web").unwrap().unwrap().tags.is_empty());
    assert!(matches!(
        store.set_retention("nope", None),
        Err(LogError::GroupNotFound(_))
    ));

    for (n, stream) in ["b", "a", "c"].into_iter().enumerate() {
        store
            .create_stream("/ecs/web", stream, NOW + n as i64)
            .unwrap();
    }
    assert!(matches!(
        store.create_stream("/ecs/web", "a", NOW),
        Err(LogError::StreamExists { .. })
    ));
    assert!(matches!(
        store.create_stream("nope", "a", NOW),
        Err(LogError::GroupNotFound(_))
    ));
    store
        .append("/ecs/web", "b", &events(5..6, "b"), NOW)
        .unwrap();
    store
        .append("/ecs/web", "c", &events(9..10, "c"), NOW)
        .unwrap();
    let streams = |order, descending, after: Option<&StreamCursor>| -> Vec<String> {
        store
            .streams("/ecs/web", "", order, descending, after, 10)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect()
    };
    assert_eq!(streams(StreamOrder::Name, false, None), ["a", "b", "c"]);
    let at = |last_event, name: &str| StreamCursor {
        last_event,
        name: name.to_string(),
    };
    assert_eq!(
        streams(StreamOrder::Name, true, Some(&at(0, "c"))),
        ["b", "a"]
    );
    assert_eq!(
        streams(StreamOrder::LastEventTime, true, None),
        ["c", "b", "a"]
    );
    // After a stream wherever it now is, and after where it was once it is gone.
    assert_eq!(
        streams(StreamOrder::LastEventTime, false, Some(&at(-1, "a"))),
        ["b", "c"]
    );
    assert_eq!(
        streams(StreamOrder::LastEventTime, false, Some(&at(NOW + 5, "bb"))),
        ["c"]
    );
    assert_eq!(
        streams(StreamOrder::Name, false, Some(&at(0, "ab"))),
        ["b", "c"]
    );
    let b = &store
        .streams("/ecs/web", "b", StreamOrder::Name, false, None, 10)
        .unwrap()[0];
    assert_eq!(
        (b.first_event, b.last_event),
        (Some(NOW + 5), Some(NOW + 5))
    );
    assert_eq!(b.stored_bytes, "b line 5".len() as u64);
    assert_eq!(
        store.group("/ecs/web").unwrap().unwrap().stored_bytes,
        ("b line 5".len() + "c line 9".len()) as u64
    );

    store.delete_stream("/ecs/web", "b").unwrap();
    assert!(matches!(
        store.read("/ecs/web", "b", (None, None), Position::Head, 10),
        Err(LogError::StreamNotFound { .. })
    ));
    store.delete_group("/ecs/web").unwrap();
    assert!(store.group("/ecs/web").unwrap().is_none());
    assert!(matches!(
        store.delete_group("/ecs/web"),
        Err(LogError::GroupNotFound(_))
    ));
    // A group made again under the same name starts empty.
    store.create_group("/ecs/web", NOW).unwrap();
    store.create_stream("/ecs/web", "c", NOW).unwrap();
    let page = store
        .read("/ecs/web", "c", (None, None), Position::Head, 10)
        .unwrap();
    assert!(page.events.is_empty());
}

pub fn reading_pages_forward_and_backward<S: LogStore>(store: S) {
    store.create_group("g", NOW).unwrap();
    store.create_stream("g", "s", NOW).unwrap();
    assert_eq!(
        store.append("g", "s", &events(0..6000, "s"), NOW).unwrap(),
        1..=6000
    );
    assert_eq!(
        store
            .append("g", "s", &events(6000..10_000, "s"), NOW)
            .unwrap(),
        6001..=10_000
    );
    let mut seen = Vec::new();
    let mut from = Position::Head;
    loop {
        let page = store.read("g", "s", (None, None), from, 777).unwrap();
        let Some(last) = page.last_seq else { break };
        seen.extend(page.events.iter().map(|e| e.seq));
        from = Position::After(last);
    }
    assert_eq!(
        seen,
        (1..=10_000).collect::<Vec<u64>>(),
        "forward: no gap, no repeat"
    );
    let mut back = Vec::new();
    let mut from = Position::Tail;
    loop {
        let page = store.read("g", "s", (None, None), from, 999).unwrap();
        let Some(first) = page.first_seq else { break };
        assert!(
            page.events.windows(2).all(|w| w[0].seq < w[1].seq),
            "pages ascend"
        );
        back.extend(page.events.iter().rev().map(|e| e.seq));
        from = Position::Before(first);
    }
    assert_eq!(back, (1..=10_000).rev().collect::<Vec<u64>>(), "backward");
    let timed = store
        .read(
            "g",
            "s",
            (Some(NOW + 10), Some(NOW + 13)),
            Position::Head,
            100,
        )
        .unwrap();
    let messages: Vec<&str> = timed.events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["s line 10", "s line 11", "s line 12"]);
    let again = store
        .read("g", "s", (None, None), Position::After(10), 1)
        .unwrap();
    assert_eq!(
        again.events[0].event_id, timed.events[0].event_id,
        "ids are stable"
    );
    assert_eq!(again.events[0].ingestion_time, NOW);
    // Out of timestamp order, events keep their arrival order.
    store.create_stream("g", "late", NOW).unwrap();
    let late = [NOW + 5, NOW + 1, NOW + 3].map(|timestamp| NewEvent {
        timestamp,
        message: format!("at {timestamp}"),
    });
    store.append("g", "late", &late, NOW).unwrap();
    let page = store
        .read("g", "late", (None, None), Position::Head, 10)
        .unwrap();
    let times: Vec<Millis> = page.events.iter().map(|e| e.timestamp).collect();
    assert_eq!(times, [NOW + 5, NOW + 1, NOW + 3]);
    assert!(matches!(
        store.append("g", "nope", &late, NOW),
        Err(LogError::StreamNotFound { .. })
    ));
    assert!(matches!(
        store.append("nope", "s", &late, NOW),
        Err(LogError::GroupNotFound(_))
    ));
}

pub fn filtering_across_streams<S: LogStore>(store: S) {
    store.create_group("g", NOW).unwrap();
    for stream in ["web-1", "web-2", "worker"] {
        store.create_stream("g", stream, NOW).unwrap();
        store
            .append("g", stream, &events(0..300, stream), NOW)
            .unwrap();
    }
    let all = |_: &str| true;
    // Every event, by timestamp then stream, paged with no gap and no repeat.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .filter(&everything("g"), &all, cursor.as_deref(), 128)
            .unwrap();
        seen.extend(page.events.iter().map(|e| (e.timestamp, e.stream.clone())));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 900);
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "by time");
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 900, "no repeat");
    assert_eq!(
        seen[..3]
            .iter()
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>(),
        ["web-1", "web-2", "worker"],
        "equal times in stream order"
    );
    let wanted = |message: &str| message.ends_with("line 7");
    let found = store.filter(&everything("g"), &wanted, None, 100).unwrap();
    assert_eq!(found.events.len(), 3);
    assert!(found.next.is_none());
    // Required text narrows what the matcher is asked about, never what it finds.
    let terms = ["web-".to_string(), "line 7".to_string()];
    let narrowed = FilterQuery {
        contains: &terms,
        ..everything("g")
    };
    let found = store.filter(&narrowed, &wanted, None, 100).unwrap();
    let streams: Vec<&str> = found.events.iter().map(|e| e.stream.as_str()).collect();
    assert_eq!(streams, ["web-1", "web-2"]);
    let prefixed = FilterQuery {
        group: "g",
        prefix: Some("web-"),
        start: Some(NOW + 100),
        end: Some(NOW + 102),
        ..FilterQuery::default()
    };
    let page = store.filter(&prefixed, &all, None, 100).unwrap();
    let got: Vec<String> = page.events.iter().map(|e| e.message.clone()).collect();
    assert_eq!(
        got,
        [
            "web-1 line 100",
            "web-2 line 100",
            "web-1 line 101",
            "web-2 line 101"
        ]
    );
    let named = ["worker".to_string()];
    let only = FilterQuery {
        group: "g",
        streams: &named,
        end: Some(NOW + 1),
        ..FilterQuery::default()
    };
    let page = store.filter(&only, &all, None, 100).unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].stream, "worker");
    let ids: BTreeSet<String> = store
        .filter(&everything("g"), &all, None, 1000)
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids.len(), 900, "ids are unique in the group");
    assert!(matches!(
        store.filter(&everything("g"), &all, Some("garbage"), 10),
        Err(LogError::BadCursor)
    ));
    assert!(matches!(
        store.filter(&everything("nope"), &all, None, 10),
        Err(LogError::GroupNotFound(_))
    ));
}

pub fn retention_and_the_size_cap<S: LogStore>(store: S) {
    store.create_group("short", NOW).unwrap();
    store.create_group("forever", NOW).unwrap();
    store.set_retention("short", Some(1)).unwrap();
    for group in ["short", "forever"] {
        store.create_stream(group, "s", NOW).unwrap();
        let old = NewEvent {
            timestamp: NOW - 2 * DAY,
            message: "old".into(),
        };
        let fresh = NewEvent {
            timestamp: NOW,
            message: "fresh".into(),
        };
        store.append(group, "s", &[old, fresh], NOW).unwrap();
    }
    let left = |group: &str| -> Vec<String> {
        store
            .read(group, "s", (None, None), Position::Head, 10)
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.message)
            .collect()
    };
    assert_eq!(store.enforce_retention(NOW, u64::MAX).unwrap(), 3);
    assert_eq!(left("short"), ["fresh"]);
    assert_eq!(left("forever"), ["old", "fresh"]);
    assert_eq!(
        store.group("short").unwrap().unwrap().stored_bytes,
        "fresh".len() as u64
    );
    // Over the cap, the oldest events go first, whatever their group.
    assert_eq!(store.enforce_retention(NOW, 10).unwrap(), 3);
    assert_eq!(left("forever"), ["fresh"]);
    assert_eq!(left("short"), ["fresh"]);
    assert_eq!(store.enforce_retention(NOW, 10).unwrap(), 0);
}

/// An agent's resends, after a crash or a lost answer, add nothing twice, and a stream's
/// captured position lives and dies with the stream.
pub fn capturing_without_repeats<S: LogStore>(store: S) {
    let messages = |stream: &str| -> Vec<String> {
        store
            .read("/ecs/web", stream, (None, None), Position::Head, 100)
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.message)
            .collect()
    };
    let info = |stream: &str| {
        store
            .streams("/ecs/web", stream, StreamOrder::Name, false, None, 1)
            .unwrap()
            .remove(0)
    };
    match capture(&store, "/ecs/web", "a", &captured(1..4, "a"), false, NOW) {
        Err(LogError::GroupNotFound(group)) => assert_eq!(group, "/ecs/web"),
        other => panic!("a missing group without create_group: {other:?}"),
    }
    assert!(store.group("/ecs/web").unwrap().is_none(), "nothing made");

    // An empty batch only asks, yet makes the group (when told to) and the stream.
    assert_eq!(
        capture(&store, "/ecs/web", "a", &[], true, NOW).unwrap(),
        None
    );
    assert_eq!(store.group("/ecs/web").unwrap().unwrap().created, NOW);
    assert_eq!(info("a").created, NOW);
    assert!(messages("a").is_empty());

    assert_eq!(
        capture(
            &store,
            "/ecs/web",
            "a",
            &captured(1..4, "a"),
            false,
            NOW + 10
        )
        .unwrap(),
        Some(3)
    );
    // A resend overlapping what went in adds only what is new.
    assert_eq!(
        capture(
            &store,
            "/ecs/web",
            "a",
            &captured(2..6, "a"),
            true,
            NOW + 20
        )
        .unwrap(),
        Some(5)
    );
    // A resend of what went in already adds nothing, not even to the ingestion time.
    assert_eq!(
        capture(
            &store,
            "/ecs/web",
            "a",
            &captured(1..6, "a"),
            false,
            NOW + 30
        )
        .unwrap(),
        Some(5)
    );
    assert_eq!(
        capture(&store, "/ecs/web", "a", &[], false, NOW + 30).unwrap(),
        Some(5)
    );
    let page = store
        .read("/ecs/web", "a", (None, None), Position::Head, 100)
        .unwrap();
    let read: Vec<(u64, Millis, Millis, &str)> = page
        .events
        .iter()
        .map(|e| (e.seq, e.timestamp, e.ingestion_time, e.message.as_str()))
        .collect();
    assert_eq!(
        read,
        [
            (1, NOW + 1, NOW + 10, "a line 1"),
            (2, NOW + 2, NOW + 10, "a line 2"),
            (3, NOW + 3, NOW + 10, "a line 3"),
            (4, NOW + 4, NOW + 20, "a line 4"),
            (5, NOW + 5, NOW + 20, "a line 5"),
        ]
    );
    let a = info("a");
    assert_eq!(
        (a.first_event, a.last_event, a.last_ingestion),
        (Some(NOW + 1), Some(NOW + 5), Some(NOW + 20))
    );
    let bytes: u64 = page.events.iter().map(|e| e.message.len() as u64).sum();
    assert_eq!(a.stored_bytes, bytes);
    assert_eq!(
        store.group("/ecs/web").unwrap().unwrap().stored_bytes,
        bytes
    );

    // Out of order, an event at or before one already taken is skipped all the same.
    assert_eq!(
        capture(
            &store,
            "/ecs/web",
            "a",
            &captured([7, 6, 5, 8, 8], "a"),
            false,
            NOW
        )
        .unwrap(),
        Some(8)
    );
    assert_eq!(messages("a")[5..], ["a line 7", "a line 8"]);

    // Each stream has its own position.
    assert_eq!(
        capture(&store, "/ecs/web", "b", &captured(2..4, "b"), false, NOW).unwrap(),
        Some(3)
    );
    assert_eq!(messages("b"), ["b line 2", "b line 3"]);
    assert_eq!(messages("a").len(), 7);
    assert_eq!(
        capture(&store, "/ecs/web", "a", &[], false, NOW).unwrap(),
        Some(8)
    );

    // Positions take every `u64`, past what fits a signed 64-bit integer.
    let high = [i64::MAX as u64 + 1, u64::MAX - 1].map(|position| CapturedEvent {
        position,
        event: NewEvent {
            timestamp: NOW,
            message: format!("high {position}"),
        },
    });
    assert_eq!(
        capture(&store, "/ecs/web", "high", &high, false, NOW).unwrap(),
        Some(u64::MAX - 1)
    );
    assert_eq!(
        capture(&store, "/ecs/web", "high", &high, false, NOW).unwrap(),
        Some(u64::MAX - 1),
        "a resend past i64::MAX adds nothing"
    );
    assert_eq!(messages("high").len(), 2);

    // A stream made again starts over, as does one in a group made again.
    store.delete_stream("/ecs/web", "a").unwrap();
    assert_eq!(
        capture(&store, "/ecs/web", "a", &[], false, NOW).unwrap(),
        None
    );
    assert_eq!(
        capture(&store, "/ecs/web", "a", &captured(1..3, "a"), false, NOW).unwrap(),
        Some(2)
    );
    assert_eq!(messages("a"), ["a line 1", "a line 2"]);
    store.delete_group("/ecs/web").unwrap();
    assert_eq!(
        capture(&store, "/ecs/web", "b", &captured(1..2, "b"), true, NOW).unwrap(),
        Some(1)
    );
    assert_eq!(messages("b"), ["b line 1"]);
}

/// Everything appended before a reopen is there after it, with the same ids, and new
/// appends carry on where the old ones stopped, captured ones where their capture did.
pub fn survives_reopening<S: LogStore>(open: impl Fn() -> S) {
    let first = open();
    first.create_group("g", NOW).unwrap();
    first.create_stream("g", "s", NOW).unwrap();
    first.append("g", "s", &events(0..100, "s"), NOW).unwrap();
    capture(&first, "g", "c", &captured(1..4, "c"), false, NOW).unwrap();
    first.create_stream("g", "r", NOW).unwrap();
    first
        .append(
            "g",
            "r",
            &access_lines(0..9_000, &[(4_321, "needle-Qz81")], |n| NOW + n),
            NOW,
        )
        .unwrap();
    let before = first
        .read("g", "s", (None, None), Position::Head, 1000)
        .unwrap();
    drop(first);
    let second = open();
    let after = second
        .read("g", "s", (None, None), Position::Head, 1000)
        .unwrap();
    assert_eq!(before, after);
    // Searches find what was stored before, and what is stored after, the reopening.
    let found = |store: &S| -> Vec<(String, u64)> {
        search_all(store, &everything("g"), "needle-Qz81", 100)
            .0
            .into_iter()
            .map(|(s, n, _)| (s, n))
            .collect()
    };
    assert_eq!(found(&second), [("r".to_string(), 4_322)]);
    second
        .append(
            "g",
            "r",
            &access_lines(9_000..9_010, &[(9_005, "needle-Qz81")], |n| NOW + n),
            NOW,
        )
        .unwrap();
    assert_eq!(
        found(&second),
        [("r".to_string(), 4_322), ("r".to_string(), 9_006)]
    );
    assert_eq!(
        second
            .append("g", "s", &events(100..101, "s"), NOW)
            .unwrap(),
        101..=101
    );
    assert_eq!(
        capture(&second, "g", "c", &captured(2..5, "c"), false, NOW).unwrap(),
        Some(4)
    );
    let resumed = second
        .read("g", "c", (None, None), Position::Head, 10)
        .unwrap();
    let seqs: Vec<(u64, &str)> = resumed
        .events
        .iter()
        .map(|e| (e.seq, e.message.as_str()))
        .collect();
    assert_eq!(
        seqs,
        [
            (1, "c line 1"),
            (2, "c line 2"),
            (3, "c line 3"),
            (4, "c line 4")
        ]
    );
}

/// Every event a filter pattern matches, following the cursor to the end, `limit` a page,
/// as (stream, seq, message); and how many calls it took.
fn search_all<S: LogStore>(
    store: &S,
    query: &FilterQuery<'_>,
    pattern: &str,
    limit: usize,
) -> (Vec<(String, u64, String)>, usize) {
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
        found.extend(
            page.events
                .into_iter()
                .map(|e| (e.stream, e.seq, e.message)),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => return (found, calls),
        }
    }
    unreachable!()
}

/// Lines shaped like an access log, `n` from `range`, some holding `extra`.
fn access_lines(
    range: std::ops::Range<i64>,
    extra: &[(i64, &str)],
    time: impl Fn(i64) -> Millis,
) -> Vec<NewEvent> {
    range
        .map(|n| {
            let mut message = format!(
                "10.0.{}.{} GET /api/v1/items {} {}ms req-{n:08}",
                n % 256,
                (n * 7) % 256,
                [200, 304, 404, 500][n as usize % 4],
                n % 900
            );
            for (at, text) in extra {
                if *at == n {
                    message.push(' ');
                    message.push_str(text);
                }
            }
            NewEvent {
                timestamp: time(n),
                message,
            }
        })
        .collect()
}

/// A search for a rare term finds exactly the events holding it among many others (many
/// blocks of them, in a store that keeps blocks), matching case as terms do, and so do terms
/// too short for any index.
pub fn searching_for_rare_terms<S: LogStore>(store: S) {
    store.create_group("g", NOW).unwrap();
    store.create_stream("g", "a", NOW).unwrap();
    store.create_stream("g", "b", NOW).unwrap();
    let marks = [
        (777, "NEEDLE-QZ81"),
        (12_345, "needle-Qz81"),
        (15_000, "Qz"),
    ];
    for from in (0..20_000).step_by(5000) {
        let batch = access_lines(from..from + 5000, &marks, |n| NOW + 2 * n);
        store.append("g", "a", &batch, NOW).unwrap();
    }
    let b_marks = [(3, "needle-Qz81"), (9_999, "needle-Qz81 again")];
    let batch = access_lines(0..10_000, &b_marks, |n| NOW + 4 * n + 1);
    store.append("g", "b", &batch, NOW).unwrap();
    let all = everything("g");
    let tail = |found: Vec<(String, u64, String)>| -> Vec<(String, u64, String)> {
        found
            .into_iter()
            .map(|(s, seq, m)| {
                let tail = m.split(' ').skip(6).collect::<Vec<_>>().join(" ");
                (s, seq, tail)
            })
            .collect()
    };
    let (found, _) = search_all(&store, &all, "\"needle-Qz81\"", 10_000);
    let wanted = [
        ("b".to_string(), 4, "needle-Qz81".to_string()),
        ("a".to_string(), 12_346, "needle-Qz81".to_string()),
        ("b".to_string(), 10_000, "needle-Qz81 again".to_string()),
    ];
    assert_eq!(tail(found), wanted, "by time, then stream");
    // One event a page: the same events, with cursors between them.
    let (paged, calls) = search_all(&store, &all, "needle-Qz81", 1);
    assert_eq!(tail(paged), wanted);
    assert!(calls >= 3);
    // Case matters.
    let (upper, _) = search_all(&store, &all, "NEEDLE-QZ81", 100);
    assert_eq!(
        tail(upper),
        [("a".to_string(), 778, "NEEDLE-QZ81".to_string())]
    );
    assert!(search_all(&store, &all, "needle-qz81", 100).0.is_empty());
    assert!(search_all(&store, &all, "NEEDLE-Qz81", 100).0.is_empty());
    // Terms too short for trigrams, alone and with longer ones.
    let (short, _) = search_all(&store, &all, "Qz", 100);
    let seqs: Vec<(String, u64)> = short.iter().map(|(s, n, _)| (s.clone(), *n)).collect();
    assert_eq!(
        seqs,
        [
            ("b".to_string(), 4),
            ("a".to_string(), 12_346),
            ("a".to_string(), 15_001),
            ("b".to_string(), 10_000)
        ]
    );
    let (both, _) = search_all(&store, &all, "Qz again", 100);
    assert_eq!(both.len(), 1);
    assert_eq!(both[0].1, 10_000);
    // Unusual terms: with a quote, with bytes beyond ASCII, absent.
    assert!(search_all(&store, &all, "\"Qz8 \"", 100).0.is_empty());
    assert!(search_all(&store, &all, "Qzé81", 100).0.is_empty());
    // Within a time range, and in one stream.
    let range = FilterQuery {
        start: Some(NOW + 13),
        end: Some(NOW + 2 * 12_345),
        ..everything("g")
    };
    let (found, _) = search_all(&store, &range, "needle-Qz81", 100);
    assert_eq!(found.len(), 1, "the end is exclusive");
    let range = FilterQuery {
        end: Some(NOW + 2 * 12_345 + 1),
        ..range
    };
    assert_eq!(search_all(&store, &range, "needle-Qz81", 100).0.len(), 2);
    let only_a = ["a".to_string()];
    let in_a = FilterQuery {
        streams: &only_a,
        ..everything("g")
    };
    let (found, _) = search_all(&store, &in_a, "needle-Qz81", 100);
    assert_eq!(found.len(), 1);
    // A common term, past the event budget, in order and complete.
    let (common, _) = search_all(&store, &all, "\" 404 \"", 10_000);
    assert_eq!(common.len(), 7_500);
    assert!(common.iter().all(|(_, _, m)| m.contains(" 404 ")));
    let mut unique: Vec<_> = common.iter().map(|(s, n, _)| (s, n)).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 7_500, "no repeat");
}

/// An event the search budget ends a call at is still looked at by the next call, whether
/// the store can skip events or not.
pub fn searching_past_the_budget<S: LogStore>(store: S) {
    store.create_group("g", NOW).unwrap();
    store.create_stream("g", "s", NOW).unwrap();
    let total = super::SEARCH_BUDGET as i64 + 2;
    let lines: Vec<NewEvent> = (0..total)
        .map(|n| NewEvent {
            timestamp: NOW + n,
            message: format!("e {n}"),
        })
        .collect();
    for batch in lines.chunks(10_000) {
        store.append("g", "s", batch, NOW).unwrap();
    }
    for n in [super::SEARCH_BUDGET as i64 - 1, super::SEARCH_BUDGET as i64] {
        let wanted = format!("e {n}");
        // Without required terms: every event goes to the matcher.
        let query = everything("g");
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .filter(&query, &|m| m == wanted, cursor.as_deref(), 100)
                .unwrap();
            found.extend(page.events.into_iter().map(|e| e.message));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(found, std::slice::from_ref(&wanted));
        let (found, _) = search_all(&store, &query, &format!("\"{wanted}\""), 100);
        assert_eq!(found.len(), 1, "{wanted}");
    }
}

/// Events appended while a search is under way are found by its later pages, also when they
/// go into a block (in a store that keeps blocks) the search has read already.
pub fn searching_while_events_arrive<S: LogStore>(store: S) {
    store.create_group("g", NOW).unwrap();
    store.create_stream("g", "s", NOW).unwrap();
    store.create_stream("g", "t", NOW).unwrap();
    let marks = [(10, "needle-Qz81"), (20, "needle-Qz81")];
    store
        .append("g", "s", &access_lines(0..100, &marks, |n| NOW + n), NOW)
        .unwrap();
    let pattern = Pattern::parse("needle-Qz81").unwrap();
    let required = pattern.required_terms();
    let query = FilterQuery {
        contains: &required,
        ..everything("g")
    };
    let matches = |m: &str| pattern.matches(m);
    let first = store.filter(&query, &matches, None, 1).unwrap();
    assert_eq!(first.events.len(), 1);
    assert_eq!(first.events[0].seq, 11);
    let cursor = first.next.expect("more to come");
    // After the page: later in the same stream, in another stream, and one at a time
    // earlier than the cursor (which the search is past).
    store
        .append(
            "g",
            "s",
            &access_lines(100..110, &[(105, "needle-Qz81")], |n| NOW + n),
            NOW,
        )
        .unwrap();
    store
        .append(
            "g",
            "t",
            &access_lines(
                0..3,
                &[(0, "needle-Qz81"), (1, "needle-Qz81"), (2, "needle-Qz81")],
                |n| NOW + [5, 15, 200][n as usize],
            ),
            NOW,
        )
        .unwrap();
    let mut found = Vec::new();
    let mut cursor = Some(cursor);
    while let Some(at) = cursor {
        let page = store.filter(&query, &matches, Some(&at), 1).unwrap();
        found.extend(page.events.into_iter().map(|e| (e.stream, e.seq)));
        cursor = page.next;
    }
    assert_eq!(
        found,
        [
            ("t".to_string(), 2),
            ("s".to_string(), 21),
            ("s".to_string(), 106),
            ("t".to_string(), 3)
        ]
    );
}

/// Retention and the size cap drop events from searches as from reads, and a search over
/// what is left still finds it.
pub fn searching_after_retention<S: LogStore>(store: S) {
    store.create_group("g", NOW).unwrap();
    store.set_retention("g", Some(1)).unwrap();
    store.create_stream("g", "s", NOW).unwrap();
    let marks = [(5, "needle-Qz81"), (9_000, "needle-Qz81")];
    // The first 6,000 events two days old, 3,000 a day old, the rest fresh.
    let time = |n: i64| {
        if n < 6_000 {
            NOW - 2 * DAY + n
        } else if n < 9_000 {
            NOW - DAY + n
        } else {
            NOW + n
        }
    };
    store
        .append("g", "s", &access_lines(0..10_000, &marks, time), NOW)
        .unwrap();
    let all = everything("g");
    assert_eq!(search_all(&store, &all, "needle-Qz81", 100).0.len(), 2);
    store.enforce_retention(NOW, u64::MAX).unwrap();
    let (found, _) = search_all(&store, &all, "needle-Qz81", 100);
    let seqs: Vec<u64> = found.iter().map(|(_, n, _)| *n).collect();
    assert_eq!(seqs, [9_001]);
    // Over the cap: the day before goes whole, the newest 1,000 events are left.
    let kept: u64 = access_lines(9_000..10_000, &marks, time)
        .iter()
        .map(|e| e.message.len() as u64)
        .sum();
    store.enforce_retention(NOW, kept).unwrap();
    assert_eq!(search_all(&store, &all, "needle-Qz81", 100).0.len(), 1);
    assert_eq!(search_all(&store, &all, "req-", 10_000).0.len(), 1_000);
    store.enforce_retention(NOW, 0).unwrap();
    assert!(search_all(&store, &all, "needle-Qz81", 100).0.is_empty());
    // The stream takes events again, and they are found.
    store
        .append(
            "g",
            "s",
            &access_lines(0..10, &[(3, "needle-Qz81")], |n| NOW + n),
            NOW,
        )
        .unwrap();
    let (found, _) = search_all(&store, &all, "needle-Qz81", 100);
    let seqs: Vec<u64> = found.iter().map(|(_, n, _)| *n).collect();
    assert_eq!(seqs, [10_004]);
}

/// Each event of stream `s` in `group`, `n` from `range`, on day `day(n)` before `NOW`'s (so
/// in that many segments before it), holding `needle` when `n % 50 == 3`.
fn spread(range: std::ops::Range<i64>, stream: &str, day: impl Fn(i64) -> i64) -> Vec<NewEvent> {
    range
        .map(|n| NewEvent {
            timestamp: NOW - day(n) * SEGMENT_WINDOW + n,
            message: if n % 50 == 3 {
                format!("{stream} line {n} needle-Qz81")
            } else {
                format!("{stream} line {n}")
            },
        })
        .collect()
}

/// A stream whose events fall in several segments, its timestamps going back and forth
/// between them, reads in arrival order and searches in time order all the same.
pub fn one_stream_across_segments<S: LogStore>(store: S) {
    store.create_group("g", NOW).unwrap();
    store.create_stream("g", "s", NOW).unwrap();
    store.create_stream("g", "t", NOW).unwrap();
    // Runs of 7 events today, two days before, the day before, today again, ...
    let s_day = |n: i64| [0, 2, 1][(n / 7 % 3) as usize];
    let s_events = spread(0..300, "s", s_day);
    for batch in s_events.chunks(45) {
        store.append("g", "s", batch, NOW).unwrap();
    }
    let t_events = spread(0..100, "t", |n| n % 2);
    store.append("g", "t", &t_events, NOW).unwrap();

    let seqs = |page: &super::ReadPage| -> Vec<u64> { page.events.iter().map(|e| e.seq).collect() };
    let mut forward = Vec::new();
    let mut from = Position::Head;
    loop {
        let page = store.read("g", "s", (None, None), from, 17).unwrap();
        let Some(last) = page.last_seq else { break };
        forward.extend(seqs(&page));
        from = Position::After(last);
    }
    assert_eq!(
        forward,
        (1..=300).collect::<Vec<u64>>(),
        "forward, in arrival order"
    );
    let mut backward = Vec::new();
    let mut from = Position::Tail;
    loop {
        let page = store.read("g", "s", (None, None), from, 23).unwrap();
        let Some(first) = page.first_seq else { break };
        backward.extend(seqs(&page).into_iter().rev());
        from = Position::Before(first);
    }
    assert_eq!(backward, (1..=300).rev().collect::<Vec<u64>>(), "backward");
    // One day's events, in arrival order.
    let day_before = (
        Some(NOW - SEGMENT_WINDOW),
        Some(NOW - SEGMENT_WINDOW + 1_000),
    );
    let page = store
        .read("g", "s", day_before, Position::Head, 1_000)
        .unwrap();
    let wanted: Vec<u64> = (0..300)
        .filter(|n| s_day(*n) == 1)
        .map(|n| n as u64 + 1)
        .collect();
    assert_eq!(seqs(&page), wanted);
    let page = store
        .read("g", "s", day_before, Position::After(100), 5)
        .unwrap();
    let after: Vec<u64> = wanted
        .iter()
        .copied()
        .filter(|s| *s > 100)
        .take(5)
        .collect();
    assert_eq!(seqs(&page), after);

    // Every event of both streams by time, then stream, paged.
    let mut expected: Vec<(Millis, String, u64)> = Vec::new();
    for (name, events) in [("s", &s_events), ("t", &t_events)] {
        for (i, e) in events.iter().enumerate() {
            expected.push((e.timestamp, name.to_string(), i as u64 + 1));
        }
    }
    expected.sort();
    let all = |_: &str| true;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .filter(&everything("g"), &all, cursor.as_deref(), 29)
            .unwrap();
        seen.extend(
            page.events
                .into_iter()
                .map(|e| (e.timestamp, e.stream, e.seq)),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    // A rare term, one event a page and all at once.
    let needles: Vec<(String, u64)> = expected
        .iter()
        .filter(|(_, _, seq)| (seq - 1) % 50 == 3)
        .map(|(_, s, seq)| (s.clone(), *seq))
        .collect();
    for limit in [1, 100] {
        let found: Vec<(String, u64)> = search_all(&store, &everything("g"), "needle-Qz81", limit)
            .0
            .into_iter()
            .map(|(s, seq, _)| (s, seq))
            .collect();
        assert_eq!(found, needles, "{limit} a page");
    }
    let s = &store
        .streams("g", "s", StreamOrder::Name, false, None, 1)
        .unwrap()[0];
    let bytes: u64 = s_events.iter().map(|e| e.message.len() as u64).sum();
    assert_eq!(s.stored_bytes, bytes);
    assert_eq!(
        (s.first_event, s.last_event),
        (
            s_events.iter().map(|e| e.timestamp).min(),
            s_events.iter().map(|e| e.timestamp).max()
        )
    );
}

/// Segments dropped by retention or the size cap while a reader holds a token or a cursor
/// into them: the reader goes on with what is left, without an error or a repeat.
pub fn segments_dropped_under_readers<S: LogStore>(store: S) {
    store.create_group("g", NOW).unwrap();
    store.create_stream("g", "s", NOW).unwrap();
    // 100 events on each of the days 3, 2, 1 and 0 before NOW's, in that order.
    let events = spread(0..400, "s", |n| 3 - n / 100);
    store.append("g", "s", &events, NOW).unwrap();
    let page = store
        .read("g", "s", (None, None), Position::Head, 150)
        .unwrap();
    assert_eq!(page.last_seq, Some(150));
    let all = |_: &str| true;
    let first = store.filter(&everything("g"), &all, None, 150).unwrap();
    let cursor = first.next.expect("more to come");
    let seqs = |page: super::ReadPage| -> Vec<u64> { page.events.iter().map(|e| e.seq).collect() };

    // Retention of two days drops the oldest day whole.
    store.set_retention("g", Some(2)).unwrap();
    let oldest: u64 = events[..100].iter().map(|e| e.message.len() as u64).sum();
    assert_eq!(store.enforce_retention(NOW, u64::MAX).unwrap(), oldest);
    let read = |from| store.read("g", "s", (None, None), from, 1_000).unwrap();
    assert_eq!(
        seqs(read(Position::After(150))),
        (151..=400).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(read(Position::After(50))),
        (101..=400).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(read(Position::Before(120))),
        (101..=119).collect::<Vec<_>>()
    );
    assert!(read(Position::Before(90)).events.is_empty());
    let rest = |cursor: &str| -> Vec<u64> {
        let mut found = Vec::new();
        let mut cursor = Some(cursor.to_string());
        while let Some(at) = cursor {
            let page = store
                .filter(&everything("g"), &all, Some(&at), 1_000)
                .unwrap();
            found.extend(page.events.iter().map(|e| e.seq));
            cursor = page.next;
        }
        found
    };
    assert_eq!(rest(&cursor), (151..=400).collect::<Vec<_>>());

    // The size cap, down to the newest day.
    let newest: u64 = events[300..].iter().map(|e| e.message.len() as u64).sum();
    store.enforce_retention(NOW, newest).unwrap();
    assert_eq!(
        seqs(read(Position::After(150))),
        (301..=400).collect::<Vec<_>>()
    );
    assert_eq!(seqs(read(Position::Tail)), (301..=400).collect::<Vec<_>>());
    assert_eq!(rest(&cursor), (301..=400).collect::<Vec<_>>());
    let s = &store
        .streams("g", "s", StreamOrder::Name, false, None, 1)
        .unwrap()[0];
    assert_eq!(s.stored_bytes, newest);
    assert_eq!(s.first_event, Some(events[300].timestamp));
    assert_eq!(store.group("g").unwrap().unwrap().stored_bytes, newest);
    // New events go on after the last `seq`, and fill a dropped day again.
    let late = spread(400..401, "s", |_| 3);
    assert_eq!(store.append("g", "s", &late, NOW).unwrap(), 401..=401);
    assert_eq!(seqs(read(Position::Head)), (301..=401).collect::<Vec<_>>());
}

/// Deleting a stream or a group takes its events from every segment, leaves the others'
/// (in the same segments) as they were, and a stream or group made again starts empty.
pub fn deleting_across_segments<S: LogStore>(store: S) {
    for group in ["a", "b"] {
        store.create_group(group, NOW).unwrap();
        for stream in ["s", "t"] {
            store.create_stream(group, stream, NOW).unwrap();
            store
                .append(group, stream, &spread(0..60, stream, |n| n % 3), NOW)
                .unwrap();
        }
    }
    let bytes = |stream: &str| -> u64 {
        spread(0..60, stream, |n| n % 3)
            .iter()
            .map(|e| e.message.len() as u64)
            .sum()
    };
    let found = |group: &str| -> Vec<(String, u64)> {
        search_all(&store, &everything(group), "needle-Qz81", 100)
            .0
            .into_iter()
            .map(|(s, seq, _)| (s, seq))
            .collect()
    };
    assert_eq!(found("a").len(), 4);
    let t_ids: Vec<String> = store
        .read("a", "t", (None, None), Position::Head, 100)
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.event_id)
        .collect();

    store.delete_stream("a", "s").unwrap();
    assert!(matches!(
        store.read("a", "s", (None, None), Position::Head, 10),
        Err(LogError::StreamNotFound { .. })
    ));
    // By time: `t`'s 54th event is two days old, its 4th from today.
    assert_eq!(found("a"), [("t".to_string(), 54), ("t".to_string(), 4)]);
    let ids_after: Vec<String> = store
        .read("a", "t", (None, None), Position::Head, 100)
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids_after, t_ids, "the other stream is as it was");
    assert_eq!(store.group("a").unwrap().unwrap().stored_bytes, bytes("t"));
    store.create_stream("a", "s", NOW).unwrap();
    assert!(store
        .read("a", "s", (None, None), Position::Head, 10)
        .unwrap()
        .events
        .is_empty());
    assert_eq!(
        store
            .append("a", "s", &spread(0..1, "s", |_| 1), NOW)
            .unwrap(),
        1..=1
    );

    store.delete_group("a").unwrap();
    store.create_group("a", NOW).unwrap();
    assert!(store
        .streams("a", "", StreamOrder::Name, false, None, 10)
        .unwrap()
        .is_empty());
    assert!(found("a").is_empty());
    assert_eq!(found("b").len(), 4, "the other group is as it was");
    assert_eq!(
        store.group("b").unwrap().unwrap().stored_bytes,
        bytes("s") + bytes("t")
    );
    // What is left goes by retention as before.
    assert_eq!(
        store.enforce_retention(NOW, 0).unwrap(),
        bytes("s") + bytes("t")
    );
    assert_eq!(store.group("b").unwrap().unwrap().stored_bytes, 0);
    assert!(found("b").is_empty());
}

/// An agent's shipment of several streams at once: each answered on its own, a missing group
/// refused without holding the others back, a stream named twice taken in order, events of
/// several days kept in order, and a resend adding nothing.
pub fn capturing_a_shipment<S: LogStore>(store: S) {
    store.create_group("/a", NOW).unwrap();
    let positioned = |positions: std::ops::RangeInclusive<u64>, stream: &str| {
        positions
            .map(|position| CapturedEvent {
                position,
                event: NewEvent {
                    // Two days before, then the day before: two segments.
                    timestamp: NOW - (1 + (position <= 3) as i64) * SEGMENT_WINDOW
                        + position as Millis,
                    message: format!("{stream} {position}"),
                },
            })
            .collect::<Vec<_>>()
    };
    let x_first = positioned(1..=6, "x");
    let x_again = positioned(5..=8, "x");
    let y = positioned(1..=2, "y");
    let z = positioned(1..=2, "z");
    let shipment = [
        CapturedStream {
            group: "/a",
            stream: "x",
            create_group: false,
            events: &x_first,
        },
        CapturedStream {
            group: "/missing",
            stream: "y",
            create_group: false,
            events: &y,
        },
        CapturedStream {
            group: "/new",
            stream: "z",
            create_group: true,
            events: &z,
        },
        CapturedStream {
            group: "/a",
            stream: "x",
            create_group: false,
            events: &x_again,
        },
    ];
    let answers = |answers: Vec<Captured>| -> Vec<Result<Option<u64>, String>> {
        answers
            .into_iter()
            .map(|a| match a {
                Err(LogError::GroupNotFound(group)) => Err(group),
                other => Ok(other.unwrap()),
            })
            .collect()
    };
    let wanted = vec![
        Ok(Some(6)),
        Err("/missing".to_string()),
        Ok(Some(2)),
        Ok(Some(8)),
    ];
    assert_eq!(
        answers(store.append_captured(&shipment, NOW).unwrap()),
        wanted
    );
    let messages = |group: &str, stream: &str| -> Vec<(u64, String)> {
        store
            .read(group, stream, (None, None), Position::Head, 100)
            .unwrap()
            .events
            .into_iter()
            .map(|e| (e.seq, e.message))
            .collect()
    };
    let x: Vec<(u64, String)> = (1..=8).map(|n| (n, format!("x {n}"))).collect();
    assert_eq!(messages("/a", "x"), x);
    assert_eq!(
        messages("/new", "z"),
        [(1, "z 1".into()), (2, "z 2".into())]
    );
    assert!(store.group("/missing").unwrap().is_none());
    // The same shipment again adds nothing.
    let wanted_again = vec![
        Ok(Some(8)),
        Err("/missing".to_string()),
        Ok(Some(2)),
        Ok(Some(8)),
    ];
    assert_eq!(
        answers(store.append_captured(&shipment, NOW + 1).unwrap()),
        wanted_again
    );
    assert_eq!(messages("/a", "x"), x);
    assert_eq!(
        store.group("/a").unwrap().unwrap().stored_bytes,
        x.iter().map(|(_, m)| m.len() as u64).sum::<u64>()
    );
    assert!(store.append_captured(&[], NOW).unwrap().is_empty());
}
