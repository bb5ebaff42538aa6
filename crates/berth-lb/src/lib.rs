//! Berth's load balancer data plane: listeners with ALB-style rules, target groups with
//! health checks and round-robin or least-outstanding-requests routing, and draining that
//! ends as soon as a target's last request does.
//!
//! Pure decisions live apart from sockets: `rules` (which group), `health` (state machine
//! and matcher) and the picking inside `group` are tested without I/O; `checker`, `proxy`
//! and `h1` (the plain HTTP/1.1 requests the proxy forwards without hyper) do the
//! networking. This crate knows nothing of the store or the container runtime.
//!
//! What can fail returns [`DataPlaneError`]: one type, so a caller passes a certificate's or a
//! port's problem on to its user without knowing which module found it.

#![forbid(unsafe_code)]

pub mod checker;
mod error;
pub mod group;
mod h1;
pub mod health;
mod idle;
mod pool;
pub mod proxy;
pub mod rules;
pub mod tls;

pub use error::DataPlaneError;
