//! `berth-bench`: a load generator for servers that speak the Amazon ECS JSON
//! API (and Secrets Manager's), built to compare `berth server` with moto's
//! mocks on equal terms.
//!
//! After an unmeasured setup (a task definition, a service, a few tasks) it
//! drives each chosen action in turn over a fixed number of keep-alive
//! HTTP/1.1 connections. Every request is SigV4-signed afresh, as an SDK
//! signs it. It reports 200 answers per second, p50/p99 latency and errors,
//! as a table or as JSON. `bench/api-vs-moto.sh` runs it against both servers
//! and puts the numbers side by side.

#![forbid(unsafe_code)]

mod load;
mod report;
mod workload;

use anyhow::{bail, Context, Result};
use berth_client::aws::{Credentials, Server};
use berth_client::endpoint::Endpoint;
use clap::{Parser, ValueEnum};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use workload::Action;

#[derive(Parser)]
#[command(
    name = "berth-bench",
    version,
    about = "Measure an ECS JSON API server: requests/s and latency"
)]
struct Cli {
    /// The server, e.g. http://127.0.0.1:4566.
    #[arg(long)]
    endpoint: String,
    /// The CA certificate (PEM) an https:// endpoint's certificate must chain to.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Access key id to sign with.
    #[arg(long)]
    access_key: String,
    /// Secret access key to sign with.
    #[arg(long)]
    secret: String,
    /// Region in the signature's credential scope.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Subnet for the awsvpc service and tasks the setup creates; against
    /// moto, one its EC2 mock has.
    #[arg(long, default_value = "subnet-0123456789abcdef0")]
    subnet: String,
    /// Security group for the same; against moto, one its EC2 mock has.
    #[arg(long, default_value = "sg-0123456789abcdef0")]
    security_group: String,
    /// Concurrent keep-alive connections, one request in flight on each.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    connections: u16,
    /// How long each action is measured, e.g. 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured load before each measurement, to fill caches and pools.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Actions to measure, one after the other.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "DescribeServices,ListTasks,RegisterTaskDefinition,GetSecretValue"
    )]
    actions: Vec<Action>,
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

/// `10s`, `500ms`, `1.5s`, `2m`; a bare number is seconds.
fn parse_duration(text: &str) -> Result<Duration> {
    let (number, unit_secs) = if let Some(number) = text.strip_suffix("ms") {
        (number, 0.001)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("{text:?} is not a duration like 10s, 500ms or 2m"))?;
    Duration::try_from_secs_f64(value * unit_secs)
        .with_context(|| format!("{text:?} is not a duration like 10s, 500ms or 2m"))
}

// The load generator shares the machine with the server it measures, so it
// takes one worker thread per core like any tokio program; see bench/README.md.
#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    let ca = cli
        .ca_file
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        })
        .transpose()?;
    let server = Arc::new(Server {
        endpoint: Endpoint::new(&cli.endpoint, ca.as_deref(), "--ca-file")?,
        credentials: Credentials {
            access_key_id: cli.access_key.clone(),
            secret_access_key: cli.secret.clone(),
            region: cli.region.clone(),
        },
    });
    eprintln!(
        "setup: task definition, service and tasks on {}",
        cli.endpoint
    );
    let network = workload::Network {
        subnet: cli.subnet,
        security_group: cli.security_group,
    };
    workload::prepare(&server, &network)
        .await
        .context("setup failed")?;

    let settings = load::Settings {
        connections: usize::from(cli.connections),
        warmup: cli.warmup,
        duration: cli.duration,
    };
    let mut measurements = Vec::new();
    for &action in &cli.actions {
        eprintln!(
            "{}: {} connections, {:?} warm-up, {:?} measured",
            action.name(),
            settings.connections,
            settings.warmup,
            settings.duration
        );
        let measurement = load::run(&server, action, &settings)
            .await
            .with_context(|| format!("{} failed", action.name()))?;
        if let Some(error) = &measurement.first_error {
            eprintln!(
                "{}: {} errors, the first: {error}",
                action.name(),
                measurement.errors
            );
        }
        measurements.push(measurement);
    }

    match cli.output {
        Output::Table => print!("{}", report::table(&measurements)),
        Output::Json => println!(
            "{:#}",
            json!({
                "endpoint": cli.endpoint,
                "connections": cli.connections,
                "warmup_secs": cli.warmup.as_secs_f64(),
                "duration_secs": cli.duration.as_secs_f64(),
                "results": measurements.iter().map(report::Measurement::to_json).collect::<Vec<_>>(),
            })
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        for bad in ["", "s", "ten", "-1s", "1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_parses_with_defaults() {
        let cli = Cli::try_parse_from([
            "berth-bench",
            "--endpoint",
            "http://127.0.0.1:1",
            "--access-key",
            "K",
            "--secret",
            "S",
            "--actions",
            "ListTasks,DescribeServices",
        ])
        .unwrap();
        assert_eq!(cli.connections, 64);
        assert_eq!(cli.duration, Duration::from_secs(10));
        assert_eq!(cli.warmup, Duration::from_secs(1));
        assert_eq!(cli.actions, [Action::ListTasks, Action::DescribeServices]);
        assert!(cli.output == Output::Table);
    }
}
