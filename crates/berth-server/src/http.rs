//! The HTTP front: reads a request, checks protocol and signature, runs the action on a
//! blocking thread (store calls block) and writes the answer.

use crate::api::{Api, Caller};
use crate::{keys, protocol, sigv4};
use berth_model::{ApiError, ErrorKind};
use berth_store::Store;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// What every connection shares.
pub struct Shared {
    pub api: Api,
    pub store: Arc<dyn Store>,
    /// Bumped on every write that may change what agents or the controller should do, so
    /// long polls answer at once instead of at their deadline.
    pub changes: tokio::sync::watch::Sender<u64>,
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
            if let Err(e) = hyper::server::conn::http1::Builder::new()
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
    let result = if request
        .uri()
        .path()
        .starts_with(crate::agent_endpoint::PREFIX)
    {
        crate::agent_endpoint::answer(shared, request).await
    } else {
        run(shared, request).await
    };
    let (status, body) = match result {
        Ok(value) => (StatusCode::OK, without_nulls(value)),
        Err(error) => {
            if error.kind == ErrorKind::ServerException {
                tracing::error!(%request_id, message = %error.message, "request failed");
            }
            let status = StatusCode::from_u16(error.kind.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, protocol::error_body(&error))
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

/// ECS leaves out members it has no value for; botocore accepts either, tools expect that.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

async fn run(shared: &Arc<Shared>, request: Request<Incoming>) -> Result<Value, ApiError> {
    let (parts, body) = request.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let ecs = protocol::parse(parts.method.as_str(), parts.uri.path(), header)?;
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
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let method = parts.method.to_string();
    let shared = Arc::clone(shared);
    tokio::task::spawn_blocking(move || {
        let now = now_seconds();
        let signed = sigv4::RequestParts {
            method: &method,
            path: &path,
            query: &query,
            headers: &headers,
            body: &body,
        };
        let mut lookup_failure = None;
        let verified = sigv4::verify(&signed, "ecs", now as i64, |id| {
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
        let caller = Caller {
            access_key_id: verified.access_key_id,
        };
        let answer = shared.api.handle(&ecs.action, &body, &caller, now);
        if answer.is_ok() && !ecs.action.starts_with("Describe") && !ecs.action.starts_with("List")
        {
            shared.changed();
        }
        answer
    })
    .await
    .map_err(|e| ApiError::server(format!("request handler failed: {e}")))?
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
