//! The proxy: a listener accepts requests, a rule picks the target group, the group picks a
//! healthy target, and the request is forwarded over a pooled keep-alive HTTP/1.1 connection.
//! Clients speak HTTP/1.1 or HTTP/2 (by ALPN on HTTPS listeners, by prior knowledge on plain
//! ones). Status codes follow ALB: 503 without a healthy target, 502 when the target fails,
//! 504 when it does not answer in time. WebSocket upgrades are passed through and hold their
//! target until they close, so a drain waits for them too. On plain listeners the simple
//! HTTP/1.1 requests most traffic is made of are forwarded by [`crate::h1`] without hyper;
//! the first other request hands the connection to hyper.
//!
//! Every listener serves on one set of threads its owner starts once ([`Workers`]), so that
//! dozens of listeners cost no more threads or target connection pools than one: one
//! acceptor, which no busy control plane can delay, and one worker per core, on which a
//! connection and its target connections stay. The workers belong to no listener, so each
//! connection carries its listener's routes, timeouts, port and TLS acceptor to the worker;
//! stopping a listener closes its port, and what it already accepted is served to its end.

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
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
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
        let group = route(&routes.rules, routes.default.as_ref(), host, path)?;
        let lease = group.pick();
        if lease.is_none() {
            group.no_healthy_target();
        }
        lease
    }
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

    /// Serves plain-text HTTP/1.1 (and HTTP/2 with prior knowledge) from `socket` on
    /// `workers` until the future is dropped, which closes the port; connections already
    /// accepted are served on until they end.
    pub async fn serve(self, socket: TcpListener, workers: Workers) {
        self.run(socket, None, workers).await
    }

    /// Serves HTTPS from `socket` until the future is dropped: TLS with `tls` (see
    /// [`crate::tls::server_config`]), then HTTP/2 or HTTP/1.1 as ALPN chose. Threads and
    /// stopping as for [`Listener::serve`].
    pub async fn serve_tls(
        self,
        socket: TcpListener,
        tls: Arc<rustls::ServerConfig>,
        workers: Workers,
    ) {
        self.run(socket, Some(TlsAcceptor::from(tls)), workers)
            .await
    }

    async fn run(self, socket: TcpListener, tls: Option<TlsAcceptor>, workers: Workers) {
        let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
        let listener = Arc::new(ListenerState {
            routes: self.routes,
            request_timeout: self.request_timeout,
            idle_timeout: self.idle_timeout,
            port: HeaderValue::from(port),
            proto: HeaderValue::from_static(if tls.is_some() { "https" } else { "http" }),
            tls,
        });
        let socket = match socket.into_std() {
            Ok(socket) => socket,
            Err(e) => {
                tracing::error!(error = %e, "cannot hand a listener to the acceptor");
                return;
            }
        };
        let accepting = workers.0.acceptor.handle.spawn(accept(
            socket,
            listener,
            Arc::clone(&workers.0.workers),
        ));
        // Dropping this future drops the guard, which ends the accept loop and with it the
        // socket it owns.
        let mut accepting = StopOnDrop(accepting);
        let _ = (&mut accepting.0).await;
    }
}

/// Binds a listener's port on `addr`. The kernel queues connections from this moment on, so
/// a port bound before its listener is served (as CreateListener does) loses none of them.
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, DataPlaneError> {
    std::net::TcpListener::bind(addr).map_err(|source| DataPlaneError::Bind { addr, source })
}

/// What a listener's connections need of it, handed to the worker with each connection: the
/// workers serve every listener, so they hold nothing of any one.
struct ListenerState {
    routes: Arc<RwLock<Routes>>,
    request_timeout: Duration,
    idle_timeout: IdleTimeout,
    /// `X-Forwarded-Port` and `-Proto`, made once rather than per connection.
    port: HeaderValue,
    proto: HeaderValue,
    tls: Option<TlsAcceptor>,
}

/// Ends a task when dropped.
struct StopOnDrop(JoinHandle<()>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The proxy's threads, shared by every listener served on them: one acceptor and one worker
/// per core, each a single-threaded tokio runtime. The acceptor runs on a thread of its own
/// so that a busy runtime of the owner's (the control plane shares it in `berth up`) never
/// keeps a client waiting for its connection to be taken. Each worker has its own pools of
/// target connections, the way nginx runs a worker process per core, so a connection and its
/// target connections never change threads: crossing threads cost a third more CPU per
/// request on tokio's work-stealing runtime (see bench/README.md). Shared, the threads and
/// pools stay at one per core however many listeners there are, and a target behind several
/// listeners is reached over one set of kept-alive connections per worker.
///
/// Clones share the threads. They end, and with them every connection still open on them,
/// once every clone is dropped, those the listeners serving on them hold included.
#[derive(Clone)]
pub struct Workers(Arc<Threads>);

struct Threads {
    acceptor: Thread,
    /// Held by every accept loop too, so that connections can be handed over for as long as
    /// a loop runs.
    workers: Arc<WorkerThreads>,
}

struct WorkerThreads {
    threads: Vec<(Thread, Arc<Worker>)>,
    /// Whose turn the next connection is.
    next: AtomicUsize,
}

impl Workers {
    /// One worker per core, as the proxy runs when serving.
    pub fn one_per_core() -> Result<Self, DataPlaneError> {
        let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        Self::start(cores)
    }

    /// `count` worker threads and the acceptor's.
    pub fn start(count: NonZeroUsize) -> Result<Self, DataPlaneError> {
        let mut threads = Vec::with_capacity(count.get());
        for index in 0..count.get() {
            let thread = Thread::start(format!("berth-lb-{index}"))?;
            thread.handle.spawn(keep_next_timer_near());
            threads.push((thread, Worker::new()));
        }
        Ok(Self(Arc::new(Threads {
            acceptor: Thread::start("berth-lb-accept".into())?,
            workers: Arc::new(WorkerThreads {
                threads,
                next: AtomicUsize::new(0),
            }),
        })))
    }
}

impl WorkerThreads {
    /// Hands `stream`, accepted by `listener`, to the next worker in turn, which serves it
    /// to its end.
    fn hand_over(&self, stream: TcpStream, peer: SocketAddr, listener: Arc<ListenerState>) {
        // The stream leaves the acceptor's reactor and joins the worker's.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "cannot hand a client connection to a worker");
                return;
            }
        };
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        let (thread, worker) = &self.threads[turn];
        let worker = Arc::clone(worker);
        thread.handle.spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => worker.serve(listener, stream, peer).await,
                Err(e) => tracing::debug!(error = %e, "cannot register a client connection"),
            }
        });
    }
}

/// A single-threaded tokio runtime on a thread of its own. The runtime, and every task still
/// on it, ends when this is dropped.
struct Thread {
    handle: tokio::runtime::Handle,
    _stop: oneshot::Sender<()>,
}

impl Thread {
    fn start(name: String) -> Result<Self, DataPlaneError> {
        let failed = |source| DataPlaneError::ProxyThread {
            thread: name.clone(),
            source,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (started, handle) = std::sync::mpsc::sync_channel(1);
        // The runtime is built on its own thread, so that it is also dropped there: dropping
        // a runtime on one of the caller's async threads would panic.
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => {
                        let _ = started.send(Ok(runtime.handle().clone()));
                        let _ = runtime.block_on(stopped);
                    }
                    Err(e) => {
                        let _ = started.send(Err(e));
                    }
                }
            })
            .map_err(failed)?;
        let handle = handle
            .recv()
            .map_err(|_| failed(std::io::Error::other("the thread ended as it started")))?
            .map_err(failed)?;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }
}

/// Takes connections off `socket` and hands each to a worker, until the task is aborted.
async fn accept(
    socket: std::net::TcpListener,
    listener: Arc<ListenerState>,
    workers: Arc<WorkerThreads>,
) {
    let socket = match TcpListener::from_std(socket) {
        Ok(socket) => socket,
        Err(e) => {
            tracing::error!(error = %e, "cannot register a listener with the acceptor");
            return;
        }
    };
    loop {
        match socket.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                workers.hand_over(stream, peer, Arc::clone(&listener));
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

/// Serves connections, of any listener, on the thread it was handed to, with that thread's
/// target connections.
struct Worker {
    /// Target connections for the requests hyper serves.
    pool: Arc<Pool<Sender>>,
    /// Target connections for the requests [`h1`] forwards itself.
    streams: Pool<TcpStream>,
    server: auto::Builder<TokioExecutor>,
}

impl Worker {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            pool: Arc::new(Pool::new()),
            streams: Pool::new(),
            // HTTP/1.1 and HTTP/2 on one port: the auto builder reads the first bytes and
            // serves HTTP/2 when they are its connection preface.
            server: auto::Builder::new(TokioExecutor::new()),
        })
    }

    async fn serve(
        self: Arc<Self>,
        listener: Arc<ListenerState>,
        stream: TcpStream,
        peer: SocketAddr,
    ) {
        let activity = Arc::new(Activity::default());
        // The TLS handshake runs on the idle-timed stream too, so a client that never
        // finishes it is dropped like any idle one.
        let idle_timeout = listener.idle_timeout.get();
        let mut io = IdleIo::new(stream, idle_timeout, Arc::clone(&activity));
        let connection = Connection {
            peer: HeaderValue::try_from(peer.ip().to_string())
                .expect("an IP address is a valid header value"),
            activity,
            worker: Arc::clone(&self),
            listener: Arc::clone(&listener),
        };
        match &listener.tls {
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
                        port: listener.port.as_bytes(),
                        proto: listener.proto.as_bytes(),
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
    listener: Arc<ListenerState>,
    peer: HeaderValue,
    activity: Arc<Activity>,
}

impl Connection {
    async fn forward(&self, mut request: Request<Incoming>) -> Response<ProxyBody> {
        let connection = self;
        let listener = &self.listener;
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
        headers.insert(X_FORWARDED_PROTO, connection.listener.proto.clone());
        headers.insert(X_FORWARDED_PORT, connection.listener.port.clone());
        if upgrade {
            return self.upgrade(request, lease).await;
        }
        let pool = &self.worker.pool;
        let sent = Instant::now();
        match tokio::time::timeout(listener.request_timeout, pool.send(target, request)).await {
            Err(_) => {
                lease.elb(TARGET_TIMED_OUT.0.as_u16());
                status(TARGET_TIMED_OUT)
            }
            Ok(Err(e)) => {
                tracing::debug!(%target, error = %e, "target failed");
                lease.elb(TARGET_FAILED.0.as_u16());
                status(TARGET_FAILED)
            }
            Ok(Ok((mut response, sender))) => {
                lease.answered(response.status().as_u16(), sent.elapsed());
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
        let timeout = self.listener.request_timeout;
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
