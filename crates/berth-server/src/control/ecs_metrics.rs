//! `AWS/ECS` `CPUUtilization` and `MemoryUtilization` by `ClusterName` and `ServiceName`, put
//! into the metric store every [`PERIOD`] seconds from the usage agents report
//! ([`crate::usage`]), at one-second resolution, so that GetMetricStatistics shows them and
//! target tracking (`metric_scaling`, a second after each period) reads them. A round looks
//! only at the services whose tasks reported since the last one. Its datapoints are stamped
//! with the start of the period that just ended, whose usage the reports measured, so that
//! target tracking reads them in that period's datapoint rather than one period later.

use super::metric_period::{self, PERIOD};
use crate::call::Context;
use crate::usage::{ServiceKey, Utilization};
use berth_metrics::{Datapoint, Sample, Seconds, SeriesKey, Unit};
use std::sync::Arc;

/// The `AWS/ECS` series `name` of one service, as it is put here and read by target
/// tracking.
pub fn series(name: &str, cluster: &str, service: &str) -> SeriesKey {
    SeriesKey::new(
        "AWS/ECS",
        name,
        [
            ("ClusterName".to_string(), cluster.to_string()),
            ("ServiceName".to_string(), service.to_string()),
        ],
    )
}

/// The datapoints of one service's utilization at `time`: none for a figure that cannot be
/// computed (nothing reserved, or no CPU rate yet).
pub fn datapoints(
    service: &ServiceKey,
    utilization: &Utilization,
    time: Seconds,
) -> Vec<Datapoint> {
    [
        ("CPUUtilization", utilization.cpu_percent),
        ("MemoryUtilization", utilization.memory_percent),
    ]
    .into_iter()
    .filter_map(|(name, percent)| {
        let percent = percent?;
        Some(Datapoint {
            series: series(name, &service.cluster, &service.service),
            time,
            unit: Unit::Percent,
            resolution: 1,
            sample: Sample::Values(vec![(percent, 1.0)]),
        })
    })
    .collect()
}

/// Puts the utilization of every service whose tasks reported since the last round.
pub fn publish(cx: &Context, now: f64) {
    let reported = cx.usage().drain();
    let time = now.floor() as Seconds - PERIOD as Seconds;
    let points: Vec<Datapoint> = reported
        .iter()
        .filter_map(|service| {
            let utilization =
                cx.usage()
                    .service_utilization(&service.cluster, &service.service, now)?;
            Some(datapoints(service, &utilization, time))
        })
        .flatten()
        .collect();
    if points.is_empty() {
        return;
    }
    if let Err(e) = cx.metrics().put(&points, now.floor() as Seconds) {
        tracing::warn!(error = %e, "putting services' CPU and memory utilization failed");
    }
}

/// Publishes at the end of every period, before target tracking reads it.
pub async fn run(cx: Arc<Context>) {
    metric_period::after_each("services' utilization", move |_: &mut ()| {
        publish(&cx, berth_time::now());
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> ServiceKey {
        ServiceKey {
            cluster: "default".into(),
            service: "web".into(),
        }
    }

    #[test]
    fn each_known_figure_is_a_percent_by_cluster_and_service() {
        let cases = [
            (
                Some(250.0),
                Some(40.0),
                vec![("CPUUtilization", 250.0), ("MemoryUtilization", 40.0)],
            ),
            (None, Some(40.0), vec![("MemoryUtilization", 40.0)]),
            (Some(12.5), None, vec![("CPUUtilization", 12.5)]),
            (None, None, vec![]),
        ];
        for (cpu, memory, want) in cases {
            let utilization = Utilization {
                cpu_percent: cpu,
                memory_percent: memory,
                ..Utilization::default()
            };
            let points = datapoints(&service(), &utilization, 1_700_000_000);
            let got: Vec<(&str, f64)> = points
                .iter()
                .map(|p| {
                    assert_eq!(p.series.namespace, "AWS/ECS");
                    assert_eq!(p.unit, Unit::Percent);
                    assert_eq!(p.resolution, 1);
                    assert_eq!(p.time, 1_700_000_000);
                    let Sample::Values(values) = &p.sample else {
                        panic!("a value, not a statistic set");
                    };
                    (p.series.name.as_str(), values[0].0)
                })
                .collect();
            assert_eq!(got, want);
            for point in &points {
                assert_eq!(
                    point.series,
                    SeriesKey::new(
                        "AWS/ECS",
                        point.series.name.clone(),
                        [
                            ("ServiceName".to_string(), "web".to_string()),
                            ("ClusterName".to_string(), "default".to_string()),
                        ],
                    )
                );
            }
        }
    }
}
