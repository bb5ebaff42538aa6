//! Plain HTTP/1.1 on the wire: requests the proxy forwards itself (pipelined, HEAD, chunked,
//! close-delimited and 1xx answers) and a connection handed to hyper mid-way by a request
//! with a body, checked byte by byte against a backend that writes its answers by hand.

use crate::common::{fast_checks, until_healthy, workers};
use berth_lb::checker;
use berth_lb::group::Algorithm;
use berth_lb::proxy::{Listener, Routes};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A backend that parses requests with httparse and writes its answers by hand: `/chunked`
/// in two pieces, `/close` delimited by closing, `/early` after a 103, anything else
/// `METHOD path body xff=X-Forwarded-For` with a Content-Length (and for HEAD, no body).
async fn hand_written_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut read = Vec::new();
                loop {
                    let mut headers = [httparse::EMPTY_HEADER; 32];
                    let mut request = httparse::Request::new(&mut headers);
                    let Ok(httparse::Status::Complete(length)) = request.parse(&read) else {
                        let mut buffer = [0u8; 4096];
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read.extend_from_slice(&buffer[..n]),
                        }
                        continue;
                    };
                    let method = request.method.unwrap().to_string();
                    let path = request.path.unwrap().to_string();
                    let value = |name: &str| {
                        request
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case(name))
                            .map(|h| String::from_utf8_lossy(h.value).into_owned())
                    };
                    let xff = value("x-forwarded-for").unwrap_or_default();
                    let body_length: usize =
                        value("content-length").map_or(0, |v| v.parse().unwrap());
                    while read.len() < length + body_length {
                        let mut buffer = [0u8; 4096];
                        let n = stream.read(&mut buffer).await.unwrap();
                        read.extend_from_slice(&buffer[..n]);
                    }
                    let body =
                        String::from_utf8_lossy(&read[length..length + body_length]).into_owned();
                    read.drain(..length + body_length);
                    match path.as_str() {
                        "/chunked" => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
                                .await;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            let _ = stream.write_all(b"6\r\n world\r\n0\r\n\r\n").await;
                        }
                        "/close" => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
                                .await;
                            return;
                        }
                        "/early" => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                                .await;
                        }
                        _ => {
                            let text = format!("{method} {path} {body} xff={xff}");
                            // A HEAD answer has the length its GET's body would have.
                            let sent = if method == "HEAD" { "" } else { text.as_str() };
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nKeep-Alive: timeout=5\r\n\r\n{sent}",
                                text.len()
                            );
                            let _ = stream.write_all(answer.as_bytes()).await;
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn proxy_to_hand_written_backend() -> SocketAddr {
    let group = fast_checks(Algorithm::RoundRobin, Duration::from_secs(30));
    group.reset_targets([hand_written_backend().await]);
    tokio::spawn(checker::run(Arc::clone(&group)));
    until_healthy(&group, 1).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = Routes {
        rules: vec![],
        default: Some(group),
    };
    tokio::spawn(
        Listener::new(Arc::new(RwLock::new(routes)), Duration::from_secs(5))
            .serve(listener, workers()),
    );
    addr
}

/// Writes `request` and reads until what came back ends with `until`.
async fn exchange(stream: &mut TcpStream, request: &str, until: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !answer.ends_with(until.as_bytes()) {
            let mut buffer = [0u8; 4096];
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buffer[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {until:?} in {:?}", String::from_utf8_lossy(&answer)));
    String::from_utf8(answer).unwrap()
}

#[tokio::test]
async fn simple_requests_pass_byte_for_byte_and_others_go_to_hyper() {
    let proxy = proxy_to_hand_written_backend().await;
    let mut client = TcpStream::connect(proxy).await.unwrap();

    // Pipelined: both answers, in order; HEAD's without a body; hop-by-hop headers dropped.
    let answers = exchange(
        &mut client,
        "GET /a HTTP/1.1\r\nHost: web\r\nX-Forwarded-For: 192.0.2.9\r\n\r\nHEAD /b HTTP/1.1\r\nHost: web\r\n\r\n",
        "Content-Length: 22\r\n\r\n",
    )
    .await;
    assert_eq!(
        answers,
        "HTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\nGET /a  xff=192.0.2.9, 127.0.0.1\
         HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\n"
    );

    let chunked = exchange(
        &mut client,
        "GET /chunked HTTP/1.1\r\nHost: web\r\n\r\n",
        "0\r\n\r\n",
    )
    .await;
    assert_eq!(
        chunked,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    );
    let early = exchange(
        &mut client,
        "GET /early HTTP/1.1\r\nHost: web\r\n\r\n",
        "ok",
    )
    .await;
    assert_eq!(
        early,
        "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    );

    // A body: hyper serves the rest of the connection, this request included.
    let posted = exchange(
        &mut client,
        "POST /p HTTP/1.1\r\nHost: web\r\nContent-Length: 4\r\n\r\nbody\
         GET /after HTTP/1.1\r\nHost: web\r\n\r\n",
        "GET /after  xff=127.0.0.1",
    )
    .await;
    assert!(posted.starts_with("HTTP/1.1 200 OK\r\n"), "{posted}");
    assert!(posted.contains("POST /p body xff=127.0.0.1"), "{posted}");
    assert!(posted.contains("date: "), "hyper answered: {posted}");

    // An answer delimited by closing closes the client's connection too.
    let mut client = TcpStream::connect(proxy).await.unwrap();
    client
        .write_all(b"GET /close HTTP/1.1\r\nHost: web\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answer,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nconnection: close\r\n\r\nuntil close"
    );
}
