//! What every [`LogStore`] must do, as functions over a fresh store, run against each
//! implementation by its tests (`tests/stores.rs`). A store that persists also runs
//! [`survives_reopening`] with a way to open its directory again.

use super::{FilterQuery, LogError, LogStore, Millis, NewEvent, Position, StreamOrder, DAY};
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
    let streams = |order, descending, skip| -> Vec<String> {
        store
            .streams("/ecs/web", "", order, descending, skip, 10)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect()
    };
    assert_eq!(streams(StreamOrder::Name, false, 0), ["a", "b", "c"]);
    assert_eq!(streams(StreamOrder::Name, true, 1), ["b", "a"]);
    assert_eq!(
        streams(StreamOrder::LastEventTime, true, 0),
        ["c", "b", "a"]
    );
    let b = &store
        .streams("/ecs/web", "b", StreamOrder::Name, false, 0, 10)
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

/// Everything appended before a reopen is there after it, with the same ids, and new
/// appends carry on where the old ones stopped.
pub fn survives_reopening<S: LogStore>(open: impl Fn() -> S) {
    let first = open();
    first.create_group("g", NOW).unwrap();
    first.create_stream("g", "s", NOW).unwrap();
    first.append("g", "s", &events(0..100, "s"), NOW).unwrap();
    let before = first
        .read("g", "s", (None, None), Position::Head, 1000)
        .unwrap();
    drop(first);
    let second = open();
    let after = second
        .read("g", "s", (None, None), Position::Head, 1000)
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(
        second
            .append("g", "s", &events(100..101, "s"), NOW)
            .unwrap(),
        101..=101
    );
}
