//! Active health checks: each target of a group is probed on the group's schedule and the
//! outcome moves its health state.

use crate::group::TargetGroup;
use crate::health::{HealthCheck, Outcome};
use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;

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

/// Checks the group's targets every interval until the future is dropped.
pub async fn run(group: Arc<TargetGroup>) {
    loop {
        let check = group.settings().health_check;
        let probes = group.to_check().into_iter().map(|target| {
            let check = check.clone();
            let group = Arc::clone(&group);
            tokio::spawn(async move {
                let outcome = probe(target.addr, &check).await;
                group.record(&target, outcome);
            })
        });
        for probe in probes.collect::<Vec<_>>() {
            let _ = probe.await;
        }
        tokio::time::sleep(check.interval).await;
    }
}
