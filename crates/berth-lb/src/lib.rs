//! Berth's load balancer data plane: listeners with ALB-style rules, target groups with
//! health checks and round-robin or least-outstanding-requests routing, and draining that
//! ends as soon as a target's last request does.
//!
//! Its owner states what it wants and the data plane works out the steps: a target group is
//! handed the whole set of targets it should have and registers and drains to match, so the
//! owner keeps no record of its own that could disagree with the group's; listeners are
//! handed the proxy threads to serve on, so their number does not multiply the threads.
//!
//! Pure decisions live apart from sockets: `rules` (which group), `health` (state machine
//! and matcher) and the picking and target diffing inside `group` are tested without I/O; `checker`, `proxy`
//! and `h1` (the plain HTTP/1.1 requests the proxy forwards without hyper) do the
//! networking. This crate knows nothing of the store or the container runtime.
//!
//! What can fail returns [`DataPlaneError`]: one type, so a caller passes a certificate's or a
//! port's problem on to its user without knowing which module found it.

#![forbid(unsafe_code)]

pub mod checker;
pub mod counts;
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
