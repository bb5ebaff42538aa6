//! Agents' shipments of container output are decoded and kept on one thread of their own, at
//! a lower CPU priority than everything else the server does, so that a burst of logging
//! takes only the CPU the API and the controller leave: decoding a shipment of several
//! megabytes on a runtime worker would stall the requests queued behind it on that worker,
//! and keeping it competes for the same cores. Shipments wait in a short queue; when it is
//! full, the agent's request waits, and the agent reads on only once it is answered, so the
//! backlog stays in the containers' own output on the agents' machines, not in memory here.

use crate::call::Context;
use crate::ecs::agents;
use berth_model::agent::{ShipLogsRequest, ShipLogsResponse};
use berth_model::{ApiError, ErrorKind};
use bytes::Bytes;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// How many shipments may wait for the ingest thread.
const QUEUED_SHIPMENTS: usize = 4;

/// How many nice steps the ingest thread runs below the rest of the server: each of the
/// API's threads gets about ten times its share of a busy core, and it runs at full speed
/// when nothing else wants the CPU.
const INGEST_NICE_STEPS: i32 = 10;
/// The lowest priority there is.
const NICEST: i32 = 19;

struct Shipment {
    body: Bytes,
    key: String,
    reply: oneshot::Sender<Result<ShipLogsResponse, ApiError>>,
}

/// The queue in front of the ingest thread.
pub(super) struct Ingest {
    shipments: mpsc::Sender<Shipment>,
}

impl Ingest {
    /// Starts the ingest thread; it ends once the queue is dropped.
    pub(super) fn start(cx: Arc<Context>) -> Ingest {
        let (shipments, mut waiting) = mpsc::channel::<Shipment>(QUEUED_SHIPMENTS);
        std::thread::Builder::new()
            .name("log-ingest".into())
            .spawn(move || {
                lower_priority();
                while let Some(shipment) = waiting.blocking_recv() {
                    let kept =
                        catch_unwind(AssertUnwindSafe(|| keep(&cx, &shipment.body, shipment.key)))
                            .unwrap_or_else(|_| Err(ApiError::server("keeping logs failed")));
                    let _ = shipment.reply.send(kept);
                }
            })
            .expect("the log ingest thread starts");
        Ingest { shipments }
    }

    /// Keeps the shipment in `body` sent with the agent key `key`, once it has its turn.
    pub(super) async fn submit(
        &self,
        body: Bytes,
        key: String,
    ) -> Result<ShipLogsResponse, ApiError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || ApiError::server("the log ingest thread has stopped");
        self.shipments
            .send(Shipment { body, key, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Decodes an agent's request body, saying where in it what was wrong is.
pub(super) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Straight from the bytes, with no JSON tree between: a shipment of logs is large.
    let mut json = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        ApiError::new(
            ErrorKind::SerializationException,
            format!("request body at {}: {}", e.path(), e.inner()),
        )
    })
}

fn keep(cx: &Context, body: &[u8], key: String) -> Result<ShipLogsResponse, ApiError> {
    let shipped: ShipLogsRequest = decode(body)?;
    let instance = shipped.container_instance_arn.clone();
    cx.as_system(berth_time::now(), |call| {
        agents::authenticate(call, &instance, &key).map(drop)
    })?;
    let now = crate::logs::millis(berth_time::now());
    crate::logs::capture::keep(cx.logs().as_ref(), shipped, now)
        .map_err(|e| ApiError::new(ErrorKind::ServerException, format!("log store: {e}")))
}

/// Lowers the calling thread's priority: on Linux a nice value is each thread's own, and
/// `None` names the calling one.
fn lower_priority() {
    let lowered = rustix::process::getpriority_process(None)
        .map(|nice| (nice + INGEST_NICE_STEPS).min(NICEST))
        .and_then(|nice| rustix::process::setpriority_process(None, nice));
    if let Err(error) = lowered {
        tracing::warn!(
            %error,
            "could not lower the log ingest thread's priority; logs compete with the API for CPU"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_calling_thread_is_lowered() {
        let before = rustix::process::getpriority_process(None).unwrap();
        let lowered = std::thread::spawn(|| {
            lower_priority();
            rustix::process::getpriority_process(None).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + INGEST_NICE_STEPS).min(NICEST));
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), before);
    }
}
