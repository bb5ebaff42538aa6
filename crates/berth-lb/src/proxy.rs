//! The proxy: a listener accepts requests, a rule picks the target group, the group picks a
//! healthy target, and the request is forwarded over a pooled keep-alive HTTP/1.1 connection.
//! Clients speak HTTP/1.1 or HTTP/2 (by ALPN on HTTPS listeners, by prior knowledge on plain
//! ones). Status codes follow ALB: 503 without a healthy target, 502 when the target fails,
//! 504 when it does not answer in time. WebSocket upgrades are passed through and hold their
//! target until they close, so a drain waits for them too. On plain listeners the simple
//! HTTP/1.1 requests most traffic is made of are forwarded by [`crate::h1`] without hyper;
//! the first other request hands the connection to hyper.

use crate::group::{Lease, TargetGroup};
use crate::h1::{self, Forwarding, Prefixed, Served};
use crate::idle::{Activity, IdleIo};
use crate::pool::{Pool, Sender};
use crate::rules::{route, Rule};
use crate::DataPlaneError;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, TE, TRAILER, UPGRADE};
use hyper::http::uri::PathAndQuery;
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// Where a listener sends requests.
#[derive(Default, Clone)]
pub struct Routes {
    pub rules: Vec<Rule<Arc<TargetGroup>>>,
    pub default: Option<Arc<TargetGroup>>,
}

impl Routes {
    /// A healthy target for a request to `host` and `path`, in the group of the best matching
    /// rule (or the default); `None` is answered 503.
    pub(crate) fn lease(routes: &RwLock<Routes>, host: &str, path: &str) -> Option<Lease> {
        let routes = routes.read().unwrap_or_else(|p| p.into_inner());
        route(&routes.rules, routes.default.as_ref(), host, path)?.pick()
    }
}

/// Binds a listener's port on `addr`. The kernel queues connections from this moment on, so
/// a port bound before its listener is served (as CreateListener does) loses none of them.
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, DataPlaneError> {
    std::net::TcpListener::bind(addr).map_err(|source| DataPlaneError::Bind { addr, source })
}

/// What the load balancer answers itself, with ALB's status codes.
pub(crate) const NO_HEALTHY_TARGET: (StatusCode, &str) =
    (StatusCode::SERVICE_UNAVAILABLE, "no healthy target\n");
pub(crate) const TARGET_TIMED_OUT: (StatusCode, &str) =
    (StatusCode::GATEWAY_TIMEOUT, "target timed out\n");
pub(crate) const TARGET_FAILED: (StatusCode, &str) = (StatusCode::BAD_GATEWAY, "target failed\n");

/// ALB's `idle_timeout.timeout_seconds` default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A listener's idle timeout, shared with whoever changes it: a connection accepted after a
/// change is timed by the new value, and the listener keeps serving meanwhile.
#[derive(Clone, Debug)]
pub struct IdleTimeout(Arc<AtomicU64>);

impl IdleTimeout {
    pub fn new(timeout: Duration) -> Self {
        Self(Arc::new(AtomicU64::new(millis(timeout))))
    }

    pub fn set(&self, timeout: Duration) {
        self.0.store(millis(timeout), Ordering::Relaxed);
    }

    pub fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed))
    }
}

fn millis(timeout: Duration) -> u64 {
    u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Clone)]
pub struct Listener {
    pub routes: Arc<RwLock<Routes>>,
    /// Longest wait for a target's response headers before answering 504.
    pub request_timeout: Duration,
    /// A client connection (or WebSocket tunnel) that moves no byte either way for this long
    /// is closed, as ALB's `idle_timeout.timeout_seconds` does; time spent waiting for a
    /// target's response headers does not count, the request timeout bounds that.
    pub idle_timeout: IdleTimeout,
}

impl Listener {
    /// A listener with ALB's default idle timeout.
    pub fn new(routes: Arc<RwLock<Routes>>, request_timeout: Duration) -> Self {
        Self {
            routes,
            request_timeout,
            idle_timeout: IdleTimeout::new(DEFAULT_IDLE_TIMEOUT),
        }
    }

    /// Serves plain-text HTTP/1.1 (and HTTP/2 with prior knowledge) from `listener` until the
    /// future is dropped. Connections are accepted and served on threads of the listener's
    /// own (an acceptor and one worker per core), which end with the future.
    pub async fn serve(self, listener: TcpListener) {
        self.run(listener, None).await
    }

    /// Serves HTTPS from `listener` until the future is dropped: TLS with `tls` (see
    /// [`crate::tls::server_config`]), then HTTP/2 or HTTP/1.1 as ALPN chose. Threads as for
    /// [`Listener::serve`].
    pub async fn serve_tls(self, listener: TcpListener, tls: Arc<rustls::ServerConfig>) {
        self.run(listener, Some(TlsAcceptor::from(tls))).await
    }

    /// Accepts on a thread of the listener's own, so that a busy runtime of the caller's (the
    /// control plane shares it in `berth up`) never keeps a client waiting for its connection
    /// to be taken.
    async fn run(self, listener: TcpListener, tls: Option<TlsAcceptor>) {
        let shared = Arc::new(Shared {
            listener: self,
            port: listener.local_addr().map(|a| a.port()).unwrap_or(0),
            tls,
        });
        let listener = match listener.into_std() {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!(error = %e, "cannot hand a listener to its acceptor");
                return;
            }
        };
        // Dropping `_stop` with this future ends the acceptor, and with it the workers.
        let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("berth-lb-accept".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(async move {
                        tokio::select! {
                            _ = stopped => {}
                            () = accept(shared, listener) => {}
                        }
                    }),
                    Err(e) => tracing::error!(error = %e, "cannot start a proxy acceptor"),
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a proxy acceptor thread");
            return;
        }
        std::future::pending().await
    }
}

/// Takes connections off `listener` and hands each to one of the workers, in turn.
async fn accept(shared: Arc<Shared>, listener: std::net::TcpListener) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "cannot register a listener with its acceptor");
            return;
        }
    };
    let mut workers = Workers::start(&shared);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                workers.hand_over(stream, peer);
            }
            Err(e) => {
                // Out of file descriptors, typically: accepting again at once would spin,
                // and the condition clears when connections close.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// What every connection of one `serve` call shares.
struct Shared {
    listener: Listener,
    port: u16,
    tls: Option<TlsAcceptor>,
}

/// One thread per core, each running its connections on a single-threaded runtime with its
/// own [`Pool`] of target connections, the way nginx runs a worker process per core: a request
/// and its target connection never change threads, which cost a third more CPU per request
/// on tokio's work-stealing runtime (see bench/README.md). Dropping the senders (with the
/// `serve` future) ends each worker's runtime and with it every connection it serves.
struct Workers {
    senders: Vec<mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>>,
    next: usize,
    /// Serves on the acceptor's own runtime when no worker thread could be started.
    fallback: Arc<Worker>,
}

impl Workers {
    fn start(shared: &Arc<Shared>) -> Self {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut senders = Vec::with_capacity(count);
        for index in 0..count {
            let (sender, receiver) = mpsc::unbounded_channel();
            let shared = Arc::clone(shared);
            let spawned = std::thread::Builder::new()
                .name(format!("berth-lb-{index}"))
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime.block_on(Worker::new(shared).run(receiver)),
                        Err(e) => tracing::error!(error = %e, "cannot start a proxy worker"),
                    }
                });
            match spawned {
                Ok(_) => senders.push(sender),
                Err(e) => tracing::error!(error = %e, "cannot start a proxy worker thread"),
            }
        }
        Self {
            senders,
            next: 0,
            fallback: Worker::new(Arc::clone(shared)),
        }
    }

    fn hand_over(&mut self, stream: TcpStream, peer: SocketAddr) {
        if self.senders.is_empty() {
            tokio::spawn(Arc::clone(&self.fallback).serve(stream, peer));
            return;
        }
        // The stream leaves this runtime's reactor and joins the worker's.
        let Ok(mut stream) = stream.into_std() else {
            return;
        };
        while !self.senders.is_empty() {
            self.next = (self.next + 1) % self.senders.len();
            match self.senders[self.next].send((stream, peer)) {
                Ok(()) => return,
                // A worker whose runtime is gone takes no more connections.
                Err(mpsc::error::SendError((back, _))) => {
                    self.senders.swap_remove(self.next);
                    stream = back;
                }
            }
        }
        if let Ok(stream) = TcpStream::from_std(stream) {
            tokio::spawn(Arc::clone(&self.fallback).serve(stream, peer));
        }
    }
}

/// Serves connections on the runtime it runs on.
struct Worker {
    shared: Arc<Shared>,
    /// Target connections for the requests hyper serves.
    pool: Arc<Pool<Sender>>,
    /// Target connections for the requests [`h1`] forwards itself.
    streams: Pool<TcpStream>,
    server: auto::Builder<TokioExecutor>,
}

impl Worker {
    fn new(shared: Arc<Shared>) -> Arc<Self> {
        Arc::new(Self {
            shared,
            pool: Arc::new(Pool::new()),
            streams: Pool::new(),
            // HTTP/1.1 and HTTP/2 on one port: the auto builder reads the first bytes and
            // serves HTTP/2 when they are its connection preface.
            server: auto::Builder::new(TokioExecutor::new()),
        })
    }

    async fn run(
        self: Arc<Self>,
        mut streams: mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    ) {
        tokio::spawn(keep_next_timer_near());
        while let Some((stream, peer)) = streams.recv().await {
            match TcpStream::from_std(stream) {
                Ok(stream) => {
                    tokio::spawn(Arc::clone(&self).serve(stream, peer));
                }
                Err(e) => tracing::debug!(error = %e, "cannot register a client connection"),
            }
        }
    }

    async fn serve(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        let listener = &self.shared.listener;
        let activity = Arc::new(Activity::default());
        // The TLS handshake runs on the idle-timed stream too, so a client that never
        // finishes it is dropped like any idle one.
        let idle_timeout = listener.idle_timeout.get();
        let mut io = IdleIo::new(stream, idle_timeout, Arc::clone(&activity));
        let proto = if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let connection = Connection {
            peer: HeaderValue::try_from(peer.ip().to_string())
                .expect("an IP address is a valid header value"),
            port: HeaderValue::from(self.shared.port),
            proto: HeaderValue::from_static(proto),
            activity,
            worker: Arc::clone(&self),
        };
        match &self.shared.tls {
            None => {
                let served = h1::serve(
                    &mut io,
                    &Forwarding {
                        routes: &listener.routes,
                        request_timeout: listener.request_timeout,
                        idle_timeout,
                        pool: &self.streams,
                        activity: &connection.activity,
                        peer: connection.peer.as_bytes(),
                        port: connection.port.as_bytes(),
                        proto: connection.proto.as_bytes(),
                    },
                )
                .await;
                if let Served::HandOver(read) = served {
                    serve_connection(&self.server, Prefixed::new(read, io), connection).await
                }
            }
            Some(acceptor) => match acceptor.accept(io).await {
                Ok(tls) => serve_connection(&self.server, tls, connection).await,
                Err(e) => tracing::debug!(error = %e, "tls handshake failed"),
            },
        }
    }
}

/// Ticks a worker's timer wheel once a second, so that the runtime never sleeps longer.
///
/// tokio wakes a sleeping runtime through its eventfd whenever a timer is registered that is
/// due before the one the runtime last went to sleep for, even when the timer is registered
/// on the runtime's own thread while it runs. Each request registers its 60 s timeout, and
/// without a nearer timer each one found the wheel sleeping until an idle timeout, further
/// off: one `write` to the eventfd and one extra `epoll_wait` event per request, about a
/// tenth of the proxy's CPU per request on one connection (see bench/README.md). A second
/// is shorter than any request or idle timeout, so only the tick itself ever wakes it.
async fn keep_next_timer_near() {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// What one accepted connection shares with the requests it carries.
struct Connection {
    worker: Arc<Worker>,
    peer: HeaderValue,
    port: HeaderValue,
    proto: HeaderValue,
    activity: Arc<Activity>,
}

impl Connection {
    async fn forward(&self, mut request: Request<Incoming>) -> Response<ProxyBody> {
        let connection = self;
        let listener = &self.worker.shared.listener;
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or(request.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        let Some(lease) = Routes::lease(&listener.routes, host, request.uri().path()) else {
            return status(NO_HEALTHY_TARGET);
        };
        if request.version() == Version::HTTP_2 {
            // HTTP/2 carries the host in `:authority`; the target speaks HTTP/1.1 and wants a
            // Host header instead.
            if !request.headers().contains_key(HOST) {
                if let Some(authority) = request.uri().authority() {
                    if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                        request.headers_mut().insert(HOST, host);
                    }
                }
            }
            *request.version_mut() = Version::HTTP_11;
        }
        let target = lease.addr();
        if !request.headers().contains_key(HOST) {
            // HTTP/1.1 requires a Host header; an HTTP/1.0 client may have sent none.
            if let Ok(host) = HeaderValue::try_from(target.to_string()) {
                request.headers_mut().insert(HOST, host);
            }
        }
        // The target is sent the origin form (`/path?query`), as to any origin server.
        let path = request
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *request.uri_mut() = Uri::from(path);
        let upgrade = request.headers().contains_key(UPGRADE);
        let headers = request.headers_mut();
        if !upgrade {
            strip_hop_by_hop(headers);
        }
        let forwarded_for = match headers.get(X_FORWARDED_FOR).map(HeaderValue::as_bytes) {
            Some(earlier) => {
                let mut joined = Vec::with_capacity(earlier.len() + 2 + connection.peer.len());
                joined.extend_from_slice(earlier);
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(connection.peer.as_bytes());
                HeaderValue::from_bytes(&joined).ok()
            }
            None => Some(connection.peer.clone()),
        };
        if let Some(value) = forwarded_for {
            headers.insert(X_FORWARDED_FOR, value);
        }
        headers.insert(X_FORWARDED_PROTO, connection.proto.clone());
        headers.insert(X_FORWARDED_PORT, connection.port.clone());
        if upgrade {
            return self.upgrade(request, lease).await;
        }
        let pool = &self.worker.pool;
        match tokio::time::timeout(listener.request_timeout, pool.send(target, request)).await {
            Err(_) => status(TARGET_TIMED_OUT),
            Ok(Err(e)) => {
                tracing::debug!(%target, error = %e, "target failed");
                status(TARGET_FAILED)
            }
            Ok(Ok((mut response, sender))) => {
                strip_hop_by_hop(response.headers_mut());
                let reuse = Reuse {
                    pool: Arc::clone(pool),
                    target,
                    sender,
                };
                response.map(|body| ProxyBody::target(body, Some(lease), Some(reuse)))
            }
        }
    }

    /// Passes a protocol upgrade (WebSocket) through on its own connection to the target.
    async fn upgrade(&self, mut request: Request<Incoming>, lease: Lease) -> Response<ProxyBody> {
        let client_side = hyper::upgrade::on(&mut request);
        let attempt = async {
            let stream = TcpStream::connect(lease.addr()).await.ok()?;
            let _ = stream.set_nodelay(true);
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .ok()?;
            tokio::spawn(connection.with_upgrades());
            sender.send_request(request).await.ok()
        };
        let timeout = self.worker.shared.listener.request_timeout;
        let Ok(Some(mut response)) = tokio::time::timeout(timeout, attempt).await else {
            return status((StatusCode::BAD_GATEWAY, "target refused the upgrade\n"));
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
        }
        response.map(|body| ProxyBody::target(body, None, None))
    }
}

pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

async fn serve_connection<I>(server: &auto::Builder<TokioExecutor>, io: I, connection: Connection)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = Arc::new(connection);
    let service = hyper::service::service_fn(move |request| {
        let connection = Arc::clone(&connection);
        async move {
            // While this guard lives the connection is waiting on a target, not idle.
            let _busy = connection.activity.busy();
            let response = connection.forward(request).await;
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    if let Err(e) = server
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await
    {
        tracing::debug!(error = %e, "client connection ended");
    }
}

/// Connection-level headers (RFC 9110 §7.6.1), with those the `Connection` header lists, are
/// for one hop; passing them on would, for one, let a client's `Connection: close` close the
/// pooled connection to the target. The names are constants because parsing a name costs as
/// much as the lookup, on every request.
/// `Connection` comes first.
pub(crate) const HOP_BY_HOP: [HeaderName; 6] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    TE,
    TRAILER,
    UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if let Some(connection) = headers.remove(CONNECTION) {
        if let Ok(listed) = connection.to_str() {
            for name in listed.split(',') {
                headers.remove(name.trim());
            }
        }
    }
    for name in &HOP_BY_HOP[1..] {
        headers.remove(name);
    }
}

fn status((code, text): (StatusCode, &'static str)) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::Local(Full::new(Bytes::from_static(
        text.as_bytes(),
    ))));
    *response.status_mut() = code;
    response
}

/// A target connection to return to its pool once the response on it has been read.
struct Reuse {
    pool: Arc<Pool<Sender>>,
    target: SocketAddr,
    sender: Sender,
}

/// A response body: the target's, holding its lease until the last byte is sent and handing
/// its connection back to the pool once it has ended, or one the load balancer wrote itself.
/// An enum rather than a boxed body saves an allocation per request.
enum ProxyBody {
    Target {
        body: Incoming,
        _lease: Option<Lease>,
        /// Dropped with the body when it did not end: the connection is then closed, since
        /// what is left of the response on it is unknown.
        reuse: Option<Reuse>,
    },
    Local(Full<Bytes>),
}

impl ProxyBody {
    fn target(body: Incoming, lease: Option<Lease>, reuse: Option<Reuse>) -> Self {
        let mut this = ProxyBody::Target {
            body,
            _lease: lease,
            reuse,
        };
        // An empty body (204, 304, `content-length: 0`) may never be polled.
        if this.is_end_stream() {
            this.ended();
        }
        this
    }

    fn ended(&mut self) {
        if let ProxyBody::Target { reuse, .. } = self {
            if let Some(Reuse {
                pool,
                target,
                sender,
            }) = reuse.take()
            {
                pool.put(target, sender);
            }
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = match this {
            ProxyBody::Target { body, .. } => Pin::new(body).poll_frame(cx),
            ProxyBody::Local(body) => {
                return Pin::new(body)
                    .poll_frame(cx)
                    .map(|frame| frame.map(|result| result.map_err(|never| match never {})))
            }
        };
        match &frame {
            Poll::Ready(None) => this.ended(),
            Poll::Ready(Some(Ok(_))) if this.is_end_stream() => this.ended(),
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Target { body, .. } => body.is_end_stream(),
            ProxyBody::Local(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Target { body, .. } => body.size_hint(),
            ProxyBody::Local(body) => body.size_hint(),
        }
    }
}
