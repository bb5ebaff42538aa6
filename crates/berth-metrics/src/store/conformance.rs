//! The contract every [`MetricStore`] keeps, as functions each implementation's tests call
//! (`tests/stores.rs`).

use super::{statistics, Datapoint, ListFilter, MetricStore, Sample, SeriesKey, StatisticsQuery};
use crate::aggregate::Statistic;
use crate::tier::Tier;
use crate::unit::Unit;
use crate::Seconds;

/// A whole hour, so that every tier's points line up with it.
pub const NOW: Seconds = 1_700_002_800;

fn series(name: &str, dimensions: &[(&str, &str)]) -> SeriesKey {
    SeriesKey::new(
        "App",
        name,
        dimensions
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string())),
    )
}

fn value(series: &SeriesKey, time: Seconds, value: f64) -> Datapoint {
    Datapoint {
        series: series.clone(),
        time,
        unit: Unit::Count,
        resolution: 60,
        sample: Sample::Values(vec![(value, 1.0)]),
    }
}

fn stat(
    store: &dyn MetricStore,
    query: StatisticsQuery<'_>,
    statistic: Statistic,
) -> Vec<(Seconds, f64)> {
    statistics(store, &query, NOW)
        .unwrap()
        .into_iter()
        .filter_map(|p| Some((p.start, p.aggregate.statistic(statistic)?)))
        .collect()
}

fn query(series: &SeriesKey, start: Seconds, end: Seconds, period: Seconds) -> StatisticsQuery<'_> {
    StatisticsQuery {
        series,
        start,
        end,
        period,
        unit: None,
    }
}

/// Datapoints come back as statistics per period, from whichever tier a period reads, and
/// dimensions given in another order name the same series.
pub fn put_and_query<S: MetricStore>(store: S) {
    let web = series("Requests", &[("Service", "web"), ("Cluster", "prod")]);
    let same = series("Requests", &[("Cluster", "prod"), ("Service", "web")]);
    let start = NOW - 3600;
    let points: Vec<Datapoint> = (0..60)
        .map(|minute| value(&web, start + minute * 60 + 7, f64::from(minute as i32)))
        .collect();
    store.put(&points, NOW).unwrap();
    let sums = stat(&store, query(&same, start, NOW, 60), Statistic::Sum);
    assert_eq!(sums.len(), 60);
    assert_eq!(sums[3], (start + 180, 3.0));
    let five = stat(&store, query(&web, start, NOW, 300), Statistic::Sum);
    assert_eq!(five[0], (start, 10.0), "0+1+2+3+4");
    let hour = stat(
        &store,
        query(&web, start, NOW, 3600),
        Statistic::SampleCount,
    );
    assert_eq!(hour, vec![(start, 60.0)]);
    let max = stat(&store, query(&web, start, NOW, 3600), Statistic::Maximum);
    assert_eq!(max, vec![(start, 59.0)]);
    let p90 = stat(
        &store,
        query(&web, start, NOW, 3600),
        Statistic::parse("p90").unwrap(),
    );
    assert_eq!(p90, vec![(start, 53.0)]);
    let other = series("Requests", &[("Service", "web")]);
    assert!(statistics(&store, &query(&other, start, NOW, 60), NOW)
        .unwrap()
        .is_empty());
}

/// Puts into the same point merge; statistic sets and values mix; units stay apart.
pub fn points_merge<S: MetricStore>(store: S) {
    let queue = series("Depth", &[]);
    let at = NOW - 600;
    store.put(&[value(&queue, at, 10.0)], NOW).unwrap();
    store
        .put(
            &[
                Datapoint {
                    sample: Sample::Values(vec![(20.0, 3.0), (30.0, 1.0)]),
                    ..value(&queue, at + 5, 0.0)
                },
                Datapoint {
                    unit: Unit::Seconds,
                    ..value(&queue, at + 6, 99.0)
                },
            ],
            NOW,
        )
        .unwrap();
    let periods = statistics(&store, &query(&queue, at, NOW, 60), NOW).unwrap();
    assert_eq!(periods.len(), 2, "{periods:?}");
    let counts = &periods
        .iter()
        .find(|p| p.unit == Unit::Count)
        .unwrap()
        .aggregate;
    assert_eq!(
        (counts.count, counts.sum, counts.min, counts.max),
        (5.0, 100.0, 10.0, 30.0)
    );
    assert_eq!(
        counts.statistic(Statistic::parse("p50").unwrap()),
        Some(20.0)
    );
    let only_seconds = StatisticsQuery {
        unit: Some(Unit::Seconds),
        ..query(&queue, at, NOW, 60)
    };
    assert_eq!(stat(&store, only_seconds, Statistic::Sum), vec![(at, 99.0)]);
    store
        .put(
            &[Datapoint {
                sample: Sample::Set {
                    count: 5.0,
                    sum: 50.0,
                    min: 1.0,
                    max: 40.0,
                },
                ..value(&queue, at + 10, 0.0)
            }],
            NOW,
        )
        .unwrap();
    let periods = statistics(&store, &query(&queue, at, NOW, 60), NOW).unwrap();
    let counts = &periods
        .iter()
        .find(|p| p.unit == Unit::Count)
        .unwrap()
        .aggregate;
    assert_eq!(
        (counts.count, counts.sum, counts.min, counts.max),
        (10.0, 150.0, 1.0, 40.0)
    );
    assert_eq!(counts.statistic(Statistic::parse("p50").unwrap()), None);
}

/// High-resolution points are kept to the second; standard ones to the minute.
pub fn resolutions<S: MetricStore>(store: S) {
    let fast = series("Latency", &[]);
    let at = NOW - 120;
    let points: Vec<Datapoint> = (0..10)
        .map(|s| Datapoint {
            resolution: if s < 5 { 1 } else { 60 },
            ..value(&fast, at + s, 1.0)
        })
        .collect();
    store.put(&points, NOW).unwrap();
    let seconds = stat(&store, query(&fast, at, NOW, 1), Statistic::Sum);
    assert_eq!(
        seconds,
        vec![
            (at, 6.0),
            (at + 1, 1.0),
            (at + 2, 1.0),
            (at + 3, 1.0),
            (at + 4, 1.0)
        ],
        "standard resolution points sit at their minute's start"
    );
}

/// Many series and points in one put, all readable after.
pub fn batches<S: MetricStore>(store: S) {
    let points: Vec<Datapoint> = (0..1000)
        .map(|i| {
            value(
                &series("Cpu", &[("Task", &format!("t{}", i % 100))]),
                NOW - 60 * (i / 100),
                1.0,
            )
        })
        .collect();
    store.put(&points, NOW).unwrap();
    for task in ["t0", "t57", "t99"] {
        let sums = stat(
            &store,
            query(&series("Cpu", &[("Task", task)]), NOW - 3600, NOW + 60, 60),
            Statistic::Sum,
        );
        assert_eq!(sums.len(), 10, "{task}");
    }
    let listed = store
        .list(
            &ListFilter {
                name: Some("Cpu".into()),
                ..ListFilter::default()
            },
            None,
            1000,
        )
        .unwrap();
    assert_eq!(listed.len(), 100);
}

/// Listing filters by namespace, name and dimensions, pages on from a cursor, and leaves out
/// series not put to lately.
pub fn listing<S: MetricStore>(store: S) {
    let mut points = Vec::new();
    for service in ["a", "b", "c"] {
        points.push(value(
            &series("Cpu", &[("Service", service), ("Cluster", "prod")]),
            NOW - 60,
            1.0,
        ));
        points.push(value(
            &series("Memory", &[("Service", service)]),
            NOW - 60,
            1.0,
        ));
    }
    points.push(Datapoint {
        series: SeriesKey::new("Other", "Cpu", []),
        ..value(&series("x", &[]), NOW - 60, 1.0)
    });
    store.put(&points, NOW).unwrap();
    store
        .put(
            &[value(&series("Old", &[]), NOW - 60, 1.0)],
            NOW - 20 * 24 * 3600,
        )
        .unwrap();
    let names = |filter: ListFilter, after: Option<&SeriesKey>, limit: usize| -> Vec<String> {
        store
            .list(
                &ListFilter {
                    active_since: NOW - 3600,
                    ..filter
                },
                after,
                limit,
            )
            .unwrap()
            .iter()
            .map(|k| format!("{}/{}{:?}", k.namespace, k.name, k.dimensions()))
            .collect()
    };
    assert_eq!(names(ListFilter::default(), None, 100).len(), 7);
    assert_eq!(
        names(
            ListFilter {
                namespace: Some("Other".into()),
                ..Default::default()
            },
            None,
            100
        ),
        vec!["Other/Cpu[]"]
    );
    let by_service = ListFilter {
        dimensions: vec![("Service".into(), Some("b".into()))],
        ..Default::default()
    };
    assert_eq!(
        names(by_service, None, 100),
        vec![
            "App/Cpu[(\"Cluster\", \"prod\"), (\"Service\", \"b\")]",
            "App/Memory[(\"Service\", \"b\")]"
        ]
    );
    let with_cluster = ListFilter {
        dimensions: vec![("Cluster".into(), None)],
        active_since: NOW - 3600,
        ..Default::default()
    };
    assert_eq!(names(with_cluster.clone(), None, 100).len(), 3);
    let first_two = store.list(&with_cluster, None, 2).unwrap();
    let last = store.list(&with_cluster, first_two.last(), 2).unwrap();
    assert_eq!((first_two.len(), last.len()), (2, 1));
    assert!(!first_two.contains(&last[0]));
    let all = ListFilter {
        active_since: NOW - 3600,
        ..Default::default()
    };
    let first = store.list(&all, None, 4).unwrap();
    let rest = store.list(&all, first.last(), 4).unwrap();
    assert_eq!((first.len(), rest.len()), (4, 3));
    assert!(!rest.contains(&first[3]));
    let everything = store.list(&ListFilter::default(), None, 100).unwrap();
    assert_eq!(
        everything.len(),
        8,
        "a filter from the epoch lists the stale series too"
    );
}

/// Retention drops each tier's expired points, oldest first and within its budget, keeps
/// coarser tiers' points, and forgets series with nothing left.
pub fn retention<S: MetricStore>(store: S) {
    let gauge = series("Gauge", &[("Host", "a")]);
    let day = 24 * 3600;
    let long_ago = NOW - 100 * day;
    store
        .put(&[value(&gauge, long_ago, 5.0)], long_ago)
        .unwrap();
    store.put(&[value(&gauge, NOW - 60, 1.0)], NOW).unwrap();
    let hours = |store: &S| {
        store
            .read(&gauge, Tier::Hour, long_ago - 3600, NOW + 1)
            .unwrap()
            .len()
    };
    assert_eq!(hours(&store), 2);
    assert_eq!(
        store
            .read(&gauge, Tier::Second, long_ago - 60, long_ago + 60)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.enforce_retention(NOW, 1).unwrap(),
        1,
        "the budget bounds a round"
    );
    let removed = store.enforce_retention(NOW, 100).unwrap();
    assert_eq!(
        removed, 2,
        "the old point's 1 s, 1 min and 5 min rows went in all"
    );
    assert_eq!(store.enforce_retention(NOW, 100).unwrap(), 0);
    assert_eq!(hours(&store), 2, "hours are kept for 455 days");
    assert!(
        store
            .read(&gauge, Tier::Second, NOW - 120, NOW)
            .unwrap()
            .len()
            == 1
    );
    let much_later = NOW + 500 * day;
    assert_eq!(
        store.enforce_retention(much_later, 100).unwrap(),
        6,
        "5 points, 1 series"
    );
    assert!(store
        .list(&ListFilter::default(), None, 10)
        .unwrap()
        .is_empty());
}
