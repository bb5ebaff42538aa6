//! How Berth's own programs reach a Berth server. `endpoint` is the connection: plain TCP for
//! `http://`, TLS trusting only the CA it is given for `https://`; agents speak their protocol
//! over it. `aws` is a client of the AWS APIs the server answers, signed as an SDK signs, for
//! `berth logs` and the API benchmark.

#![forbid(unsafe_code)]

pub mod aws;
pub mod endpoint;
