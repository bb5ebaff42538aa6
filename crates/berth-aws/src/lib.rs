//! The AWS wire protocols, with no AWS service in them: how a request is signed (SigV4),
//! which API it is for and how its input travels (JSON 1.0 and 1.1 with `X-Amz-Target`, the
//! query protocol's form bodies, `smithy-rpc-v2-cbor`'s CBOR), and how answers, errors,
//! request ids and paging tokens go back.
//!
//! Berth answers several AWS APIs on one endpoint. Each API (in `berth-server`) declares a
//! [`route::ServiceSpec`] — its signing name, target prefix or query version — and its
//! actions; everything they share lives here, so a new API is a table of actions and not
//! another copy of the protocol. Nothing here does I/O or reads a clock: the HTTP front hands
//! in the request's parts and the time.

#![forbid(unsafe_code)]

pub mod cbor;
mod error;
pub mod eventstream;
pub mod json;
pub mod paging;
pub mod query;
pub mod route;
pub mod sigv4;
pub mod xml;

pub use error::AwsError;
pub use route::{Head, QueryApi, Refusal, Route, ServiceSpec, Wire};

/// A fresh request id for the `x-amzn-requestid` header: a random UUID, as AWS's are. Drawn
/// from the thread's generator: one per request, so it must not cost a system call.
pub fn request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}
