//! HTTPS listeners with a certificate made in the test: HTTP/1.1 and HTTP/2 by ALPN,
//! X-Forwarded-Proto, WebSocket upgrades, and the idle timeout.

use crate::common::{healthy_group, workers};
use berth_lb::group::TargetGroup;
use berth_lb::proxy::{Listener, Routes};
use berth_lb::rules::{Condition, Rule};
use berth_lb::tls;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// An HTTPS listener for `localhost` with a fresh self-signed certificate, routing the host
/// `localhost` to `group`, and a connector that trusts that certificate.
async fn https_proxy(group: Arc<TargetGroup>, idle: Duration) -> (SocketAddr, Connector) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let config = tls::server_config(&cert.cert.pem(), &cert.key_pair.serialize_pem()).unwrap();
    let routes = Routes {
        rules: vec![Rule {
            priority: 1,
            conditions: vec![Condition::HostHeader(vec!["localhost".into()])],
            forward_to: group,
        }],
        default: None,
    };
    let listener = Listener::new(Arc::new(RwLock::new(routes)), Duration::from_secs(5));
    listener.idle_timeout.set(idle);
    let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(listener.serve_tls(socket, config, workers()));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    (addr, Connector { addr, roots })
}

struct Connector {
    addr: SocketAddr,
    roots: rustls::RootCertStore,
}

impl Connector {
    /// A TLS connection offering `alpn`, checked against the test's certificate.
    async fn connect(&self, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap()
    }
}

async fn body(response: hyper::Response<hyper::body::Incoming>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn https_speaks_http1_and_http2_and_tells_the_target() {
    let (lb, connector) = https_proxy(healthy_group("secure").await, Duration::from_secs(60)).await;

    let stream = connector.connect(&[b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::get("/headers")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body(response).await,
        format!("127.0.0.1|https|{}", lb.port())
    );

    let stream = connector.connect(&[b"h2", b"http/1.1"]).await;
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "ALPN picks HTTP/2 when the client offers it"
    );
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    // Two streams at once on one connection, each forwarded over HTTP/1.1.
    let send = |path: &'static str| {
        let mut sender = sender.clone();
        async move {
            let request = Request::get(format!("https://localhost{path}"))
                .body(Empty::<Bytes>::new())
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(response.version(), Version::HTTP_2);
            assert_eq!(response.status(), StatusCode::OK);
            body(response).await
        }
    };
    let (host, headers) = tokio::join!(send("/host"), send("/headers"));
    assert_eq!(
        host, "localhost",
        "the target gets :authority as its Host header"
    );
    assert_eq!(headers, format!("127.0.0.1|https|{}", lb.port()));
}

/// Reads until `done` says the bytes so far are complete; panics on EOF.
async fn read_until(stream: &mut (impl AsyncRead + Unpin), done: impl Fn(&[u8]) -> bool) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while !done(&seen) {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn websocket_upgrades_pass_through_https() {
    let (_, connector) = https_proxy(healthy_group("ws").await, Duration::from_secs(60)).await;
    let mut stream = connector.connect(&[b"http/1.1"]).await;
    stream
        .write_all(
            b"GET /chat HTTP/1.1\r\nhost: localhost\r\nconnection: Upgrade\r\n\
              upgrade: websocket\r\nsec-websocket-version: 13\r\n\
              sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
    let head = read_until(&mut stream, |seen| {
        seen.windows(4).any(|w| w == b"\r\n\r\n")
    })
    .await;
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(
        head.contains("x-seen-key: dghlihnhbxbszsbub25jzq=="),
        "the key reached the target: {head}"
    );
    // A masked text frame "hello", as a browser sends it; the target echoes the bytes.
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | 5];
    frame.extend_from_slice(&mask);
    frame.extend(b"hello".iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    stream.write_all(&frame).await.unwrap();
    let mut echo = vec![0u8; frame.len()];
    stream.read_exact(&mut echo).await.unwrap();
    assert_eq!(echo, frame);
}

/// True when the peer closes `stream` (EOF or reset) within a few seconds.
async fn closed_by_peer(stream: &mut (impl AsyncRead + Unpin)) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn idle_client_connections_are_closed_but_waiting_ones_are_not() {
    let idle = Duration::from_millis(300);
    let (lb, connector) = https_proxy(healthy_group("idle").await, idle).await;

    let mut stream = connector.connect(&[b"http/1.1"]).await;
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let response = read_until(&mut stream, |seen| seen.ends_with(b"idle")).await;
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "an 800 ms answer outlasts a 300 ms idle timeout: {response}"
    );
    assert!(
        closed_by_peer(&mut stream).await,
        "the connection is closed once idle"
    );

    let mut silent = TcpStream::connect(lb).await.unwrap();
    assert!(
        closed_by_peer(&mut silent).await,
        "a client that never starts TLS is closed too"
    );
}
