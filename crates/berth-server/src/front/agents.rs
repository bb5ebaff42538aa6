//! HTTP endpoints of the agent protocol: `POST /agent/v1/register`, `POST /agent/v1/poll`,
//! `POST /agent/v1/logs`, `POST /agent/v1/output` and `POST /agent/v1/usage` (kept in memory,
//! [`crate::usage`]).
//! A poll answers at once when the agent's view is out of date or a reader waits for output
//! that only its machine keeps, and otherwise is held open until a write to the tasks placed
//! on its machine is published, or a reader asks for such output (or its wait ends): every
//! other agent stays asleep. An agent that keeps its set (`keepsUnchanged`) and holds the
//! current one is answered with its version alone (`unchanged`).

use super::aws::{encode, encode_serialized};
use super::ingest::decode;
use super::shared::{Front, MAX_BODY_BYTES};
use crate::ecs::agents;
use berth_model::agent::{
    OutputAnswer, PollRequest, PollResponse, RegisterRequest, UsageReport, UsageResponse,
    OUTPUT_PAGE_BYTES,
};
use berth_model::arn::{self, ResourceRef};
use berth_model::resources::Task;
use berth_model::{ApiError, ErrorKind};
use berth_store::Collection;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub const PREFIX: &str = "/agent/v1/";

/// How large a shipment of container output may be: agents send at most 1 MiB of messages
/// at a time, which JSON's escapes can make several times larger.
const MAX_LOGS_BODY_BYTES: usize = 8 << 20;

/// How large a page of container output may be: its lines' bytes (a page ends at the line that
/// reaches [`OUTPUT_PAGE_BYTES`], itself cut to that size), with JSON's escapes.
const MAX_OUTPUT_BODY_BYTES: usize = 2 * OUTPUT_PAGE_BYTES * 6 + MAX_BODY_BYTES;

/// How large a poll may be: at most [`berth_model::agent::MAX_REPORTS_PER_POLL`] task
/// reports, each a few KiB at most (its containers' names, reasons and port bindings).
const MAX_POLL_BODY_BYTES: usize = 16 << 20;

/// The longest a poll is held open; agents ask for less, and a poll is also a heartbeat.
const MAX_WAIT_SECONDS: u64 = 25;

pub(super) async fn answer(
    front: &Arc<Front>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (status, body) = match run(front, request).await {
        Ok(body) => (StatusCode::OK, body),
        Err(error) => {
            // The agent logs the answer too; both say what to do.
            if error.kind == ErrorKind::ServerException {
                tracing::error!(message = %error.message, "agent request failed");
            } else {
                tracing::warn!(error = error.kind.name(), message = %error.message, "agent request refused");
            }
            (
                StatusCode::from_u16(error.kind.status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                encode(&json!({"__type": error.kind.name(), "message": error.message})),
            )
        }
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response
}

fn bearer(request: &Request<Incoming>) -> Result<String, ApiError> {
    request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::MissingAuthenticationTokenException,
                "missing Authorization: Bearer header",
            )
        })
}

async fn body<T: serde::de::DeserializeOwned>(
    request: Request<Incoming>,
    limit: usize,
) -> Result<T, ApiError> {
    decode(&bytes(request, limit).await?)
}

async fn bytes(request: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    Ok(Limited::new(request.into_body(), limit)
        .collect()
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorKind::SerializationException,
                format!("request body is larger than the {limit}-byte limit Berth accepts"),
            )
        })?
        .to_bytes())
}

/// Runs `work` as the server on the blocking pool; its writes are published when it ends.
async fn blocking<R: Send + 'static>(
    front: &Arc<Front>,
    work: impl FnOnce(&crate::call::Call<'_>) -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    let front = Arc::clone(front);
    tokio::task::spawn_blocking(move || front.cx.as_system(berth_time::now(), work))
        .await
        .map_err(|e| ApiError::server(format!("agent request failed: {e}")))?
}

/// The cluster a container instance ARN names: the poll watches its machine's bell there.
fn cluster_of(instance_arn: &str) -> Option<String> {
    match arn::parse(instance_arn) {
        Some(ResourceRef::ContainerInstance {
            cluster: Some(cluster),
            ..
        }) => Some(cluster),
        _ => None,
    }
}

/// What the wait of a poll needs to know of it.
struct PollFacts {
    instance: String,
    known: Option<String>,
    keeps_unchanged: bool,
    wait: Duration,
}

async fn run(front: &Arc<Front>, request: Request<Incoming>) -> Result<Bytes, ApiError> {
    let path = request.uri().path().trim_start_matches(PREFIX).to_string();
    if request.method() != hyper::Method::POST {
        return Err(ApiError::new(
            ErrorKind::UnknownOperationException,
            "agent calls are POST",
        ));
    }
    let key = bearer(&request)?;
    match path.as_str() {
        "register" => {
            let register: RegisterRequest = body(request, MAX_BODY_BYTES).await?;
            let response =
                blocking(front, move |call| agents::register(call, &register, &key)).await?;
            Ok(encode_serialized(&response))
        }
        "poll" => {
            // Decoded on the blocking pool with the rest of the poll's first step: a poll's
            // reports can be large, and the runtime's workers answer the API's reads.
            let body = bytes(request, MAX_POLL_BODY_BYTES).await?;
            let readers = Arc::clone(front.cx.output_requests());
            let wakes = Arc::clone(front.cx.wakes());
            let (facts, mut changes, mut asked, record, first) = blocking(front, move |call| {
                let poll: PollRequest = decode(&body)?;
                let cluster = cluster_of(&poll.container_instance_arn).ok_or_else(|| {
                    ApiError::new(
                        ErrorKind::AccessDeniedException,
                        "unknown container instance; register the agent again",
                    )
                })?;
                // Watched before the first read, so that no write between the two is missed.
                let changes =
                    wakes.machine(&cluster, arn::resource_id(&poll.container_instance_arn));
                let asked = call.output_requests().bell(&poll.container_instance_arn);
                let facts = PollFacts {
                    instance: poll.container_instance_arn.clone(),
                    // A later page is answered at once.
                    known: poll
                        .known_version
                        .clone()
                        .filter(|_| poll.page_after.is_none()),
                    keeps_unchanged: poll.keeps_unchanged,
                    wait: Duration::from_secs(poll.wait_seconds.min(MAX_WAIT_SECONDS)),
                };
                let (record, first) = agents::poll(call, &poll, &key)?;
                Ok((facts, changes, asked, record, first))
            })
            .await?;
            let PollFacts {
                instance,
                known,
                keeps_unchanged,
                wait,
            } = facts;
            let mut current: PollResponse = first;
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                asked.mark_unchanged();
                current.output_requests = readers.take(&instance);
                if known.as_deref() != Some(current.version.as_str())
                    || !current.output_requests.is_empty()
                {
                    break;
                }
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let record = record.clone();
                        let known = known.clone().filter(|_| keeps_unchanged);
                        current = blocking(front, move |call| {
                            agents::desired(call, &record, None, known.as_deref())
                        })
                        .await?;
                    }
                    asked_again = asked.changed() => {
                        if asked_again.is_err() {
                            break;
                        }
                    }
                    () = tokio::time::sleep_until(deadline) => break,
                }
            }
            Ok(encode_serialized(&current))
        }
        "usage" => {
            let body = bytes(request, MAX_BODY_BYTES).await?;
            let kept = blocking(front, move |call| {
                let report: UsageReport = decode(&body)?;
                let record = agents::authenticate(call, &report.container_instance_arn, &key)?;
                let instance = &record.instance.container_instance_arn;
                call.usage().record(call.now(), instance, &report, |arn| {
                    Ok::<_, ApiError>(call.get::<Task>(Collection::Tasks, arn::resource_id(arn))?)
                })
            })
            .await?;
            Ok(encode_serialized(&UsageResponse { kept }))
        }
        "logs" => {
            let shipment = bytes(request, MAX_LOGS_BODY_BYTES).await?;
            let kept = front.ingest.submit(shipment, key).await?;
            Ok(encode_serialized(&kept))
        }
        "output" => {
            let answer: OutputAnswer = body(request, MAX_OUTPUT_BODY_BYTES).await?;
            let instance = answer.container_instance_arn.clone();
            blocking(front, move |call| {
                agents::authenticate(call, &instance, &key).map(drop)
            })
            .await?;
            // A reader that gave up meanwhile is no error of the agent's.
            let handed = front.cx.output_requests().answer(
                &answer.container_instance_arn,
                answer.request_id,
                answer.result,
            );
            Ok(encode(&json!({ "handed": handed })))
        }
        other => Err(ApiError::new(
            ErrorKind::UnknownOperationException,
            format!("unknown agent call {other:?}"),
        )),
    }
}
