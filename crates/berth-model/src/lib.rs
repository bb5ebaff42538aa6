//! ECS-shaped resources and the rules that govern them, with no I/O.
//!
//! Everything here mirrors botocore's ECS service model (`ecs/2014-11-13/service-2.json`):
//! field names, optionality and the exception names errors carry. Types Berth acts on are
//! typed precisely; nested shapes Berth only stores are kept as JSON objects so that every
//! member a client sends round-trips unchanged. This crate must not depend on tokio, a store
//! or a runtime: the API layer, the reconciler and the CLI all share it.

#![forbid(unsafe_code)]

pub mod agent;
pub mod arn;
pub mod awslogs;
pub mod error;
pub mod requests;
pub mod resources;
pub mod sources;
pub mod status;
pub mod validate;

pub use arn::Arns;
pub use error::{ApiError, ErrorKind};
