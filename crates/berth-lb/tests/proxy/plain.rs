//! Plain HTTP listeners: routing, ALB's status codes, draining and upgrades.

use crate::common::{backend, fast_checks, until_drained, until_healthy, workers};
use berth_lb::checker;
use berth_lb::group::{Algorithm, TargetGroup};
use berth_lb::proxy::{Listener, Routes, Workers};
use berth_lb::rules::{Condition, Rule};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn proxy(routes: Routes) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Listener::new(Arc::new(RwLock::new(routes)), Duration::from_millis(400))
            .serve(listener, workers()),
    );
    addr
}

async fn get(proxy: SocketAddr, host: &str, path: &str) -> (StatusCode, String) {
    let stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).to_string())
}

#[tokio::test]
async fn routes_by_host_and_answers_like_an_alb() {
    let parks = fast_checks(Algorithm::RoundRobin, Duration::ZERO);
    let library = fast_checks(Algorithm::RoundRobin, Duration::ZERO);
    parks.reset_targets([backend("parks").await]);
    library.reset_targets([backend("library").await]);
    tokio::spawn(checker::run(Arc::clone(&parks)));
    tokio::spawn(checker::run(Arc::clone(&library)));
    let empty = fast_checks(Algorithm::RoundRobin, Duration::ZERO);
    let routes = Routes {
        rules: vec![
            Rule {
                priority: 1,
                conditions: vec![Condition::HostHeader(vec!["parks.city.gov".into()])],
                forward_to: Arc::clone(&parks),
            },
            Rule {
                priority: 2,
                conditions: vec![Condition::HostHeader(vec!["empty.city.gov".into()])],
                forward_to: empty,
            },
        ],
        default: Some(Arc::clone(&library)),
    };
    let lb = proxy(routes).await;
    until_healthy(&parks, 1).await;
    until_healthy(&library, 1).await;
    assert_eq!(
        get(lb, "parks.city.gov", "/").await,
        (StatusCode::OK, "parks".into())
    );
    assert_eq!(
        get(lb, "anything.org", "/").await,
        (StatusCode::OK, "library".into())
    );
    assert_eq!(
        get(lb, "empty.city.gov", "/").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        get(lb, "parks.city.gov", "/crash").await.0,
        StatusCode::BAD_GATEWAY
    );
    let (code, _) = get(lb, "parks.city.gov", "/slow").await;
    assert_eq!(
        code,
        StatusCode::GATEWAY_TIMEOUT,
        "800 ms answer beyond the 400 ms timeout"
    );
    let (code, headers) = get(lb, "parks.city.gov", "/headers").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(headers, format!("127.0.0.1|http|{}", lb.port()));
}

#[tokio::test]
async fn the_checker_wakes_its_watcher_when_a_target_turns_healthy() {
    let settings = fast_checks(Algorithm::RoundRobin, Duration::from_secs(30)).settings();
    let moved = Arc::new(tokio::sync::Notify::new());
    let group = Arc::new(TargetGroup::new(settings, Arc::clone(&moved)));
    let woken = moved.notified();
    group.reset_targets([backend("web").await]);
    tokio::spawn(checker::run(Arc::clone(&group)));
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("no wake-up after the target's first check");
    let states: Vec<_> = group.health().into_iter().map(|(_, s, _)| s).collect();
    assert_eq!(states, [berth_lb::health::State::Healthy]);
}

#[tokio::test]
async fn a_deregistered_target_finishes_its_requests_and_gets_no_new_ones() {
    let group = fast_checks(Algorithm::RoundRobin, Duration::from_secs(30));
    let old = backend("old").await;
    let new = backend("new").await;
    group.reset_targets([old]);
    tokio::spawn(checker::run(Arc::clone(&group)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lb = listener.local_addr().unwrap();
    let routes = Routes {
        rules: vec![],
        default: Some(Arc::clone(&group)),
    };
    tokio::spawn(
        Listener::new(Arc::new(RwLock::new(routes)), Duration::from_secs(5))
            .serve(listener, workers()),
    );
    until_healthy(&group, 1).await;
    let in_flight = tokio::spawn(get(lb, "x", "/slow"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    group.reset_targets([old, new]);
    until_healthy(&group, 2).await;
    let started = tokio::time::Instant::now();
    assert_eq!(group.reset_targets([new]).removed, [old]);
    for _ in 0..5 {
        assert_eq!(
            get(lb, "x", "/").await,
            (StatusCode::OK, "new".into()),
            "draining target got a request"
        );
    }
    assert_eq!(
        in_flight.await.unwrap(),
        (StatusCode::OK, "old".into()),
        "the in-flight request completed"
    );
    until_drained(&group, old).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the drain ended with the request, not the 30 s delay"
    );
}

#[tokio::test]
async fn an_upgraded_connection_is_tunnelled_and_holds_its_target() {
    let group = fast_checks(Algorithm::RoundRobin, Duration::from_secs(30));
    let target = backend("ws").await;
    group.reset_targets([target]);
    tokio::spawn(checker::run(Arc::clone(&group)));
    let lb = proxy(Routes {
        rules: vec![],
        default: Some(Arc::clone(&group)),
    })
    .await;
    until_healthy(&group, 1).await;
    let mut stream = tokio::net::TcpStream::connect(lb).await.unwrap();
    stream
        .write_all(
            b"GET /socket HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = vec![0u8; 1024];
    let n = stream.read(&mut head).await.unwrap();
    assert!(
        String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );
    stream.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    stream.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping");
    group.reset_targets([]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        group
            .health()
            .iter()
            .map(|(_, s, _)| *s)
            .collect::<Vec<_>>(),
        [berth_lb::health::State::Draining],
        "an open tunnel keeps its target draining"
    );
    stream.write_all(b"pong").await.unwrap();
    stream.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"pong", "the tunnel still works while draining");
    drop(stream);
    until_drained(&group, target).await;
}

#[tokio::test]
async fn plain_listeners_take_http2_with_prior_knowledge() {
    let lb = proxy(Routes {
        rules: vec![],
        default: Some(crate::common::healthy_group("h2c").await),
    })
    .await;
    let stream = tokio::net::TcpStream::connect(lb).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let request = Request::get("http://anything.org/headers")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, format!("127.0.0.1|http|{}", lb.port()));
}

#[tokio::test]
async fn target_connections_are_kept_alive_and_reused() {
    let group = fast_checks(Algorithm::RoundRobin, Duration::from_secs(30));
    group.reset_targets([backend("pooled").await]);
    tokio::spawn(checker::run(Arc::clone(&group)));
    until_healthy(&group, 1).await;
    let lb = proxy(Routes {
        rules: vec![],
        default: Some(group),
    })
    .await;
    let stream = tokio::net::TcpStream::connect(lb).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut counts = Vec::new();
    for path in ["/connections", "/", "/", "/headers", "/", "/connections"] {
        sender.ready().await.unwrap();
        let request = Request::get(path)
            .header("host", "x")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        if path == "/connections" {
            counts.push(String::from_utf8_lossy(&body).into_owned());
        }
    }
    assert_eq!(counts, ["1", "1"], "six requests, one target connection");
}

/// A target registered between two checks of the group's others is checked at once, not at
/// the group's next turn: with a one-minute interval and one pass to be healthy, a new task
/// takes traffic in milliseconds.
#[tokio::test]
async fn a_new_target_is_checked_the_moment_it_registers() {
    let group = Arc::new(berth_lb::group::TargetGroup::new(
        berth_lb::group::Settings {
            health_check: berth_lb::health::HealthCheck {
                path: "/health".into(),
                interval: Duration::from_secs(60),
                timeout: Duration::from_secs(2),
                healthy_threshold: 1,
                unhealthy_threshold: 1,
                ..berth_lb::health::HealthCheck::default()
            },
            ..berth_lb::group::Settings::default()
        },
        Arc::default(),
    ));
    let first = backend("first").await;
    group.reset_targets([first]);
    tokio::spawn(checker::run(Arc::clone(&group)));
    until_healthy(&group, 1).await;
    group.reset_targets([first, backend("second").await]);
    until_healthy(&group, 2).await;
}

/// Listeners share the workers, and so each worker's kept-alive target connections: with one
/// worker, a request through a second listener goes over the connection a request through
/// the first one left in the pool.
#[tokio::test]
async fn listeners_on_one_worker_share_its_target_connections() {
    let group = crate::common::healthy_group("shared").await;
    let workers = Workers::start(NonZeroUsize::MIN).unwrap();
    let mut lbs = Vec::new();
    for _ in 0..2 {
        let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
        lbs.push(socket.local_addr().unwrap());
        let routes = Routes {
            rules: vec![],
            default: Some(Arc::clone(&group)),
        };
        tokio::spawn(
            Listener::new(Arc::new(RwLock::new(routes)), Duration::from_secs(5))
                .serve(socket, workers.clone()),
        );
    }
    assert_eq!(
        get(lbs[0], "x", "/").await,
        (StatusCode::OK, "shared".into())
    );
    assert_eq!(
        get(lbs[1], "x", "/connections").await,
        (StatusCode::OK, "1".into()),
        "the second listener's request took the first one's target connection"
    );
}

/// Stopping a listener closes its port at once, but a client it already accepted is served
/// on until it leaves: the workers serve on for the other listeners.
#[tokio::test]
async fn a_stopped_listener_closes_its_port_and_serves_its_connections_on() {
    let group = crate::common::healthy_group("web").await;
    let workers = workers();
    let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lb = socket.local_addr().unwrap();
    let routes = Routes {
        rules: vec![],
        default: Some(group),
    };
    let serving = tokio::spawn(
        Listener::new(Arc::new(RwLock::new(routes)), Duration::from_secs(5))
            .serve(socket, workers.clone()),
    );
    let stream = tokio::net::TcpStream::connect(lb).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut ask = async || {
        sender.ready().await.unwrap();
        let request = Request::get("/")
            .header("host", "x")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    assert_eq!(ask().await, (StatusCode::OK, "web".into()));
    serving.abort();
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(lb).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the port still takes connections");
    assert_eq!(
        ask().await,
        (StatusCode::OK, "web".into()),
        "the connection accepted before the stop is still served"
    );
}
