//! The proxy: a listener accepts requests, a rule picks the target group, the group picks a
//! healthy target, and the request is forwarded over a pooled keep-alive connection. Status
//! codes follow ALB: 503 without a healthy target, 502 when the target fails, 504 when it
//! does not answer in time. WebSocket upgrades are passed through and hold their target until
//! they close, so a drain waits for them too.

use crate::group::{Lease, TargetGroup};
use crate::rules::{route, Rule};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderValue, HOST, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Where a listener sends requests.
#[derive(Default, Clone)]
pub struct Routes {
    pub rules: Vec<Rule<Arc<TargetGroup>>>,
    pub default: Option<Arc<TargetGroup>>,
}

#[derive(Clone)]
pub struct Listener {
    pub routes: Arc<RwLock<Routes>>,
    /// Longest wait for a target's response headers before answering 504.
    pub request_timeout: Duration,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Incoming>,
}

impl Listener {
    pub fn new(routes: Arc<RwLock<Routes>>, request_timeout: Duration) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build_http();
        Self {
            routes,
            request_timeout,
            client,
        }
    }

    /// Serves connections from `listener` until the future is dropped.
    pub async fn serve(self, listener: TcpListener) {
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let this = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let this = this.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(this.forward(request, peer, port).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    }

    async fn forward(
        &self,
        mut request: Request<Incoming>,
        peer: SocketAddr,
        port: u16,
    ) -> Response<ProxyBody> {
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or(request.uri().host())
            .unwrap_or("")
            .to_string();
        let group = {
            let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
            route(
                &routes.rules,
                routes.default.as_ref(),
                &host,
                request.uri().path(),
            )
            .cloned()
        };
        let Some(lease) = group.as_ref().and_then(|g| g.pick()) else {
            return status(StatusCode::SERVICE_UNAVAILABLE, "no healthy target\n");
        };
        let path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        let Ok(uri) = format!("http://{}{path}", lease.addr()).parse() else {
            return status(StatusCode::BAD_REQUEST, "bad request target\n");
        };
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(earlier) => format!("{earlier}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
            headers.insert("x-forwarded-for", value);
        }
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        headers.insert("x-forwarded-port", HeaderValue::from(port));
        if request.headers().contains_key(UPGRADE) {
            return self.upgrade(request, lease).await;
        }
        match tokio::time::timeout(self.request_timeout, self.client.request(request)).await {
            Err(_) => status(StatusCode::GATEWAY_TIMEOUT, "target timed out\n"),
            Ok(Err(e)) => {
                tracing::debug!(target = %lease.addr(), error = %e, "target failed");
                status(StatusCode::BAD_GATEWAY, "target failed\n")
            }
            Ok(Ok(response)) => response.map(|body| {
                LeasedBody {
                    body,
                    _lease: lease,
                }
                .boxed()
            }),
        }
    }

    /// Passes a protocol upgrade (WebSocket) through on its own connection to the target.
    async fn upgrade(&self, mut request: Request<Incoming>, lease: Lease) -> Response<ProxyBody> {
        let client_side = hyper::upgrade::on(&mut request);
        let attempt = async {
            let stream = tokio::net::TcpStream::connect(lease.addr()).await.ok()?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .ok()?;
            tokio::spawn(connection.with_upgrades());
            sender.send_request(request).await.ok()
        };
        let Ok(Some(mut response)) = tokio::time::timeout(self.request_timeout, attempt).await
        else {
            return status(StatusCode::BAD_GATEWAY, "target refused the upgrade\n");
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let target_side = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                // The lease lives as long as the tunnel, so a drain waits for it.
                let _lease = lease;
                if let (Ok(client), Ok(target)) = (client_side.await, target_side.await) {
                    let mut client = TokioIo::new(client);
                    let mut target = TokioIo::new(target);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut target).await;
                }
            });
            return response.map(|body| body.boxed());
        }
        response.map(|body| body.boxed())
    }
}

fn status(code: StatusCode, text: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = code;
    response
}

/// A response body that holds its target's lease until the last byte is sent.
struct LeasedBody {
    body: Incoming,
    _lease: Lease,
}

impl Body for LeasedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}
