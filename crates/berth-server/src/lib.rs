//! The Berth control plane: the ECS API on the wire over a [`berth_store::Store`].
//!
//! A request goes `protocol` (HTTP → action and body) → `sigv4` (who signed it) → `api`
//! (decode, validate, read and write the store) → ECS-shaped JSON. ELBv2 requests (form
//! bodies) go `elbv2::query` → `sigv4` → `elbv2` → XML over the same store, and `balancer`
//! makes the load balancer's data plane follow what they store. Only `http` touches
//! sockets; everything before it is tested without one.

#![forbid(unsafe_code)]

pub mod agent_endpoint;
pub mod api;
pub mod balancer;
pub mod elbv2;
pub mod http;
pub mod keys;
pub mod protocol;
pub mod server;
