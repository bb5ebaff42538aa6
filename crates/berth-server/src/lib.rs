//! The Berth control plane: the ECS API on the wire over a [`berth_store::Store`].
//!
//! A request goes `protocol` (HTTP → action and body) → `sigv4` (who signed it) → `api`
//! (decode, validate, read and write the store) → ECS-shaped JSON. Only `http` touches
//! sockets; everything before it is tested without one.

pub mod agent_endpoint;
pub mod api;
pub mod http;
pub mod keys;
pub mod protocol;
pub mod server;
pub mod sigv4;
