//! The Berth control plane: every AWS API Berth answers, over a [`berth_store::Store`], and
//! the loops that make the machines and the load balancer follow what is stored.
//!
//! - `apis` lists the APIs Berth answers, each one module (`ecs`, `elbv2`) that declares its
//!   actions in `registry`'s terms. An API module imports neither the front nor the control
//!   loop.
//! - `call` is everything a handler may use (the store, the time, ids, the agents'
//!   presence, the `data_plane`); `wake` rings the bells its writes concern.
//! - `front` is the only code that touches sockets: it routes, authenticates (with `keys`)
//!   and answers requests, and serves the agent protocol.
//! - `control` holds the controller and the load balancer driver.
//! - `server` puts them together for `berth server` and `berth up`; `local` calls the APIs
//!   in-process, as `berth up` and the tests do.

#![forbid(unsafe_code)]

pub mod apis;
pub mod autoscaling;
pub mod berth_api;
pub mod call;
pub mod cloudwatch;
pub mod control;
pub mod data_plane;
pub mod ecs;
pub mod elbv2;
pub mod eventbridge;
pub mod front;
pub mod json_api;
pub mod keys;
pub mod local;
pub mod logs;
pub mod output_requests;
pub mod presence;
pub mod prometheus;
pub mod registry;
pub mod schedules;
pub mod secret_changes;
pub mod secretsmanager;
pub mod server;
pub mod ssm;
pub mod task_logs;
pub mod task_secrets;
pub mod usage;
pub mod wake;
