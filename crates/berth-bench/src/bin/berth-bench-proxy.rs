//! `berth-bench-proxy`: the two halves of `bench/proxy.sh` that are not off-the-shelf tools.
//!
//! - `serve` runs Berth's load balancer as a plain reverse proxy: one listener, one target
//!   group, one target, exactly as Berth's own listeners are built, so `wrk` can measure it
//!   beside nginx and HAProxy.
//! - `idle` opens many keep-alive connections to a proxy, sends one request on each and then
//!   holds them idle, so the script can read what they cost the proxy in memory.

#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use berth_lb::checker;
use berth_lb::group::{Settings, TargetGroup};
use berth_lb::health::{HealthCheck, State};
use berth_lb::proxy::{Listener, Routes, Workers};
use clap::Parser;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

#[derive(Parser)]
#[command(
    name = "berth-bench-proxy",
    about = "Berth's load balancer for bench/proxy.sh"
)]
enum Cli {
    /// Proxy `--listen` to the one target `--target` until killed.
    Serve {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        target: SocketAddr,
        /// Client idle timeout, as ALB's idle_timeout.timeout_seconds.
        #[arg(long, default_value_t = 60)]
        idle_timeout_secs: u64,
    },
    /// Open `--count` connections to `--connect`, one GET on each, then hold them until
    /// killed.
    Idle {
        #[arg(long)]
        connect: SocketAddr,
        #[arg(long, default_value_t = 10_000)]
        count: usize,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse() {
        Cli::Serve {
            listen,
            target,
            idle_timeout_secs,
        } => serve(listen, target, Duration::from_secs(idle_timeout_secs)).await,
        Cli::Idle { connect, count } => idle(connect, count).await,
    }
}

async fn serve(listen: SocketAddr, target: SocketAddr, idle_timeout: Duration) -> Result<()> {
    // Checked as a target group would be, but rarely, so checks cost nothing measurable.
    let settings = Settings {
        health_check: HealthCheck {
            interval: Duration::from_secs(5),
            healthy_threshold: 1,
            ..HealthCheck::default()
        },
        ..Settings::default()
    };
    let group = Arc::new(TargetGroup::new(settings, Arc::default()));
    group.reset_targets([target]);
    tokio::spawn(checker::run(Arc::clone(&group)));
    for _ in 0..100 {
        if group.health().iter().any(|(_, s, _)| *s == State::Healthy) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !group.health().iter().any(|(_, s, _)| *s == State::Healthy) {
        bail!(
            "target {target} never passed its health check: {:?}",
            group.health()
        );
    }
    let routes = Routes {
        rules: vec![],
        default: Some(group),
    };
    let listener = Listener::new(Arc::new(RwLock::new(routes)), Duration::from_secs(60));
    listener.idle_timeout.set(idle_timeout);
    let socket = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let workers = Workers::one_per_core().context("cannot start the proxy's threads")?;
    println!("ready on {listen}");
    listener.serve(socket, workers).await;
    Ok(())
}

async fn idle(connect: SocketAddr, count: usize) -> Result<()> {
    let mut connections = Vec::with_capacity(count);
    while connections.len() < count {
        // A few hundred at a time, so the proxy's accept backlog never overflows.
        let mut batch = JoinSet::new();
        for _ in 0..(count - connections.len()).min(250) {
            batch.spawn(one_request(connect));
        }
        while let Some(opened) = batch.join_next().await {
            connections.push(opened??);
        }
    }
    println!("open {}", connections.len());
    std::future::pending::<()>().await;
    Ok(())
}

/// A connection that has sent one GET and read its whole answer: idle keep-alive, as a
/// browser leaves it.
async fn one_request(connect: SocketAddr) -> Result<TcpStream> {
    let mut stream = TcpStream::connect(connect).await?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n")
        .await?;
    let mut reader = BufReader::new(&mut stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            bail!("{connect} closed the connection");
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse()?;
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    Ok(stream)
}
