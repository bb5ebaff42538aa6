//! The proxy against real backends on loopback, one test binary for all listeners.

mod common;
mod https;
mod plain;
mod wire;
