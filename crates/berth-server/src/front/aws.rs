//! One AWS API request, from the socket to its answer: route it to its API (by
//! `X-Amz-Target`, or by a form's `Version`), read the body, check the signature for that
//! API, decode the action's typed request, run it where its access says, and write the
//! answer or the error in the protocol the request spoke.

use super::body::{Body, Events};
use super::shared::{Front, MAX_BODY_BYTES};
use super::writer::Write;
use crate::call::{Caller, Changes};
use crate::keys;
use crate::metrics::Outcome;
use crate::registry::{Access, Input, Output, Prepared, Service};
use berth_aws::route::{self, Head, Wire};
use berth_aws::{json, query, sigv4, xml, AwsError};
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use std::cell::RefCell;
use std::sync::Arc;

/// A fault of the server's own before any API saw the request.
fn internal(message: impl Into<String>) -> AwsError {
    AwsError::with_status("InternalFailure", message, 500)
}

pub(super) async fn answer(front: &Arc<Front>, request: Request<Incoming>) -> Response<Body> {
    let request_id = berth_aws::request_id();
    let (parts, body) = request.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let head = Head {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        content_type: header(CONTENT_TYPE.as_str()),
        target: header("x-amz-target"),
        authorization: header(AUTHORIZATION.as_str()),
    };
    let arrived = std::time::Instant::now();
    let (wire, action, result, counted) = run(front, &parts, &head, body).await;
    if let Err(error) = &result {
        if error.is_server_fault() {
            tracing::error!(%request_id, code = %error.code, message = %error.message, "request failed");
        }
    }
    let response = respond(wire, &action, result, request_id);
    front.cx.metrics().api_request(
        counted.api,
        counted.action,
        Outcome::from_status(response.status().as_u16()),
        arrived.elapsed().as_secs_f64(),
    );
    response
}

/// Runs a request. Returns the wire to answer on, the action (for the query protocol's
/// answer element), the outcome, and the API and action to count it under.
async fn run(
    front: &Arc<Front>,
    parts: &Parts,
    head: &Head<'_>,
    body: Incoming,
) -> (Wire, String, Result<Output, AwsError>, Counted) {
    let unrouted = Counted {
        api: UNKNOWN,
        action: UNKNOWN,
    };
    let early = route::wire_of(head);
    let body = match read_body(parts, body).await {
        Ok(body) => body,
        Err(problem) => {
            return (
                early,
                String::new(),
                Err(early.malformed(problem)),
                unrouted,
            )
        }
    };
    let routed = match route::route(front.registry.specs(), head, &body) {
        Ok(routed) => routed,
        Err(refusal) => return (refusal.wire, String::new(), Err(refusal.error), unrouted),
    };
    let wire = routed.wire;
    let service = front.registry.service(routed.service);
    let now = berth_time::now();
    let counted = |action: &str| Counted {
        api: service.spec.name,
        action: service.action(action).map_or(UNKNOWN, |a| a.name),
    };
    let caller = match authenticate(front, parts, &body, service.spec.signing_name, wire, now) {
        Ok(caller) => caller,
        Err(error) => return (wire, String::new(), Err(error), counted("")),
    };
    // The query protocol names its action in the body, read only now that the signature
    // is checked.
    let form;
    let (action, input) = match routed.action {
        Some(action) => (action, Input::Json(&body)),
        None => {
            form = match query::parse(&body) {
                Ok(form) => form,
                Err(problem) => {
                    return (
                        wire,
                        String::new(),
                        Err(wire.malformed(problem.to_string())),
                        counted(""),
                    )
                }
            };
            if let Err(error) = check_query(service, &form) {
                return (wire, form.action.clone(), Err(error), counted(""));
            }
            (form.action.clone(), Input::Query(&form.params))
        }
    };
    let result = match prepare(service, wire, &action, input) {
        Ok((access, prepared)) => execute(front, access, prepared, caller, now).await,
        Err(error) => Err(error),
    };
    let counted = counted(&action);
    (wire, action, result, counted)
}

/// What `/metrics` counts a request under: names from the API table only, so a client
/// cannot make labels up.
struct Counted {
    api: &'static str,
    action: &'static str,
}

const UNKNOWN: &str = "unknown";

/// A query request's `Action` and `Version`, checked against its API.
fn check_query(service: &Service, form: &query::Request) -> Result<(), AwsError> {
    let Some(api) = service.spec.query else {
        return Err(internal("a query request was routed to an API without one"));
    };
    if form.action.is_empty() {
        return Err(AwsError::new(
            "MissingAction",
            format!(
                "the request names no Action (send Action=<Operation>&Version={})",
                api.version
            ),
        ));
    }
    match form.version.as_deref() {
        Some(version) if version != api.version => Err(AwsError::new(
            "NoSuchVersion",
            format!(
                "Version: Berth answers {} version {}, not {version}",
                service.spec.name, api.version
            ),
        )),
        _ => Ok(()),
    }
}

/// Finds the action and decodes its typed request.
fn prepare(
    service: &Service,
    wire: Wire,
    action: &str,
    input: Input<'_>,
) -> Result<(Access, Prepared), AwsError> {
    let Some(found) = service.action(action) else {
        return Err(wire.unknown_action(format!(
            "unknown {} operation {action}; Berth answers {}",
            service.spec.name,
            service.action_names()
        )));
    };
    Ok((found.access, found.prepare(input)?))
}

/// Runs a prepared request where its access says.
async fn execute(
    front: &Arc<Front>,
    access: Access,
    prepared: Prepared,
    caller: Caller,
    now: f64,
) -> Result<Output, AwsError> {
    match access {
        Access::Read => front
            .cx
            .call(&caller, now, &Changes::default(), |call| prepared(call)),
        Access::LongRead | Access::OwnStore => {
            let front = Arc::clone(front);
            tokio::task::spawn_blocking(move || {
                front
                    .cx
                    .call(&caller, now, &Changes::default(), |call| prepared(call))
            })
            .await
            .map_err(|e| internal(format!("request handler failed: {e}")))?
        }
        // Writes wait for their commit's fsync: they are queued for the writer, which answers
        // every write that queued up meanwhile with one commit, off the runtime workers.
        Access::Write => {
            let (reply, answer) = tokio::sync::oneshot::channel();
            front.writes.submit(Write {
                prepared: Some(prepared),
                caller,
                now,
                reply,
            });
            answer
                .await
                .map_err(|_| internal("the write was dropped unanswered"))?
        }
    }
}

/// Reads a request's body, refusing one over [`MAX_BODY_BYTES`].
async fn read_body(parts: &Parts, body: Incoming) -> Result<Bytes, String> {
    let too_large =
        || format!("request body is larger than the {MAX_BODY_BYTES}-byte limit Berth accepts");
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                format!("could not read the request body: {e}")
            }
        })
}

/// Verifies the request's signature for `service` against the stored access keys. Only the
/// headers verification reads are copied for it. Reading the (cached) key is cheap enough
/// for the runtime worker.
fn authenticate(
    front: &Front,
    parts: &Parts,
    body: &[u8],
    service: &str,
    wire: Wire,
    now: f64,
) -> Result<Caller, AwsError> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let read = sigv4::HeadersRead::new(header(AUTHORIZATION.as_str()));
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(name, _)| read.includes(name.as_str()))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let signed = sigv4::RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body,
    };
    let mut lookup_failure = None;
    let verified = sigv4::verify(&signed, service, now as i64, |id| {
        match keys::find(front.cx.store().as_ref(), id) {
            Ok(key) => key.map(|k| k.secret_access_key),
            Err(e) => {
                lookup_failure = Some(e);
                None
            }
        }
    });
    if let Some(e) = lookup_failure {
        return Err(internal(format!("could not read access keys: {e}")));
    }
    let verified = verified.map_err(|e| wire.auth_error(&e))?;
    Ok(Caller {
        access_key_id: verified.access_key_id,
    })
}

fn respond(
    wire: Wire,
    action: &str,
    result: Result<Output, AwsError>,
    request_id: String,
) -> Response<Body> {
    let result = match result {
        Ok(Output::Events(events)) if matches!(wire, Wire::Json(_)) => {
            let mut response = Response::new(Either::Right(Events(events)));
            let headers = response.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.amazon.eventstream"),
            );
            if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(request_id)) {
                headers.insert("x-amzn-requestid", value);
            }
            return response;
        }
        other => other,
    };
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err(error) => {
            StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    let body = match (wire, result) {
        (Wire::Json(_), Ok(Output::Value(value))) => encode(&value),
        (Wire::Json(_), Ok(Output::Json(text))) => Bytes::from(text),
        // Answered above; the query protocol's `into_value` refuses them.
        (Wire::Json(_), Ok(Output::Events(_))) => encode(&json::error_body(&internal(
            "an event stream was not answered as one",
        ))),
        (Wire::Json(_), Err(error)) => encode(&json::error_body(&error)),
        (Wire::Query { namespace }, Ok(output)) => match output.into_value() {
            Ok(value) => Bytes::from(xml::response(
                action,
                namespace.unwrap_or_default(),
                &value,
                &request_id,
            )),
            Err(error) => Bytes::from(xml::error(namespace, &error, &request_id)),
        },
        (Wire::Query { namespace }, Err(error)) => {
            Bytes::from(xml::error(namespace, &error, &request_id))
        }
    };
    let length = HeaderValue::from(body.len());
    let mut response = Response::new(Either::Left(Full::new(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(wire.content_type()));
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
pub(super) fn encode(answer: &Value) -> Bytes {
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

/// An answer as sent: AWS leaves out top-level members it has no value for; botocore
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
