//! The agent's `GET /metrics` (with `--metrics-listen`), in Prometheus' text format: each
//! running container's CPU and memory as last sampled (labelled by cluster, task definition
//! family, task id and container — bounded by what one machine runs), and what the sampler
//! did. Readings are encoded from the sampler's latest ones at each scrape; nothing is kept
//! for containers that have gone.

use crate::usage::UsageView;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The agent's registry: its usage readings under the cluster it joined.
pub fn registry(view: UsageView, cluster: &str) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Containers {
        view,
        cluster: cluster.to_string(),
    }));
    registry
}

#[derive(Debug)]
struct Containers {
    view: UsageView,
    cluster: String,
}

impl Collector for Containers {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let latest = self.view.latest();
        let labels = |reading: &crate::usage::Reading| {
            let container = &reading.container;
            [
                ("cluster", self.cluster.clone()),
                ("family", container.family.clone()),
                ("task_id", container.task_id.clone()),
                ("container", container.container_name.clone()),
            ]
        };
        let mut family = encoder.encode_descriptor(
            "berth_container_cpu",
            "CPU time a running container has used since it started, all cores added up",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?;
        for reading in &latest {
            let seconds = reading.usage.cpu_time.as_secs_f64();
            ConstCounter::new(seconds).encode(family.encode_family(&labels(reading))?)?;
        }
        let mut family = encoder.encode_descriptor(
            "berth_container_cpu_units",
            "CPU units (1024 a core) a running container used over the last sampling interval",
            None,
            MetricType::Gauge,
        )?;
        for reading in &latest {
            if let Some(units) = reading.cpu_units {
                ConstGauge::new(units).encode(family.encode_family(&labels(reading))?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "berth_container_memory",
            "Memory a running container uses, without the reclaimable file cache",
            Some(&Unit::Bytes),
            MetricType::Gauge,
        )?;
        for reading in &latest {
            let bytes = i64::try_from(reading.usage.memory_bytes).unwrap_or(i64::MAX);
            ConstGauge::new(bytes).encode(family.encode_family(&labels(reading))?)?;
        }
        let counts = self.view.counts();
        let counter = |encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64| {
            ConstCounter::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Counter,
            )?)
        };
        counter(
            &mut encoder,
            "berth_agent_usage_samples",
            "Samples taken of the running containers' usage",
            counts.samples.load(Ordering::Relaxed),
        )?;
        counter(
            &mut encoder,
            "berth_agent_usage_readings_failed",
            "Container usage readings the runtime could not give",
            counts.readings_failed.load(Ordering::Relaxed),
        )?;
        let mut family = encoder.encode_descriptor(
            "berth_agent_usage_reports",
            "Usage reports sent to the server, by outcome",
            None,
            MetricType::Counter,
        )?;
        for (outcome, count) in [
            ("sent", &counts.reports_sent),
            ("failed", &counts.reports_failed),
        ] {
            ConstCounter::new(count.load(Ordering::Relaxed))
                .encode(family.encode_family(&[("outcome", outcome)])?)?;
        }
        Ok(())
    }
}

/// The registry in Prometheus' text format.
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail; an encoder error would be a bug in a collector.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut text, registry) {
        tracing::error!(error = %e, "encoding metrics failed");
    }
    text
}

/// Answers `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, registry: Arc<Registry>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<_>| {
                let answer = answer(&registry, request.method(), request.uri().path());
                async move { Ok::<_, std::convert::Infallible>(answer) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(registry: &Registry, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (method, path) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            render(registry),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "the agent answers GET /metrics only\n".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
