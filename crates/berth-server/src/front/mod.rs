//! The HTTP front: accepts connections, answers `GET /metrics` (Prometheus), the agent
//! protocol (`agents`) and every AWS API in the [`Registry`] (`aws`): route, read the body, check the signature, decode the
//! typed request, then run it. Reads run on the runtime worker that read the request (or on
//! the blocking pool when their cost is unbounded); writes go to a writer that commits them
//! in batches (`writer`). Only this module touches sockets; everything it calls is tested
//! without one.

mod agents;
mod aws;
mod body;
mod ingest;
mod shared;
mod writer;

pub use shared::Front;

use body::Body;
use http_body_util::Either;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// How long a client has to finish the TLS handshake (or to send anything at all).
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts connections until the task is dropped, each over TLS when `tls` is given.
pub async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, front: Arc<Front>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Running out of file descriptors must not end the server; wait and retry.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let front = Arc::clone(&front);
        let tls = tls.clone();
        // The handshake runs here, off the accept loop, so a slow client holds up no other,
        // and within a time limit, so one that never finishes it does not hold a socket.
        tokio::spawn(async move {
            let Some(tls) = tls else {
                return serve_connection(stream, peer, front).await;
            };
            let handshake = async {
                if speaks_plain_http(&stream).await {
                    refuse_plain_http(stream).await;
                    return None;
                }
                match tls.accept(stream).await {
                    Ok(stream) => Some(stream),
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        None
                    }
                }
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Some(stream)) => serve_connection(stream, peer, front).await,
                Ok(None) => {}
                Err(_) => tracing::debug!(%peer, "TLS handshake took too long"),
            }
        });
    }
}

/// Whether a client sent plain HTTP to the TLS endpoint: a TLS connection opens with a
/// handshake record (byte 22), an HTTP request with its method's first letter.
async fn speaks_plain_http(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0].is_ascii_uppercase())
}

/// Tells a plain-HTTP client what to use instead, rather than dropping the connection.
async fn refuse_plain_http(mut stream: TcpStream) {
    let local = stream
        .local_addr()
        .map_or_else(|_| "this server".to_string(), |a| a.to_string());
    let message = format!("this Berth server speaks HTTPS only: use https://{local}\n");
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{message}",
        message.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn serve_connection<IO>(io: IO, peer: SocketAddr, front: Arc<Front>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let front = Arc::clone(&front);
        async move { Ok::<_, std::convert::Infallible>(answer(&front, request).await) }
    });
    // Half-closes are allowed: a client that shuts down its sending side after a request
    // still gets the answer. It also keeps hyper from probing the socket for an early EOF
    // while each request is answered, a read that costs a system call and, since the request
    // still borrows the read buffer, a fresh buffer per request.
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .half_close(true)
        .serve_connection(TokioIo::new(io), service)
        .await
    {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// `GET /metrics` answers without a signature, like a health endpoint: Prometheus scrapes it
/// as it is. It shows counts and the names of clusters, services, target groups and
/// actions, never a task's details or a secret.
const METRICS_PATH: &str = "/metrics";

async fn answer(front: &Arc<Front>, request: Request<Incoming>) -> Response<Body> {
    if request.uri().path() == METRICS_PATH && request.method() == hyper::Method::GET {
        let text = front.cx.prometheus().render();
        let mut response = Response::new(Either::Left(http_body_util::Full::new(
            bytes::Bytes::from(text),
        )));
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            ),
        );
        return response;
    }
    if request.uri().path().starts_with(agents::PREFIX) {
        agents::answer(front, request).await.map(Either::Left)
    } else {
        aws::answer(front, request).await
    }
}
