//! The server's Prometheus metrics (`GET /metrics`, Prometheus' text format): counters and
//! histograms that the front, the controller and the agent protocol bump as they work, and
//! collectors that read, at each scrape, what is kept elsewhere: services' usage
//! ([`crate::usage`]) and the load balancer's counts ([`LoadBalancerCounts`]).
//!
//! Every label is bounded by configuration, never by traffic or by task: API and action
//! names come from the API table (anything else is `unknown`), clusters and services are
//! what users created, stop reasons are ECS's stop codes.

use crate::usage::Usage;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::sync::{Arc, OnceLock};

type Labels<const N: usize> = [(&'static str, String); N];

/// What the load balancer counted, read at each scrape (the balancer registers it once its
/// listeners run).
pub trait LoadBalancerCounts: Send + Sync + std::fmt::Debug {
    fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error>;
}

/// The server's metrics; one per server, shared by everything that counts.
pub struct Metrics {
    registry: Registry,
    api_requests: Family<Labels<3>, Counter>,
    api_seconds: Family<Labels<2>, Histogram, fn() -> Histogram>,
    controller_seconds: Histogram,
    controller_rounds: Family<Labels<1>, Counter>,
    controller_tasks_read: Family<Labels<1>, Counter>,
    placements: Family<Labels<1>, Counter>,
    task_starts: Family<Labels<1>, Counter>,
    task_stops: Family<Labels<2>, Counter>,
    deployments: Family<Labels<3>, Counter>,
    load_balancer: Arc<OnceLock<Arc<dyn LoadBalancerCounts>>>,
}

/// Request latencies from half a millisecond to about 16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub fn new(usage: Arc<Usage>) -> Metrics {
        let mut registry = Registry::default();
        let api_requests = Family::<Labels<3>, Counter>::default();
        registry.register(
            "berth_api_requests",
            "AWS API requests answered, by API, action and outcome (ok, client_error, server_error)",
            api_requests.clone(),
        );
        let api_seconds: Family<Labels<2>, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "berth_api_request_duration",
            "Time from a request's arrival to its answer, by API and action",
            Unit::Seconds,
            api_seconds.clone(),
        );
        let controller_seconds = latency_histogram();
        registry.register_with_unit(
            "berth_controller_round_duration",
            "Time one controller round takes",
            Unit::Seconds,
            controller_seconds.clone(),
        );
        let controller_rounds = Family::<Labels<1>, Counter>::default();
        registry.register(
            "berth_controller_rounds",
            "Controller rounds, by outcome (ok, failed)",
            controller_rounds.clone(),
        );
        let controller_tasks_read = Family::<Labels<1>, Counter>::default();
        registry.register(
            "berth_controller_tasks_read",
            "Tasks controller rounds read, by cluster: a round reads only the services whose tasks, record or machines changed",
            controller_tasks_read.clone(),
        );
        let placements = Family::<Labels<1>, Counter>::default();
        registry.register(
            "berth_placements",
            "Tasks the controller placed on an instance, by cluster",
            placements.clone(),
        );
        let task_starts = Family::<Labels<1>, Counter>::default();
        registry.register(
            "berth_task_starts",
            "Tasks that reached RUNNING, by cluster",
            task_starts.clone(),
        );
        let task_stops = Family::<Labels<2>, Counter>::default();
        registry.register(
            "berth_task_stops",
            "Tasks that reached STOPPED, by cluster and stop code (ECS's stopCode, or Unknown)",
            task_stops.clone(),
        );
        let deployments = Family::<Labels<3>, Counter>::default();
        registry.register(
            "berth_deployments",
            "Deployments that ended, by cluster, service and outcome (completed, failed)",
            deployments.clone(),
        );
        let load_balancer: Arc<OnceLock<Arc<dyn LoadBalancerCounts>>> = Arc::default();
        registry.register_collector(Box::new(Scraped {
            usage,
            load_balancer: Arc::clone(&load_balancer),
        }));
        Metrics {
            registry,
            api_requests,
            api_seconds,
            controller_seconds,
            controller_rounds,
            controller_tasks_read,
            placements,
            task_starts,
            task_stops,
            deployments,
            load_balancer,
        }
    }

    /// Everything, in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug in a collector.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        text
    }

    /// The load balancer's counts, from now on part of every scrape. Only the first call
    /// counts: one server runs one balancer.
    pub fn set_load_balancer(&self, counts: Arc<dyn LoadBalancerCounts>) {
        let _ = self.load_balancer.set(counts);
    }

    pub fn api_request(&self, api: &str, action: &str, outcome: Outcome, seconds: f64) {
        self.api_requests
            .get_or_create(&[
                ("api", api.to_string()),
                ("action", action.to_string()),
                ("outcome", outcome.as_str().to_string()),
            ])
            .inc();
        self.api_seconds
            .get_or_create(&[("api", api.to_string()), ("action", action.to_string())])
            .observe(seconds);
    }

    pub fn controller_round(&self, seconds: f64, ok: bool) {
        self.controller_seconds.observe(seconds);
        let outcome = if ok { "ok" } else { "failed" };
        self.controller_rounds
            .get_or_create(&[("outcome", outcome.to_string())])
            .inc();
    }

    pub fn tasks_read(&self, cluster: &str, tasks: usize) {
        self.controller_tasks_read
            .get_or_create(&[("cluster", cluster.to_string())])
            .inc_by(tasks as u64);
    }

    /// The tasks controller rounds read in `cluster` so far.
    pub fn tasks_read_in(&self, cluster: &str) -> u64 {
        self.controller_tasks_read
            .get_or_create(&[("cluster", cluster.to_string())])
            .get()
    }

    pub fn placed(&self, cluster: &str) {
        self.placements
            .get_or_create(&[("cluster", cluster.to_string())])
            .inc();
    }

    pub fn task_started(&self, cluster: &str) {
        self.task_starts
            .get_or_create(&[("cluster", cluster.to_string())])
            .inc();
    }

    pub fn task_stopped(&self, cluster: &str, reason: &str) {
        self.task_stops
            .get_or_create(&[
                ("cluster", cluster.to_string()),
                ("reason", reason.to_string()),
            ])
            .inc();
    }

    pub fn deployment_ended(&self, cluster: &str, service: &str, outcome: &str) {
        self.deployments
            .get_or_create(&[
                ("cluster", cluster.to_string()),
                ("service", service.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }
}

/// How an API request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    ClientError,
    ServerError,
}

impl Outcome {
    pub fn from_status(status: u16) -> Outcome {
        match status {
            500.. => Outcome::ServerError,
            400.. => Outcome::ClientError,
            _ => Outcome::Ok,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
        }
    }
}

/// What is read at each scrape rather than counted as it happens.
#[derive(Debug)]
struct Scraped {
    usage: Arc<Usage>,
    load_balancer: Arc<OnceLock<Arc<dyn LoadBalancerCounts>>>,
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let services = self.usage.services(berth_time::now());
        type Figure = fn(&crate::usage::Utilization) -> Option<f64>;
        let figures: [(&str, &str, Figure); 4] = [
            (
                "berth_service_cpu_utilization_percent",
                "CPU its tasks used over the last sampling interval, in percent of what they reserve (ECS's CPUUtilization)",
                |u| u.cpu_percent,
            ),
            (
                "berth_service_memory_utilization_percent",
                "Memory its tasks use, in percent of what they reserve (ECS's MemoryUtilization)",
                |u| u.memory_percent,
            ),
            (
                "berth_service_cpu_units",
                "CPU units (1024 a core) its tasks used over the last sampling interval",
                |u| Some(u.cpu_units_used),
            ),
            (
                "berth_service_memory_bytes",
                "Memory its tasks use, without the reclaimable file cache",
                |u| Some(u.memory_mib_used * f64::from(1u32 << 20)),
            ),
        ];
        for (name, help, figure) in figures {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (key, utilization) in &services {
                if let Some(value) = figure(utilization) {
                    let labels = [
                        ("cluster", key.cluster.as_str()),
                        ("service", key.service.as_str()),
                    ];
                    ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        let mut family = encoder.encode_descriptor(
            "berth_service_reporting_tasks",
            "Tasks whose usage the service's figures are made of",
            None,
            MetricType::Gauge,
        )?;
        for (key, utilization) in &services {
            let labels = [
                ("cluster", key.cluster.as_str()),
                ("service", key.service.as_str()),
            ];
            let tasks = i64::try_from(utilization.tasks).unwrap_or(i64::MAX);
            ConstGauge::new(tasks).encode(family.encode_family(&labels)?)?;
        }
        if let Some(load_balancer) = self.load_balancer.get() {
            load_balancer.encode(&mut encoder)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_by_status() {
        for (status, outcome) in [
            (200, Outcome::Ok),
            (400, Outcome::ClientError),
            (404, Outcome::ClientError),
            (500, Outcome::ServerError),
            (503, Outcome::ServerError),
        ] {
            assert_eq!(Outcome::from_status(status), outcome, "{status}");
        }
    }

    #[test]
    fn renders_counted_things_in_the_text_format() {
        let metrics = Metrics::new(Arc::default());
        metrics.api_request("ecs", "ListClusters", Outcome::Ok, 0.002);
        metrics.api_request("ecs", "ListClusters", Outcome::ClientError, 0.001);
        metrics.task_stopped("default", "EssentialContainerExited");
        metrics.controller_round(0.01, true);
        let text = metrics.render();
        for expected in [
            "# TYPE berth_api_requests_total counter",
            "berth_api_requests_total{api=\"ecs\",action=\"ListClusters\",outcome=\"ok\"} 1",
            "berth_api_request_duration_seconds_count{api=\"ecs\",action=\"ListClusters\"} 2",
            "berth_task_stops_total{cluster=\"default\",reason=\"EssentialContainerExited\"} 1",
            "berth_controller_round_duration_seconds_count 1",
            "berth_controller_rounds_total{outcome=\"ok\"} 1",
        ] {
            assert!(text.contains(expected), "{expected} not in:\n{text}");
        }
    }
}
