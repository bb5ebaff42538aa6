//! Backends and target groups shared by the proxy tests.

use berth_lb::checker;
use berth_lb::group::{Algorithm, Settings, TargetGroup};
use berth_lb::health::HealthCheck;
use berth_lb::proxy::Workers;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn header<'a>(request: &'a Request<Incoming>, name: &str) -> &'a str {
    request
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

/// A backend that answers with its name; `/slow` waits, `/crash` drops the connection,
/// `/headers` echoes X-Forwarded-For, -Proto and -Port, `/host` the Host header, and an
/// Upgrade request becomes an echo tunnel whose 101 names the `Sec-WebSocket-Key` it saw.
/// `/connections` says on how many connections it has been sent anything but a health
/// check. It stops with the test's runtime.
pub async fn backend(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let proxied = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let proxied = Arc::clone(&proxied);
            let counted = Arc::new(AtomicBool::new(false));
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                    let proxied = Arc::clone(&proxied);
                    let counted = Arc::clone(&counted);
                    async move {
                        if request.uri().path() != "/health"
                            && !counted.swap(true, Ordering::SeqCst)
                        {
                            proxied.fetch_add(1, Ordering::SeqCst);
                        }
                        let path = request.uri().path().to_string();
                        if request.headers().contains_key("upgrade") {
                            let response = Response::builder()
                                .status(StatusCode::SWITCHING_PROTOCOLS)
                                .header("upgrade", header(&request, "upgrade"))
                                .header("connection", "upgrade")
                                .header("x-seen-key", header(&request, "sec-websocket-key"))
                                .body(Full::new(Bytes::new()))
                                .unwrap();
                            let upgrade = hyper::upgrade::on(&mut request);
                            tokio::spawn(async move {
                                let mut io = TokioIo::new(upgrade.await.unwrap());
                                let mut buffer = [0u8; 64];
                                while let Ok(n) = io.read(&mut buffer).await {
                                    if n == 0 || io.write_all(&buffer[..n]).await.is_err() {
                                        break;
                                    }
                                }
                            });
                            return Ok(response);
                        }
                        let body = match path.as_str() {
                            "/slow" => {
                                tokio::time::sleep(Duration::from_millis(800)).await;
                                name.to_string()
                            }
                            "/crash" => return Err("crash on purpose"),
                            "/headers" => format!(
                                "{}|{}|{}",
                                header(&request, "x-forwarded-for"),
                                header(&request, "x-forwarded-proto"),
                                header(&request, "x-forwarded-port"),
                            ),
                            "/host" => header(&request, "host").to_string(),
                            "/connections" => proxied.load(Ordering::SeqCst).to_string(),
                            _ => name.to_string(),
                        };
                        Ok(Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

/// Proxy threads for one test: two workers, so that a test's connections are spread over
/// more than one, as on any machine with more than one core.
pub fn workers() -> Workers {
    Workers::start(NonZeroUsize::new(2).unwrap()).unwrap()
}

pub fn fast_checks(algorithm: Algorithm, delay: Duration) -> Arc<TargetGroup> {
    let settings = Settings {
        health_check: HealthCheck {
            path: "/health".into(),
            interval: Duration::from_millis(50),
            timeout: Duration::from_millis(500),
            healthy_threshold: 1,
            unhealthy_threshold: 1,
            ..HealthCheck::default()
        },
        algorithm,
        deregistration_delay: delay,
    };
    Arc::new(TargetGroup::new(settings, Arc::default()))
}

/// A group with one backend called `name`, health-checked until it is healthy.
pub async fn healthy_group(name: &'static str) -> Arc<TargetGroup> {
    let group = fast_checks(Algorithm::RoundRobin, Duration::from_secs(30));
    group.reset_targets([backend(name).await]);
    tokio::spawn(checker::run(Arc::clone(&group)));
    until_healthy(&group, 1).await;
    group
}

pub async fn until_healthy(group: &TargetGroup, count: usize) {
    for _ in 0..200 {
        if group
            .health()
            .iter()
            .filter(|(_, s, _)| *s == berth_lb::health::State::Healthy)
            .count()
            == count
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("targets never became healthy: {:?}", group.health());
}

/// Waits until the group holds `addr` no more: its drain ended.
pub async fn until_drained(group: &TargetGroup, addr: SocketAddr) {
    for _ in 0..200 {
        if !group.health().iter().any(|(held, _, _)| *held == addr) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{addr} never finished draining: {:?}", group.health());
}
