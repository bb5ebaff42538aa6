//! Keep-alive HTTP/1.1 connections to targets, one pool per proxy worker and kind of
//! connection: hyper's client connections for the requests hyper serves, plain TCP streams
//! for those `h1` forwards itself. Pools are keyed by target address alone, so every listener
//! served on a worker reuses the same connections to a target it shares with others.
//!
//! A connection goes back to the pool when the response body it carried has been read to the
//! end, and is taken again newest first. Unlike a general-purpose client this does no URI
//! parsing, hashing of pool keys by scheme and authority, or task spawning per request: on
//! the proxy's hot path those cost as much CPU as the HTTP parsing itself.

use crate::DataPlaneError;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long an unused connection is kept: less than the 60 s or more most servers keep an
/// idle keep-alive connection, so the target rarely closes one just as it is reused.
const IDLE_FOR: Duration = Duration::from_secs(50);
/// Unused connections kept per target; more are closed once their response ends.
const MAX_IDLE_PER_TARGET: usize = 512;
/// How often, at most, connections idle too long are closed.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

pub(crate) type Sender = SendRequest<Incoming>;

/// A connection a pool can hold.
pub(crate) trait Reusable {
    /// Whether the target has closed it (or it can no longer be used otherwise).
    fn is_closed(&self) -> bool;
}

impl Reusable for Sender {
    fn is_closed(&self) -> bool {
        SendRequest::is_closed(self)
    }
}

impl Reusable for TcpStream {
    /// An idle connection has nothing to read; one the target closed reads its end (or, out
    /// of turn, bytes), so it cannot carry a request.
    fn is_closed(&self) -> bool {
        let mut byte = [0u8; 1];
        !matches!(self.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

pub(crate) struct Pool<C> {
    idle: Mutex<Idle<C>>,
}

struct Idle<C> {
    by_target: HashMap<SocketAddr, Vec<(C, Instant)>>,
    swept: Instant,
}

impl<C: Reusable> Pool<C> {
    pub(crate) fn new() -> Self {
        Self {
            idle: Mutex::new(Idle {
                by_target: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle<C>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An unused connection to `target` the target has not closed, newest first.
    pub(crate) fn take(&self, target: SocketAddr) -> Option<C> {
        let mut idle = self.idle();
        let connections = idle.by_target.get_mut(&target)?;
        let deadline = Instant::now().checked_sub(IDLE_FOR);
        while let Some((connection, since)) = connections.pop() {
            if !connection.is_closed() && deadline.is_none_or(|d| since > d) {
                return Some(connection);
            }
        }
        None
    }

    /// Returns a connection whose response has been read to its end.
    pub(crate) fn put(&self, target: SocketAddr, connection: C) {
        let now = Instant::now();
        let mut idle = self.idle();
        let connections = idle.by_target.entry(target).or_default();
        if connections.len() < MAX_IDLE_PER_TARGET {
            connections.push((connection, now));
        }
        if now.duration_since(idle.swept) >= SWEEP_EVERY {
            idle.swept = now;
            let deadline = now.checked_sub(IDLE_FOR);
            idle.by_target.retain(|_, connections| {
                connections.retain(|(connection, since)| {
                    !connection.is_closed() && deadline.is_none_or(|d| *since > d)
                });
                !connections.is_empty()
            });
        }
    }
}

impl Pool<Sender> {
    /// Sends `request` (origin-form, with its Host header) to `target` on a pooled connection,
    /// or a new one. A request a reused connection could not send, because the target closed
    /// it meanwhile, is sent again on a new connection. Returns the connection with the
    /// response, for [`Pool::put`] once the response body has ended.
    pub(crate) async fn send(
        &self,
        target: SocketAddr,
        mut request: Request<Incoming>,
    ) -> Result<(Response<Incoming>, Sender), DataPlaneError> {
        while let Some(mut sender) = self.take(target) {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, sender)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(DataPlaneError::Target(e.into_error())),
                },
            }
        }
        let stream = TcpStream::connect(target)
            .await
            .map_err(DataPlaneError::TargetConnect)?;
        // Requests are small writes on a long-lived connection; Nagle's algorithm would hold
        // them back waiting for ACKs.
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(DataPlaneError::Target)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%target, error = %e, "target connection ended");
            }
        });
        let response = sender
            .send_request(request)
            .await
            .map_err(DataPlaneError::Target)?;
        Ok((response, sender))
    }
}
