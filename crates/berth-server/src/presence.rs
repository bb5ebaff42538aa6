//! When each agent last polled: whether a container instance has an agent connected.
//!
//! Kept in memory: after a server restart every agent polls again within its wait, so
//! nothing needs to persist.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How long after its last poll an agent still counts as connected.
pub const CONNECTED_FOR_SECONDS: f64 = 30.0;

#[derive(Clone, Default)]
pub struct Presence(Arc<Mutex<HashMap<String, f64>>>);

impl Presence {
    fn seen_at(&self) -> MutexGuard<'_, HashMap<String, f64>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn seen(&self, instance_id: &str, now: f64) {
        self.seen_at().insert(instance_id.to_string(), now);
    }

    pub fn connected(&self, instance_id: &str, now: f64) -> bool {
        self.seen_at()
            .get(instance_id)
            .is_some_and(|seen| now - seen <= CONNECTED_FOR_SECONDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_is_connected_for_a_while_after_each_poll() {
        let presence = Presence::default();
        assert!(!presence.connected("i-1", 100.0));
        presence.seen("i-1", 100.0);
        assert!(presence.connected("i-1", 100.0 + CONNECTED_FOR_SECONDS));
        assert!(!presence.connected("i-1", 100.1 + CONNECTED_FOR_SECONDS));
        assert!(!presence.connected("i-2", 100.0));
    }
}
