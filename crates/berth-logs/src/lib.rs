//! Berth's logs: the CloudWatch Logs filter-pattern language ([`filter`]) and the log store
//! ([`store`]), which keeps log groups, streams and events apart from the state store, so
//! that a burst of logging never slows the ECS API or the controller.

#![forbid(unsafe_code)]

pub mod filter;
pub mod store;
