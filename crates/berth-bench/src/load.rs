//! The measured phase: a fixed number of connections, each sending one
//! request after another for a fixed time.

use crate::report::Measurement;
use crate::workload::Action;
use anyhow::{Context, Result};
use berth_client::aws::{Call, Connection, Server};
use hyper::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long and how wide one action is driven.
pub struct Settings {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// The part of the run that counts: requests sent at or after `from` and
/// answered before `until`. Requests still open at `until` are dropped, which
/// loses at most one per connection.
#[derive(Clone, Copy)]
struct Window {
    from: Instant,
    until: Instant,
}

/// What one connection saw in the window.
#[derive(Default)]
struct Tally {
    /// Latencies of 200 answers, in microseconds.
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    /// Connections opened because the server closed the previous one.
    reconnects: u64,
}

impl Tally {
    fn error(&mut self, describe: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(describe());
        }
    }
}

/// Drives `action` over `settings.connections` connections and measures it.
pub async fn run(server: &Arc<Server>, action: Action, settings: &Settings) -> Result<Measurement> {
    let call = Arc::new(Call::new(
        server,
        action.api(),
        action.name(),
        &action.body(),
    ));
    // Every connection is open before the clock starts, so connecting is
    // never measured and all of them start together.
    let mut connections = Vec::with_capacity(settings.connections);
    for _ in 0..settings.connections {
        connections.push(Connection::open(server).await?);
    }
    let from = Instant::now() + settings.warmup;
    let window = Window {
        from,
        until: from + settings.duration,
    };
    let workers: Vec<_> = connections
        .into_iter()
        .map(|connection| {
            tokio::spawn(drive(
                Arc::clone(server),
                Arc::clone(&call),
                connection,
                window,
            ))
        })
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        let tally = worker.await.context("a connection's task panicked")??;
        total.latencies_us.extend(tally.latencies_us);
        total.errors += tally.errors;
        total.reconnects += tally.reconnects;
        total.first_error = total.first_error.or(tally.first_error);
    }
    Ok(Measurement::new(
        action.name(),
        settings.duration,
        total.latencies_us,
        total.errors,
        total.first_error,
        total.reconnects,
    ))
}

/// One connection's loop: sign, send, wait for the whole answer, repeat.
async fn drive(
    server: Arc<Server>,
    call: Arc<Call>,
    mut connection: Connection,
    window: Window,
) -> Result<Tally> {
    let mut tally = Tally::default();
    loop {
        // Signing happens before the clock starts: latency is the server's
        // answer time as the client sees it, not our HMAC work. Connecting
        // again after the server closed the last connection is included.
        let request = call.signed_request(&server)?;
        let opened = connection.opened();
        let started = Instant::now();
        // A server that stops answering must not hold the run past its end.
        let Ok(answer) = tokio::time::timeout_at(window.until, connection.send(request)).await
        else {
            break;
        };
        let finished = Instant::now();
        if finished >= window.until {
            break;
        }
        if started < window.from {
            continue;
        }
        tally.reconnects += connection.opened() - opened;
        match answer {
            Ok((StatusCode::OK, _)) => {
                let micros = (finished - started).as_micros();
                tally
                    .latencies_us
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
            Ok((status, body)) => {
                tally.error(|| format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
            }
            // The next send connects again.
            Err(error) => tally.error(|| format!("{error:#}")),
        }
    }
    Ok(tally)
}
