//! Target tracking fed from the metric store: every [`Evaluation::BERTH`] period, each
//! scalable target that has scaling policies is evaluated (`autoscaling::scaling::evaluate`)
//! on its target tracking policies' metrics, read from the [`MetricStore`] as datapoints of
//! one period each.
//!
//! A round reads the policies (the store's index of them, never the services), then the
//! metrics outside any store call, then evaluates each target in a call of its own. Step
//! policies are driven by their alarms (`control::alarms`), not here. A policy whose metric
//! has no recent datapoint holds, as AWS's alarms sit in INSUFFICIENT_DATA; a desired count
//! set outside the target's range is still brought back.

use crate::autoscaling::requests::TargetTrackingScalingPolicyConfiguration;
use crate::autoscaling::scaling::{self, Reading};
use crate::autoscaling::stored::StoredPolicy;
use crate::call::Context;
use berth_metrics::aggregate::align;
use berth_metrics::store::{self, MetricStore, SeriesKey, StatisticsQuery};
use berth_metrics::{MetricError, Seconds, Statistic, Unit};
use berth_scaling::target::Evaluation;
use berth_store::Collection;
use std::collections::{BTreeSet, HashMap};

/// How datapoints are taken: 5-second periods, 3 above the target to scale out.
pub const EVALUATION: Evaluation = Evaluation::BERTH;

/// The metric a target tracking policy tracks, and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    pub series: SeriesKey,
    pub statistic: Statistic,
    pub unit: Option<Unit>,
}

impl Tracked {
    /// Counts (`Sum`, `SampleCount`) are per minute on AWS, whose datapoints are a minute
    /// long; a target set for them means the same over Berth's shorter periods once each
    /// period's count is scaled up to a minute's.
    fn per_minute(&self) -> bool {
        matches!(self.statistic, Statistic::Sum | Statistic::SampleCount)
    }
}

/// The metric `config` tracks for the service `cluster`/`service`, if it names one Berth
/// can read (metric math is not read: such a policy holds).
pub fn tracked(
    config: &TargetTrackingScalingPolicyConfiguration,
    cluster: &str,
    service: &str,
) -> Option<Tracked> {
    let ecs = |name: &str| Tracked {
        series: super::ecs_metrics::series(name, cluster, service),
        statistic: Statistic::Average,
        unit: None,
    };
    if let Some(predefined) = &config.predefined_metric_specification {
        return match predefined.predefined_metric_type.as_str() {
            "ECSServiceAverageCPUUtilization" | "ECSServiceAverageCPUUtilizationHighResolution" => {
                Some(ecs("CPUUtilization"))
            }
            "ECSServiceAverageMemoryUtilization"
            | "ECSServiceAverageMemoryUtilizationHighResolution" => Some(ecs("MemoryUtilization")),
            "ALBRequestCountPerTarget" => {
                let label = predefined.resource_label.as_deref()?;
                let (_, group) = label.split_once("/targetgroup/")?;
                Some(Tracked {
                    series: SeriesKey::new(
                        "AWS/ApplicationELB",
                        "RequestCountPerTarget",
                        [("TargetGroup".to_string(), format!("targetgroup/{group}"))],
                    ),
                    statistic: Statistic::Sum,
                    unit: None,
                })
            }
            _ => None,
        };
    }
    let custom = config.customized_metric_specification.as_ref()?;
    Some(Tracked {
        series: SeriesKey::new(
            custom.namespace.clone()?,
            custom.metric_name.clone()?,
            custom
                .dimensions
                .iter()
                .flatten()
                .map(|d| (d.name.clone(), d.value.clone())),
        ),
        statistic: Statistic::simple(custom.statistic.as_deref()?)?,
        unit: custom.unit.as_deref().and_then(Unit::parse),
    })
}

/// The datapoints a decision at `now` reads: one per complete period within the
/// evaluation's window, oldest first. None when the newest is more than one period late
/// (one missed report is tolerated), so that a metric that stopped is no reason to scale.
pub fn datapoints(
    metrics: &dyn MetricStore,
    tracked: &Tracked,
    evaluation: &Evaluation,
    now: Seconds,
) -> Result<Option<Vec<f64>>, MetricError> {
    let period = evaluation.period as Seconds;
    let end = align(now, period);
    let start = end - evaluation.window() as Seconds;
    let merged = store::statistics_by_start(
        metrics,
        &StatisticsQuery {
            series: &tracked.series,
            start,
            end,
            period,
            unit: tracked.unit,
        },
        now,
    )?;
    if merged
        .keys()
        .next_back()
        .is_none_or(|&newest| newest < end - 2 * period)
    {
        return Ok(None);
    }
    let scale = if tracked.per_minute() {
        60.0 / period as f64
    } else {
        1.0
    };
    Ok(Some(
        merged
            .values()
            .filter_map(|a| a.statistic(tracked.statistic))
            .map(|v| v * scale)
            .collect(),
    ))
}

/// What each target tracking policy of `policies` reads at `now`, by policy ARN.
fn readings(
    metrics: &dyn MetricStore,
    policies: &[StoredPolicy],
    now: Seconds,
) -> HashMap<String, Reading> {
    let mut found = HashMap::new();
    for policy in policies {
        let Some(config) = &policy.target_tracking else {
            continue;
        };
        let Some(service) = crate::autoscaling::requests::service_id(&policy.resource_id) else {
            continue;
        };
        let Some(tracked) = tracked(config, &service.cluster, &service.service) else {
            continue;
        };
        match datapoints(metrics, &tracked, &EVALUATION, now) {
            Ok(Some(points)) => {
                found.insert(policy.arn.clone(), Reading::Datapoints(points));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, policy = %policy.arn, "reading a policy's metric failed")
            }
        }
    }
    found
}

/// One round at `now`: every target with policies evaluated. Returns how many counts moved.
pub fn round(cx: &Context, now: f64) -> usize {
    let policies = cx.as_system(now, |call| {
        call.list::<StoredPolicy>(Collection::ScalingPolicies, None)
    });
    let policies = match policies {
        Ok(policies) => policies,
        Err(e) => {
            tracing::warn!(error = %e, "listing scaling policies failed");
            return 0;
        }
    };
    let readings = readings(cx.metrics().as_ref(), &policies, now as Seconds);
    let targets: BTreeSet<&str> = policies.iter().map(|p| p.target_key.as_str()).collect();
    let mut moved = 0;
    for target in targets {
        let outcome = cx.as_system(now, |call| {
            scaling::evaluate(call, target, &EVALUATION, &|policy| {
                readings
                    .get(&policy.arn)
                    .cloned()
                    .unwrap_or(Reading::Nothing)
            })
        });
        match outcome {
            Ok(true) => moved += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = ?e, target, "evaluating a scalable target failed"),
        }
    }
    moved
}

/// Evaluates every target each time a period completes (a second after, for reports that
/// arrive late).
pub async fn run(cx: std::sync::Arc<Context>) {
    let period = EVALUATION.period;
    loop {
        let now = berth_time::now();
        let next = (now / period).floor() * period + period + 1.0;
        tokio::time::sleep(std::time::Duration::from_secs_f64((next - now).max(0.1))).await;
        let round_cx = std::sync::Arc::clone(&cx);
        if let Err(e) =
            tokio::task::spawn_blocking(move || round(&round_cx, berth_time::now())).await
        {
            tracing::error!(error = %e, "scaling round panicked");
        }
    }
}
