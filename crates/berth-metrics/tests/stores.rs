//! The conformance suite over the fake and the embedded store.

use berth_metrics::store::{conformance, MemoryMetricStore, SqliteMetricStore};

fn sqlite() -> (tempfile::TempDir, SqliteMetricStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetricStore::open(dir.path()).unwrap();
    (dir, store)
}

macro_rules! conforms {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(#[test] fn $case() { conformance::$case(MemoryMetricStore::default()); })*
        }
        mod sqlite {
            use super::*;
            $(#[test] fn $case() { let (_dir, store) = sqlite(); conformance::$case(store); })*
        }
    };
}

conforms!(
    put_and_query,
    points_merge,
    resolutions,
    batches,
    listing,
    retention
);

#[test]
fn points_survive_reopening() {
    use berth_metrics::store::{Datapoint, ListFilter, MetricStore, Sample, SeriesKey};
    use berth_metrics::{Tier, Unit};
    let dir = tempfile::tempdir().unwrap();
    let key = SeriesKey::new("App", "Depth", [("Queue".to_string(), "jobs".to_string())]);
    let point = Datapoint {
        series: key.clone(),
        time: conformance::NOW - 60,
        unit: Unit::Count,
        resolution: 1,
        sample: Sample::Values(vec![(3.0, 2.0)]),
    };
    SqliteMetricStore::open(dir.path())
        .unwrap()
        .put(&[point], conformance::NOW)
        .unwrap();
    let store = SqliteMetricStore::open(dir.path()).unwrap();
    let read = store
        .read(
            &key,
            Tier::Second,
            conformance::NOW - 3600,
            conformance::NOW,
        )
        .unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].aggregate.sum, 6.0);
    assert_eq!(
        store.list(&ListFilter::default(), None, 10).unwrap(),
        vec![key]
    );
}
