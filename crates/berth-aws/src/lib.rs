//! The AWS wire protocols, with no AWS service in them: how a request is signed (SigV4),
//! how an action and its input travel (JSON 1.0 and 1.1 with `X-Amz-Target`, the query
//! protocol's form bodies) and how answers, errors, request ids and paging tokens go back.
//!
//! Berth answers several AWS APIs on one endpoint. Each API (in `berth-server`) declares
//! its signing name, protocol and actions; everything they share lives here, so a new API
//! is a table of actions and not another copy of the protocol. Nothing here does I/O or
//! reads a clock: the HTTP front hands in the request's parts and the time.

pub mod sigv4;
