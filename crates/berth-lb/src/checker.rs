//! Active health checks: each target of a group is probed the moment it is registered and
//! then every interval on a schedule of its own until it starts draining (the group signals
//! both), and the outcome moves its health state. A new task's target so turns healthy
//! `(healthy threshold - 1) x interval` after it registers, rather than up to a whole interval
//! later, as with one schedule for the group.

use crate::group::{Target, TargetGroup};
use crate::health::{HealthCheck, Outcome};
use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::{AbortHandle, JoinSet};

/// One probe: `GET path` on the target (or the check's port), judged by the matcher.
pub async fn probe(addr: SocketAddr, check: &HealthCheck) -> Outcome {
    let target = SocketAddr::new(addr.ip(), check.port.unwrap_or(addr.port()));
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(target)
            .await
            .map_err(|_| Outcome::Failed)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| Outcome::Failed)?;
        tokio::spawn(connection);
        let request = Request::get(&check.path)
            .header("host", target.to_string())
            .header("user-agent", "berth-health-checker/1")
            .body(Empty::<Bytes>::new())
            .map_err(|_| Outcome::Failed)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| Outcome::Failed)?;
        let code = response.status().as_u16();
        Ok::<_, Outcome>(if check.matcher.accepts(code) {
            Outcome::Passed
        } else {
            Outcome::WrongCode(code)
        })
    };
    match tokio::time::timeout(check.timeout, attempt).await {
        Ok(Ok(outcome)) | Ok(Err(outcome)) => outcome,
        Err(_) => Outcome::Timeout,
    }
}

/// Checks the group's targets until the future is dropped: a target from the moment it is
/// registered until it starts draining (a draining target takes no new requests, so its
/// health no longer matters). The group wakes its owner whenever a check moves a target's
/// health state.
pub async fn run(group: Arc<TargetGroup>) {
    let mut checking: HashMap<usize, AbortHandle> = HashMap::new();
    // Dropping the set (with this future) ends every target's checks.
    let mut checks = JoinSet::new();
    loop {
        let changed = group.targets_changed();
        let targets = group.to_check();
        let current: HashSet<usize> = targets.iter().map(identity).collect();
        checking.retain(|target, checks| {
            let keep = current.contains(target);
            if !keep {
                checks.abort();
            }
            keep
        });
        for target in targets {
            checking
                .entry(identity(&target))
                .or_insert_with(|| checks.spawn(check_every_interval(Arc::clone(&group), target)));
        }
        while checks.try_join_next().is_some() {}
        changed.await;
    }
}

/// A target's identity while it is registered: the same address registered again after a
/// drain is a new target with checks of its own.
fn identity(target: &Arc<Target>) -> usize {
    Arc::as_ptr(target) as usize
}

async fn check_every_interval(group: Arc<TargetGroup>, target: Arc<Target>) {
    loop {
        let check = group.settings().health_check;
        let outcome = probe(target.addr, &check).await;
        group.record(&target, outcome);
        tokio::time::sleep(check.interval).await;
    }
}
