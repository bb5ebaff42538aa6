//! `AWS/ApplicationELB` metrics, put into the metric store every [`PERIOD`] seconds from
//! what the load balancer counted ([`crate::control::balancer::Balancer::traffic`]), with
//! ALB's names, units and dimensions, so that GetMetricStatistics and alarms read them and
//! `ALBRequestCountPerTarget` target tracking scales on them.
//!
//! Each round puts the counts since the previous one, stamped with the second that interval
//! began (a count belongs to the period it was counted in, so a target tracking round that
//! reads the last complete period finds it). What a round does is [`datapoints`], a pure
//! function of the groups' counts now and at the previous round.
//!
//! Per target group and each load balancer forwarding to it (`LoadBalancer`, `TargetGroup`):
//! `RequestCount`, `HTTPCode_Target_2XX_Count` … `5XX`, `TargetResponseTime` (a statistic
//! set with the period's fastest and slowest answer), `HealthyHostCount`,
//! `UnHealthyHostCount` and `RequestCountPerTarget` (also by `TargetGroup` alone, which is
//! what target tracking reads). Per load balancer (`LoadBalancer`): the sums of those counts
//! over its groups and `HTTPCode_ELB_2XX_Count` … `5XX`, the answers it gave itself. A group
//! with registered targets reports every period, zeros included, where ALB reports requests
//! only when there were some: an idle service is data to scale in on, not missing data. A
//! group with neither targets nor traffic reports nothing, so rounds cost what is in use.

use super::metric_period::{self, PERIOD};
use crate::call::Context;
use berth_lb::counts::{Snapshot, CLASSES};
use berth_metrics::{Datapoint, Sample, Seconds, SeriesKey, Unit};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

const NAMESPACE: &str = "AWS/ApplicationELB";

/// One live target group as a round sees it.
#[derive(Debug, Clone, Default)]
pub struct GroupTraffic {
    pub target_group_arn: String,
    /// The load balancers whose listeners forward to it.
    pub load_balancer_arns: Vec<String>,
    /// Everything counted since the group went live.
    pub counts: Snapshot,
    /// The fastest and slowest answer since the previous round.
    pub response_extremes: Option<(Duration, Duration)>,
    pub healthy: usize,
    pub unhealthy: usize,
    /// Targets registered and not draining.
    pub registered: usize,
}

/// `arn:…:loadbalancer/app/web/50dc6c495c0c9188` → `app/web/50dc6c495c0c9188`, ALB's
/// `LoadBalancer` dimension.
pub fn load_balancer_dimension(arn: &str) -> &str {
    arn.split_once(":loadbalancer/")
        .map_or(arn, |(_, rest)| rest)
}

/// `arn:…:targetgroup/web/73e2d6bc24d8a067` → `targetgroup/web/73e2d6bc24d8a067`, ALB's
/// `TargetGroup` dimension.
pub fn target_group_dimension(arn: &str) -> &str {
    arn.rsplit_once(':').map_or(arn, |(_, rest)| rest)
}

/// What was counted between two rounds.
#[derive(Debug, Clone, Default, PartialEq)]
struct Interval {
    requests: u64,
    target_codes: [u64; 4],
    elb_codes: [u64; 4],
    responses: Option<Responses>,
}

/// Answers' times as a statistic set, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Responses {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Responses {
    fn merge(self, other: Responses) -> Responses {
        Responses {
            count: self.count + other.count,
            sum: self.sum + other.sum,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }
}

impl Interval {
    fn between(now: &GroupTraffic, before: Option<&Snapshot>) -> Interval {
        let zero = Snapshot::default();
        let before = before.unwrap_or(&zero);
        let minus = |a: &[u64; 4], b: &[u64; 4]| std::array::from_fn(|i| a[i].saturating_sub(b[i]));
        let count = now.counts.responses().saturating_sub(before.responses());
        let sum = (now.counts.response_seconds_sum - before.response_seconds_sum).max(0.0);
        let responses = (count > 0).then(|| {
            let average = sum / count as f64;
            // Extremes taken a moment apart from the counts may miss an answer in between:
            // never let them contradict the average.
            let (min, max) =
                now.response_extremes
                    .map_or((average, average), |(fastest, slowest)| {
                        (
                            fastest.as_secs_f64().min(average),
                            slowest.as_secs_f64().max(average),
                        )
                    });
            Responses {
                count,
                sum,
                min,
                max,
            }
        });
        Interval {
            requests: now.counts.requests.saturating_sub(before.requests),
            target_codes: minus(&now.counts.target_codes, &before.target_codes),
            elb_codes: minus(&now.counts.elb_codes, &before.elb_codes),
            responses,
        }
    }

    fn add(&mut self, other: &Interval) {
        self.requests += other.requests;
        for i in 0..4 {
            self.target_codes[i] += other.target_codes[i];
            self.elb_codes[i] += other.elb_codes[i];
        }
        self.responses = match (self.responses, other.responses) {
            (Some(a), Some(b)) => Some(a.merge(b)),
            (a, b) => a.or(b),
        };
    }

    /// The counts both a group and a load balancer report.
    fn target_points(&self, point: &dyn Fn(&str, Unit, Sample) -> Datapoint) -> Vec<Datapoint> {
        let mut points = vec![point("RequestCount", Unit::Count, count(self.requests))];
        for (class, answers) in CLASSES.iter().zip(self.target_codes) {
            let name = format!("HTTPCode_Target_{class}_Count");
            points.push(point(&name, Unit::Count, count(answers)));
        }
        if let Some(r) = self.responses {
            let sample = Sample::Set {
                count: r.count as f64,
                sum: r.sum,
                min: r.min,
                max: r.max,
            };
            points.push(point("TargetResponseTime", Unit::Seconds, sample));
        }
        points
    }
}

fn value(value: f64) -> Sample {
    Sample::Values(vec![(value, 1.0)])
}

fn count(count: u64) -> Sample {
    value(count as f64)
}

/// The datapoints of one round at `time` (the start of the interval counted): `groups` as
/// they are now, `before` each group's counts at the previous round (a group absent there
/// went live since, and everything it counted is new).
pub fn datapoints(
    groups: &[GroupTraffic],
    before: &HashMap<String, Snapshot>,
    time: Seconds,
) -> Vec<Datapoint> {
    let point = |dimensions: &[(&str, &str)], name: &str, unit: Unit, sample: Sample| Datapoint {
        series: SeriesKey::new(
            NAMESPACE,
            name,
            dimensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        ),
        time,
        unit,
        resolution: 1,
        sample,
    };
    let mut points = Vec::new();
    let mut by_load_balancer: BTreeMap<&str, Interval> = BTreeMap::new();
    for group in groups {
        let interval = Interval::between(group, before.get(&group.target_group_arn));
        if group.registered == 0 && interval == Interval::default() {
            continue;
        }
        let target_group = target_group_dimension(&group.target_group_arn);
        // ALB divides by the healthy targets; with none, by those registered.
        let per_target = match (group.healthy, group.registered) {
            (0, 0) => None,
            (0, registered) => Some(interval.requests as f64 / registered as f64),
            (healthy, _) => Some(interval.requests as f64 / healthy as f64),
        };
        if let Some(per_target) = per_target {
            let dimensions = [("TargetGroup", target_group)];
            points.push(point(
                &dimensions,
                "RequestCountPerTarget",
                Unit::Count,
                value(per_target),
            ));
        }
        for arn in &group.load_balancer_arns {
            let load_balancer = load_balancer_dimension(arn);
            let dimensions = [
                ("LoadBalancer", load_balancer),
                ("TargetGroup", target_group),
            ];
            let here =
                |name: &str, unit: Unit, sample: Sample| point(&dimensions, name, unit, sample);
            points.extend(interval.target_points(&here));
            points.push(here(
                "HealthyHostCount",
                Unit::Count,
                count(group.healthy as u64),
            ));
            points.push(here(
                "UnHealthyHostCount",
                Unit::Count,
                count(group.unhealthy as u64),
            ));
            if let Some(per_target) = per_target {
                points.push(here(
                    "RequestCountPerTarget",
                    Unit::Count,
                    value(per_target),
                ));
            }
            by_load_balancer
                .entry(load_balancer)
                .or_default()
                .add(&interval);
        }
    }
    for (load_balancer, interval) in by_load_balancer {
        let dimensions = [("LoadBalancer", load_balancer)];
        let here = |name: &str, unit: Unit, sample: Sample| point(&dimensions, name, unit, sample);
        points.extend(interval.target_points(&here));
        for (class, answers) in CLASSES.iter().zip(interval.elb_codes) {
            points.push(here(
                &format!("HTTPCode_ELB_{class}_Count"),
                Unit::Count,
                count(answers),
            ));
        }
    }
    points
}

/// Puts what the load balancer counted since the last round, every period, a moment after
/// the services' utilization. `traffic` reads the load balancer.
pub async fn run(
    cx: Arc<Context>,
    traffic: impl Fn() -> Vec<GroupTraffic> + Send + Sync + 'static,
) {
    metric_period::after_each(
        "the load balancer's metrics",
        move |before: &mut HashMap<String, Snapshot>| {
            let groups = traffic();
            let now = berth_time::now().floor() as Seconds;
            let points = datapoints(&groups, before, now - PERIOD as Seconds);
            if !points.is_empty() {
                if let Err(e) = cx.metrics().put(&points, now) {
                    tracing::warn!(error = %e, "putting the load balancer's metrics failed");
                }
            }
            *before = groups
                .into_iter()
                .map(|g| (g.target_group_arn, g.counts))
                .collect();
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/site/50dc6c495c0c9188";
    const TG: &str =
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/73e2d6bc24d8a067";

    fn snapshot(requests: u64, codes: [u64; 4], elb: [u64; 4], seconds: f64) -> Snapshot {
        let responses: u64 = codes.iter().sum();
        Snapshot {
            requests,
            target_codes: codes,
            elb_codes: elb,
            response_cumulative: vec![responses],
            response_seconds_sum: seconds,
        }
    }

    fn group(counts: Snapshot, healthy: usize, registered: usize) -> GroupTraffic {
        GroupTraffic {
            target_group_arn: TG.into(),
            load_balancer_arns: vec![LB.into()],
            counts,
            response_extremes: Some((Duration::from_millis(2), Duration::from_millis(40))),
            healthy,
            unhealthy: registered - healthy,
            registered,
        }
    }

    /// The points' values by metric name and dimension values.
    fn table(points: &[Datapoint]) -> BTreeMap<(String, Vec<String>), Sample> {
        points
            .iter()
            .map(|p| {
                assert_eq!(p.series.namespace, NAMESPACE);
                assert_eq!((p.time, p.resolution), (1_700_000_000, 1));
                let dims = p
                    .series
                    .dimensions()
                    .iter()
                    .map(|(_, v)| v.clone())
                    .collect();
                ((p.series.name.clone(), dims), p.sample.clone())
            })
            .collect()
    }

    fn get<'a>(
        table: &'a BTreeMap<(String, Vec<String>), Sample>,
        name: &str,
        dims: &[&str],
    ) -> Option<&'a Sample> {
        table.get(&(
            name.to_string(),
            dims.iter().map(|d| d.to_string()).collect(),
        ))
    }

    #[test]
    fn dimensions_are_the_arns_resource_parts() {
        assert_eq!(load_balancer_dimension(LB), "app/site/50dc6c495c0c9188");
        assert_eq!(
            target_group_dimension(TG),
            "targetgroup/web/73e2d6bc24d8a067"
        );
    }

    #[test]
    fn a_round_reports_what_was_counted_since_the_last() {
        let before = HashMap::from([(
            TG.to_string(),
            snapshot(100, [90, 0, 5, 1], [0, 0, 0, 4], 2.0),
        )]);
        let now = group(snapshot(130, [110, 0, 8, 3], [0, 0, 0, 9], 3.0), 2, 3);
        let t = table(&datapoints(&[now], &before, 1_700_000_000));
        let (lb, tg) = (
            "app/site/50dc6c495c0c9188",
            "targetgroup/web/73e2d6bc24d8a067",
        );
        let both = [lb, tg];
        assert_eq!(get(&t, "RequestCount", &both), Some(&count(30)));
        assert_eq!(get(&t, "RequestCount", &[lb]), Some(&count(30)));
        assert_eq!(
            get(&t, "HTTPCode_Target_2XX_Count", &both),
            Some(&count(20))
        );
        assert_eq!(get(&t, "HTTPCode_Target_4XX_Count", &both), Some(&count(3)));
        assert_eq!(get(&t, "HTTPCode_Target_5XX_Count", &[lb]), Some(&count(2)));
        assert_eq!(get(&t, "HTTPCode_ELB_5XX_Count", &[lb]), Some(&count(5)));
        assert_eq!(
            get(&t, "HTTPCode_ELB_5XX_Count", &both),
            None,
            "by load balancer only"
        );
        // Divided by the two healthy targets, not the three registered.
        assert_eq!(get(&t, "RequestCountPerTarget", &[tg]), Some(&value(15.0)));
        assert_eq!(get(&t, "RequestCountPerTarget", &both), Some(&value(15.0)));
        assert_eq!(get(&t, "HealthyHostCount", &both), Some(&count(2)));
        assert_eq!(get(&t, "UnHealthyHostCount", &both), Some(&count(1)));
        let Some(Sample::Set {
            count: answers,
            sum,
            min,
            max,
        }) = get(&t, "TargetResponseTime", &both)
        else {
            panic!("a statistic set: {t:?}");
        };
        assert_eq!((*answers, *min, *max), (25.0, 0.002, 0.04));
        assert!((sum - 1.0).abs() < 1e-9);
    }

    #[test]
    fn idle_groups_report_zeros_while_they_have_targets_and_nothing_without() {
        let idle = group(snapshot(7, [7, 0, 0, 0], [0; 4], 0.1), 1, 1);
        let before = HashMap::from([(TG.to_string(), idle.counts.clone())]);
        let t = table(&datapoints(
            std::slice::from_ref(&idle),
            &before,
            1_700_000_000,
        ));
        let tg = "targetgroup/web/73e2d6bc24d8a067";
        assert_eq!(get(&t, "RequestCountPerTarget", &[tg]), Some(&value(0.0)));
        assert_eq!(
            get(&t, "TargetResponseTime", &["app/site/50dc6c495c0c9188", tg]),
            None,
            "no answer, no response time"
        );
        let empty = GroupTraffic {
            registered: 0,
            healthy: 0,
            unhealthy: 0,
            ..idle
        };
        assert!(datapoints(&[empty], &before, 1_700_000_000).is_empty());
    }

    #[test]
    fn a_new_group_reports_everything_it_counted_and_without_healthy_targets_divides_by_registered()
    {
        let fresh = group(snapshot(12, [12, 0, 0, 0], [0; 4], 0.12), 0, 4);
        let t = table(&datapoints(&[fresh], &HashMap::new(), 1_700_000_000));
        let tg = "targetgroup/web/73e2d6bc24d8a067";
        assert_eq!(get(&t, "RequestCountPerTarget", &[tg]), Some(&value(3.0)));
    }

    #[test]
    fn a_group_behind_no_listener_has_no_load_balancer_dimension() {
        let alone = GroupTraffic {
            load_balancer_arns: Vec::new(),
            ..group(snapshot(4, [4, 0, 0, 0], [0; 4], 0.04), 2, 2)
        };
        let points = datapoints(&[alone], &HashMap::new(), 1_700_000_000);
        assert_eq!(points.len(), 1, "{points:?}");
        assert_eq!(points[0].series.name, "RequestCountPerTarget");
    }

    #[test]
    fn load_balancer_totals_add_up_their_groups() {
        let other_tg = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/api/0123";
        let web = group(snapshot(10, [10, 0, 0, 0], [0, 0, 0, 1], 0.5), 1, 1);
        let api = GroupTraffic {
            target_group_arn: other_tg.into(),
            response_extremes: Some((Duration::from_millis(1), Duration::from_millis(90))),
            ..group(snapshot(5, [4, 0, 0, 1], [0, 0, 0, 2], 0.25), 1, 1)
        };
        let t = table(&datapoints(&[web, api], &HashMap::new(), 1_700_000_000));
        let lb = "app/site/50dc6c495c0c9188";
        assert_eq!(get(&t, "RequestCount", &[lb]), Some(&count(15)));
        assert_eq!(get(&t, "HTTPCode_ELB_5XX_Count", &[lb]), Some(&count(3)));
        assert_eq!(
            get(&t, "TargetResponseTime", &[lb]),
            Some(&Sample::Set {
                count: 15.0,
                sum: 0.75,
                min: 0.001,
                max: 0.09
            })
        );
    }
}
