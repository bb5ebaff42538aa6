//! The HTTP front: reads a request, checks protocol and signature, runs the action and writes
//! the answer. Reads run on the runtime worker itself; writes, which wait for a commit to
//! reach the disk, go to a writer that commits them in batches ([`WriteQueue`]).

use crate::api::{Api, Caller, Reply};
use crate::balancer::Balancer;
use crate::{elbv2, keys, protocol};
use berth_aws::sigv4;
use berth_model::{ApiError, ErrorKind};
use berth_store::Store;
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// What every connection shares.
pub struct Shared {
    pub api: Api,
    pub store: Arc<dyn Store>,
    /// Bumped on every write that may change what agents or the controller should do, so
    /// long polls answer at once instead of at their deadline.
    pub changes: tokio::sync::watch::Sender<u64>,
    /// The load balancer's data plane, which follows the stored ELBv2 configuration.
    pub balancer: Arc<Balancer>,
}

impl Shared {
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
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
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, std::convert::Infallible>(answer(&shared, request).await) }
            });
            // Half-closes are allowed: a client that shuts down its sending side after a
            // request still gets the answer. It also keeps hyper from probing the socket for
            // an early EOF while each request is answered, a read that costs a system call
            // and, since the request still borrows the read buffer, a fresh buffer per request.
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .half_close(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

async fn answer(shared: &Arc<Shared>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = crate::api::request_id();
    if elbv2_request(&request) {
        return answer_elbv2(shared, request, request_id).await;
    }
    let result = if request
        .uri()
        .path()
        .starts_with(crate::agent_endpoint::PREFIX)
    {
        crate::agent_endpoint::answer(shared, request)
            .await
            .map(Reply::Value)
    } else {
        run(shared, request).await
    };
    let (status, body) = match result {
        Ok(reply) => (StatusCode::OK, reply),
        Err(error) => {
            if error.kind == ErrorKind::ServerException {
                tracing::error!(%request_id, message = %error.message, "request failed");
            }
            let status = StatusCode::from_u16(error.kind.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, Reply::Value(protocol::error_body(&error)))
        }
    };
    let body = match body {
        Reply::Value(value) => encode(&value),
        Reply::Json(text) => Bytes::from(text),
    };
    let length = HeaderValue::from(body.len());
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    headers.insert(CONTENT_LENGTH, length);
    if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(request_id)) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

/// How much room answers are written into at a time (see [`encode`]).
const ANSWER_ROOM: usize = 64 * 1024;

thread_local! {
    /// Where this thread writes answers.
    static ANSWERS: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// An answer's JSON text. Answers are written one after another into a buffer of
/// [`ANSWER_ROOM`] bytes that they share until sent, and `reserve` reuses it once all of them
/// are gone: one allocation per many answers instead of a large one (and the allocator's
/// consolidation it sets off) per answer.
fn encode(answer: &Value) -> Bytes {
    ANSWERS.with_borrow_mut(|buffer| {
        if buffer.capacity() < ANSWER_ROOM / 16 {
            buffer.reserve(ANSWER_ROOM);
        }
        // Written straight into the buffer (`to_string` would go through `fmt`).
        serde_json::to_writer((&mut *buffer).writer(), &WithoutNulls(answer))
            .expect("JSON values serialize");
        buffer.split().freeze()
    })
}

/// An answer as sent: ECS leaves out top-level members it has no value for; botocore
/// accepts either, tools expect that.
struct WithoutNulls<'a>(&'a Value);

impl serde::Serialize for WithoutNulls<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => serializer.collect_map(map.iter().filter(|(_, v)| !v.is_null())),
            other => other.serialize(serializer),
        }
    }
}

/// Whether an action only reads the store.
fn reads_only(action: &str) -> bool {
    action.starts_with("Describe") || action.starts_with("List")
}

/// Whether a read is answered on the runtime worker that read the request. Reads take tens
/// of microseconds and never wait for an fsync; moving them to a blocking thread costs more in
/// thread wake-ups than the read itself. The exceptions read every revision of a task
/// definition family (to find the latest, or to list them), which grows without bound as
/// revisions are registered: those run on the blocking pool, so that a long history cannot
/// hold up the workers.
fn runs_inline(action: &str) -> bool {
    reads_only(action) && !action.contains("TaskDefinition")
}

/// One request, read off the socket, ready to be authenticated and answered.
struct Received {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

/// Whether a request speaks the AWS query protocol (ELBv2): a form body and no
/// `X-Amz-Target`. Everything else is answered as ECS, whose errors explain what it expects.
fn elbv2_request(request: &Request<Incoming>) -> bool {
    let headers = request.headers();
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    form && !headers.contains_key("x-amz-target")
}

async fn answer_elbv2(
    shared: &Arc<Shared>,
    request: Request<Incoming>,
    request_id: String,
) -> Response<Full<Bytes>> {
    let (action, result) = match run_elbv2(shared, request).await {
        Ok((action, result)) => (action, Ok(result)),
        Err(error) => (String::new(), Err(error)),
    };
    let (status, body) = match result {
        Ok(result) => (
            StatusCode::OK,
            elbv2::xml::response(&action, &result, &request_id),
        ),
        Err(error) => {
            if error.status >= 500 {
                tracing::error!(%request_id, message = %error.message, "request failed");
            }
            let status =
                StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, elbv2::xml::error(&error, &request_id))
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(request_id)) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

/// An ELBv2 request: read, authenticated for `elasticloadbalancing`, decoded, then answered
/// inline (Describe*) or by the writer, like an ECS request. Returns the action and result.
async fn run_elbv2(
    shared: &Arc<Shared>,
    request: Request<Incoming>,
) -> Result<(String, Value), elbv2::Error> {
    let (parts, body) = request.into_parts();
    if parts.method != hyper::Method::POST || parts.uri.path() != "/" {
        return Err(elbv2::Error::new(
            "InvalidAction",
            format!(
                "{} {} is not an ELBv2 call; ELBv2 calls are POST / with a form body",
                parts.method,
                parts.uri.path()
            ),
        ));
    }
    let (caller, body, now) = receive(shared, &parts, body, elbv2::SIGNING_NAME).await?;
    let request = elbv2::query::parse(&body)?;
    let action = request.action.clone();
    if elbv2::reads_only(&action) {
        let result = elbv2::handle(&shared.api, &shared.balancer, &request, &caller, now)?;
        return Ok((action, result));
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    submit(
        shared,
        Write {
            job: Job::Elbv2 { request, reply },
            caller,
            now,
        },
    );
    let result = answer
        .await
        .map_err(|_| elbv2::Error::internal("the write was dropped unanswered"))??;
    Ok((action, result))
}

async fn run(shared: &Arc<Shared>, request: Request<Incoming>) -> Result<Reply, ApiError> {
    let (parts, body) = request.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let ecs = protocol::parse(parts.method.as_str(), parts.uri.path(), header)?;
    let (caller, body, now) = receive(shared, &parts, body, "ecs").await?;
    let action = ecs.action;
    if runs_inline(&action) {
        return shared.api.reply(&action, &body, &caller, now);
    }
    if reads_only(&action) {
        let shared = Arc::clone(shared);
        return tokio::task::spawn_blocking(move || shared.api.reply(&action, &body, &caller, now))
            .await
            .map_err(|e| ApiError::server(format!("request handler failed: {e}")))?;
    }
    // Writes wait for their commit's fsync: they are queued for the writer, which answers
    // every write that queued up meanwhile with one commit, off the runtime workers.
    let (reply, answer) = tokio::sync::oneshot::channel();
    submit(
        shared,
        Write {
            job: Job::Ecs {
                action,
                body,
                reply,
            },
            caller,
            now,
        },
    );
    answer
        .await
        .map_err(|_| ApiError::server("the write was dropped unanswered"))?
        .map(Reply::Value)
}

/// Reads a request's body and verifies its signature for `service`. Returns the caller, the
/// body and the time the request is handled at.
async fn receive(
    shared: &Arc<Shared>,
    parts: &hyper::http::request::Parts,
    body: Incoming,
    service: &str,
) -> Result<(Caller, Bytes, f64), ApiError> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let declared_length = header(CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<usize>().ok());
    if declared_length.is_some_and(|length| length > protocol::MAX_BODY_BYTES) {
        return Err(protocol::body_too_large());
    }
    let body = Limited::new(body, protocol::MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                protocol::body_too_large()
            } else {
                ApiError::client(format!("could not read the request body: {e}"))
            }
        })?
        .to_bytes();
    // Only the headers verification reads are copied for it.
    let read = sigv4::HeadersRead::new(header(AUTHORIZATION.as_str()));
    let received = Received {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .filter(|(name, _)| read.includes(name.as_str()))
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
            .collect(),
        body,
    };
    // Authentication reads one (cached) access key: cheap enough for the runtime worker.
    let now = now_seconds();
    let caller = authenticate(shared, &received, service, now)?;
    Ok((caller, received.body, now))
}

/// Verifies the request's signature against the stored access keys.
fn authenticate(
    shared: &Shared,
    request: &Received,
    service: &str,
    now: f64,
) -> Result<Caller, ApiError> {
    let signed = sigv4::RequestParts {
        method: &request.method,
        path: &request.path,
        query: &request.query,
        headers: &request.headers,
        body: &request.body,
    };
    let mut lookup_failure = None;
    let verified = sigv4::verify(&signed, service, now as i64, |id| {
        match keys::find(shared.store.as_ref(), id) {
            Ok(key) => key.map(|k| k.secret_access_key),
            Err(e) => {
                lookup_failure = Some(e);
                None
            }
        }
    });
    if let Some(e) = lookup_failure {
        return Err(ApiError::server(format!("could not read access keys: {e}")));
    }
    let verified = verified.map_err(auth_error)?;
    Ok(Caller {
        access_key_id: verified.access_key_id,
    })
}

/// The most writes answered with one commit.
const MAX_BATCH: usize = 256;
/// A batch takes no further writes once its handlers have run this long, so that a write
/// waits for at most about this much of others' work before its commit.
const MAX_BATCH_TIME: std::time::Duration = std::time::Duration::from_millis(5);

/// An authenticated write request waiting for the writer.
struct Write {
    job: Job,
    caller: Caller,
    now: f64,
}

/// A write's action, in its API's terms, and where its answer goes.
enum Job {
    Ecs {
        action: String,
        body: Bytes,
        reply: tokio::sync::oneshot::Sender<Result<Value, ApiError>>,
    },
    Elbv2 {
        request: elbv2::query::Request,
        reply: tokio::sync::oneshot::Sender<Result<Value, elbv2::Error>>,
    },
}

/// What a write's handler answered.
enum Answer {
    Ecs(Result<Value, ApiError>),
    Elbv2(Result<Value, elbv2::Error>),
}

impl Write {
    fn run(&self, shared: &Shared) -> Answer {
        let failed = || ApiError::server("request handler failed");
        match &self.job {
            Job::Ecs { action, body, .. } => Answer::Ecs(
                catch_unwind(AssertUnwindSafe(|| {
                    shared.api.handle(action, body, &self.caller, self.now)
                }))
                .unwrap_or_else(|_| Err(failed())),
            ),
            Job::Elbv2 { request, .. } => Answer::Elbv2(
                catch_unwind(AssertUnwindSafe(|| {
                    elbv2::handle(
                        &shared.api,
                        &shared.balancer,
                        request,
                        &self.caller,
                        self.now,
                    )
                }))
                .unwrap_or_else(|_| Err(failed().into())),
            ),
        }
    }

    /// Sends the answer once its batch is committed (or failed). Returns whether it succeeded.
    fn reply(self, answer: Answer, committed: &Result<(), berth_store::StoreError>) -> bool {
        // Nothing the batch wrote is kept, whatever its handlers answered.
        let failure =
            |e: &berth_store::StoreError| ApiError::server(format!("internal store failure: {e}"));
        match (self.job, answer) {
            (Job::Ecs { reply, .. }, Answer::Ecs(answer)) => {
                let answer = committed.as_ref().map_err(failure).and(answer);
                let ok = answer.is_ok();
                let _ = reply.send(answer);
                ok
            }
            (Job::Elbv2 { reply, .. }, Answer::Elbv2(answer)) => {
                let answer = committed
                    .as_ref()
                    .map_err(|e| elbv2::Error::from(failure(e)))
                    .and(answer);
                let ok = answer.is_ok();
                let _ = reply.send(answer);
                ok
            }
            // `run` answers every job in its own API's terms.
            _ => false,
        }
    }
}

/// Write requests waiting to be run, and whether a writer is running them. One per [`Api`].
///
/// A single writer (a blocking thread while there is work) takes the waiting writes, runs
/// their handlers one after another in one [`Store::batch`], and answers them all once that
/// batch is committed: each write still gets its 200 only after it is durable, but the fsync
/// is shared, and the handlers run without the lock hand-offs and thread wake-ups of one
/// blocking thread per request. Writes that arrive meanwhile wait for the next batch.
///
/// The handlers of a batch run one at a time inside its open transaction, so one slow write
/// handler (one that reads a long history) delays the others in its batch.
#[derive(Default)]
pub struct WriteQueue {
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    waiting: Vec<Write>,
    running: bool,
}

impl WriteQueue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn submit(shared: &Arc<Shared>, write: Write) {
    let queue = shared.api.write_queue();
    let start = {
        let mut state = queue.lock();
        state.waiting.push(write);
        !std::mem::replace(&mut state.running, true)
    };
    if start {
        let shared = Arc::clone(shared);
        tokio::task::spawn_blocking(move || run_writes(&shared));
    }
}

/// The writer: runs batches until no write is waiting.
fn run_writes(shared: &Shared) {
    let queue = shared.api.write_queue();
    // Should the writer itself panic, the next write starts another, and the writes it held
    // are answered (as failed) when dropped.
    struct OnPanic<'q>(&'q WriteQueue);
    impl Drop for OnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.lock().running = false;
            }
        }
    }
    let _on_panic = OnPanic(queue);
    loop {
        let mut writes: Vec<Write> = {
            let mut state = queue.lock();
            if state.waiting.is_empty() {
                state.running = false;
                return;
            }
            let take = state.waiting.len().min(MAX_BATCH);
            state.waiting.drain(..take).collect()
        };
        let mut answers = Vec::with_capacity(writes.len());
        let started = std::time::Instant::now();
        let committed = shared.store.batch(&mut || {
            for write in &writes {
                if !answers.is_empty() && started.elapsed() > MAX_BATCH_TIME {
                    break;
                }
                answers.push(write.run(shared));
            }
        });
        // What the batch had no time for goes first into the next one.
        let later = writes.split_off(answers.len());
        if !later.is_empty() {
            let mut state = queue.lock();
            let arrived = std::mem::replace(&mut state.waiting, later);
            state.waiting.extend(arrived);
        }
        let mut changed = false;
        for (write, answer) in writes.into_iter().zip(answers) {
            changed |= write.reply(answer, &committed);
        }
        if changed {
            shared.changed();
        }
    }
}

fn auth_error(error: sigv4::AuthError) -> ApiError {
    let kind = match error.aws_type() {
        "MissingAuthenticationTokenException" => ErrorKind::MissingAuthenticationTokenException,
        "IncompleteSignatureException" => ErrorKind::IncompleteSignatureException,
        "UnrecognizedClientException" => ErrorKind::UnrecognizedClientException,
        _ => ErrorKind::InvalidSignatureException,
    };
    ApiError::new(kind, error.to_string())
}
