//! What every connection shares.

use super::ingest::Ingest;
use super::writer::WriteQueue;
use crate::call::Context;
use crate::registry::Registry;
use std::sync::Arc;

/// The largest request body Berth reads. The largest legitimate request, a task definition
/// with ten containers each near the model's limits, stays well below it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct Front {
    pub(super) cx: Arc<Context>,
    pub(super) registry: Registry,
    pub(super) writes: Arc<WriteQueue>,
    pub(super) ingest: Ingest,
}

impl Front {
    pub fn new(cx: Arc<Context>, registry: Registry) -> Self {
        Self {
            writes: Arc::new(WriteQueue::new(Arc::clone(&cx))),
            ingest: Ingest::start(Arc::clone(&cx)),
            cx,
            registry,
        }
    }
}
