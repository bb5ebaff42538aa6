//! One AWS API request, from the socket to its answer: route it to its API (by
//! `X-Amz-Target`, or by a form's `Version`), read the body, check the signature for that
//! API, decode the action's typed request, run it where its access says, and write the
//! answer or the error in the protocol the request spoke.

use super::body::{Body, Events};
use super::shared::{Front, MAX_BODY_BYTES};
use super::writer::Write;
use crate::call::{Caller, Changes};
use crate::keys;
use crate::prometheus::Outcome;
use crate::registry::{Access, Input, Output, Prepared, Service};
use berth_aws::route::{self, Head, Wire};
use berth_aws::{json, query, sigv4, xml, AwsError};
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use std::cell::RefCell;
use std::io::Read;
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
    let (answer, result) = run(front, &parts, &head, body).await;
    if let Err(error) = &result {
        if error.is_server_fault() {
            tracing::error!(%request_id, code = %error.code, message = %error.message, "request failed");
        }
    }
    let response = respond(&answer, result, request_id);
    front.cx.prometheus().api_request(
        answer.counted_api,
        answer.counted_action,
        Outcome::from_status(response.status().as_u16()),
        arrived.elapsed().as_secs_f64(),
    );
    response
}

/// How a request is answered, whatever its outcome.
struct Answer {
    wire: Wire,
    /// The action, for the query protocol's answer element.
    action: String,
    /// Whether the API it reached is query-compatible ([`berth_aws::ServiceSpec`]).
    query_compatible: bool,
    /// What `/metrics` counts the request under: names from the API table only, so a client
    /// cannot make labels up.
    counted_api: &'static str,
    counted_action: &'static str,
}

const UNKNOWN: &str = "unknown";

/// Runs a request: how to answer it, and the outcome.
async fn run(
    front: &Arc<Front>,
    parts: &Parts,
    head: &Head<'_>,
    body: Incoming,
) -> (Answer, Result<Output, AwsError>) {
    let early = route::wire_of(head);
    let mut answer = Answer {
        wire: early,
        action: String::new(),
        query_compatible: false,
        counted_api: UNKNOWN,
        counted_action: UNKNOWN,
    };
    let body = match read_body(parts, body).await {
        Ok(body) => body,
        Err(problem) => return (answer, Err(early.malformed(problem))),
    };
    let routed = match route::route(front.registry.specs(), head, &body) {
        Ok(routed) => routed,
        Err(refusal) => {
            answer.wire = refusal.wire;
            return (answer, Err(refusal.error));
        }
    };
    let wire = routed.wire;
    answer.wire = wire;
    let service = front.registry.service(routed.service);
    answer.query_compatible = service.spec.query_compatible;
    answer.counted_api = service.spec.name;
    let now = berth_time::now();
    let caller = match authenticate(front, parts, &body, service.spec.signing_name, wire, now) {
        Ok(caller) => caller,
        Err(error) => return (answer, Err(error)),
    };
    // A compressed body is signed as sent, and read once the signature is checked.
    let body = match decompress(parts, body) {
        Ok(body) => body,
        Err(problem) => return (answer, Err(wire.malformed(problem))),
    };
    // The query protocol names its action in the body, read only now that the signature
    // is checked.
    let form;
    let cbor;
    let (action, input) = match routed.action {
        Some(action) if wire == Wire::Cbor => {
            cbor = match berth_aws::cbor::decode(&body) {
                Ok(value) => value,
                Err(problem) => return (answer, Err(wire.malformed(problem))),
            };
            (action, Input::Cbor(&cbor))
        }
        Some(action) => (action, Input::Json(&body)),
        None => {
            form = match query::parse(&body) {
                Ok(form) => form,
                Err(problem) => return (answer, Err(wire.malformed(problem.to_string()))),
            };
            answer.action = form.action.clone();
            if let Err(error) = check_query(service, &form) {
                return (answer, Err(error));
            }
            (form.action.clone(), Input::Query(&form.params))
        }
    };
    let result = match prepare(service, wire, &action, input) {
        Ok((access, prepared)) => match execute(front, access, prepared, caller, now).await {
            // Dropped, with whatever it waits for, if the client goes away meanwhile.
            Ok(Output::Later(later)) => later.0.await.map(Output::Value),
            other => other,
        },
        Err(error) => Err(error),
    };
    answer.counted_action = service.action(&action).map_or(UNKNOWN, |a| a.name);
    answer.action = action;
    (answer, result)
}

/// The body as its sender meant it: gunzipped when `Content-Encoding` says gzip (botocore
/// compresses large PutMetricData bodies), and no larger than [`MAX_BODY_BYTES`] either way.
fn decompress(parts: &Parts, body: Bytes) -> Result<Bytes, String> {
    let encoding = parts
        .headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        return Ok(body);
    }
    if !encoding.eq_ignore_ascii_case("gzip") {
        return Err(format!(
            "Content-Encoding {encoding:?} is not supported; send gzip or an uncompressed body"
        ));
    }
    let mut out = Vec::new();
    let read = flate2::read::GzDecoder::new(body.as_ref())
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("the gzip-compressed body cannot be read: {e}"))?;
    if read > MAX_BODY_BYTES {
        return Err(format!(
            "the request body is larger than the {MAX_BODY_BYTES}-byte limit Berth accepts once uncompressed"
        ));
    }
    Ok(Bytes::from(out))
}

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
    answer: &Answer,
    result: Result<Output, AwsError>,
    request_id: String,
) -> Response<Body> {
    let wire = answer.wire;
    let action = answer.action.as_str();
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
    let query_error = match (&result, wire) {
        (Err(error), Wire::Json(_) | Wire::Cbor) if answer.query_compatible => {
            HeaderValue::from_str(&json::query_error_header(error)).ok()
        }
        _ => None,
    };
    let body = match (wire, result) {
        (Wire::Json(_), Ok(Output::Value(value))) => encode(&value),
        (Wire::Json(_), Ok(Output::Json(text))) => Bytes::from(text),
        // Answered above, and awaited in `run`; the query protocol's `into_value` refuses
        // them.
        (Wire::Json(_), Ok(Output::Events(_))) => encode(&json::error_body(&internal(
            "an event stream was not answered as one",
        ))),
        (Wire::Json(_), Ok(Output::Later(_))) => encode(&json::error_body(&internal(
            "a later answer was not awaited",
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
        (Wire::Cbor, Ok(output)) => match output.into_value() {
            Ok(value) => Bytes::from(berth_aws::cbor::encode(&value)),
            Err(error) => Bytes::from(berth_aws::cbor::encode(&json::error_body(&error))),
        },
        (Wire::Cbor, Err(error)) => Bytes::from(berth_aws::cbor::encode(&json::error_body(&error))),
    };
    let length = HeaderValue::from(body.len());
    let mut response = Response::new(Either::Left(Full::new(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(wire.content_type()));
    headers.insert(CONTENT_LENGTH, length);
    if let Some(value) = query_error {
        headers.insert("x-amzn-query-error", value);
    }
    if wire == Wire::Cbor {
        headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    }
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
    encode_serialized(&WithoutNulls(answer))
}

/// [`encode`] straight from a type that serializes itself (the agent protocol's answers),
/// without building a [`Value`] first; its `None` members are written as `null`.
pub(super) fn encode_serialized<T: serde::Serialize>(answer: &T) -> Bytes {
    ANSWERS.with_borrow_mut(|buffer| {
        if buffer.capacity() < ANSWER_ROOM / 16 {
            buffer.reserve(ANSWER_ROOM);
        }
        // Written straight into the buffer (`to_string` would go through `fmt`).
        serde_json::to_writer((&mut *buffer).writer(), answer).expect("answers serialize");
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
