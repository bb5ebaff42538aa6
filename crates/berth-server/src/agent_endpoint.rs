//! HTTP endpoints of the agent protocol: `POST /agent/v1/register` and `POST /agent/v1/poll`.

use crate::api::agents;
use crate::http::{now_seconds, Shared};
use berth_model::agent::{PollRequest, PollResponse, RegisterRequest};
use berth_model::{ApiError, ErrorKind};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::Request;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub const PREFIX: &str = "/agent/v1/";

/// The longest a poll is held open; agents ask for less, and a poll is also a heartbeat.
const MAX_WAIT_SECONDS: u64 = 25;

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

async fn body<T: serde::de::DeserializeOwned>(request: Request<Incoming>) -> Result<T, ApiError> {
    let bytes = Limited::new(request.into_body(), crate::protocol::MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|_| crate::protocol::body_too_large())?
        .to_bytes();
    berth_model::requests::decode(&bytes)
}

async fn blocking<R: Send + 'static>(
    shared: &Arc<Shared>,
    work: impl FnOnce(&Shared) -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    let shared = Arc::clone(shared);
    tokio::task::spawn_blocking(move || work(&shared))
        .await
        .map_err(|e| ApiError::server(format!("agent request failed: {e}")))?
}

pub async fn answer(shared: &Arc<Shared>, request: Request<Incoming>) -> Result<Value, ApiError> {
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
            let register: RegisterRequest = body(request).await?;
            let response = blocking(shared, move |s| {
                s.api.as_system(now_seconds(), |call| {
                    agents::register(call, &register, &key)
                })
            })
            .await?;
            shared.changed();
            Ok(serde_json::to_value(response).expect("response serializes"))
        }
        "poll" => {
            let poll: PollRequest = body(request).await?;
            let mut changes = shared.changes.subscribe();
            let known = poll.known_version.clone();
            let wait = Duration::from_secs(poll.wait_seconds.min(MAX_WAIT_SECONDS));
            let (record, first, reported_change) = blocking(shared, move |s| {
                s.api.as_system(now_seconds(), |call| {
                    let record = agents::authenticate(call, &poll.container_instance_arn, &key)?;
                    let changed = agents::apply_reports(call, &record, &poll.reports)?;
                    let desired = agents::desired(call, &record)?;
                    Ok((record, desired, changed))
                })
            })
            .await?;
            if reported_change {
                shared.changed();
            }
            let mut current: PollResponse = first;
            let deadline = tokio::time::Instant::now() + wait;
            while known.as_deref() == Some(current.version.as_str()) {
                if tokio::time::timeout_at(deadline, changes.changed())
                    .await
                    .is_err()
                {
                    break;
                }
                let record = record.clone();
                current = blocking(shared, move |s| {
                    s.api
                        .as_system(now_seconds(), |call| agents::desired(call, &record))
                })
                .await?;
            }
            Ok(serde_json::to_value(current).expect("response serializes"))
        }
        other => Err(ApiError::new(
            ErrorKind::UnknownOperationException,
            format!("unknown agent call {other:?}"),
        )),
    }
}
