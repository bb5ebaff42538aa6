//! When each agent was last heard from: whether a container instance's agent is connected,
//! whether the server has heard a report of every task it holds since the server started,
//! and whether its loss has been told.
//!
//! Kept in memory. The server's own start counts as a sighting of every agent, so a
//! restarted server gives each its cluster's `lost_after` to poll again before anything is
//! decided about it (agents poll every few seconds; they keep their tasks meanwhile).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[derive(Clone)]
pub struct Presence(Arc<Mutex<Agents>>);

struct Agents {
    /// When the server started: every agent's sighting until it polls.
    started_at: f64,
    by_instance: HashMap<String, Agent>,
}

#[derive(Default)]
struct Agent {
    seen_at: f64,
    /// It has reported every task it holds since the server started.
    synced: bool,
    /// Its loss was told (logged and put in its services' events); cleared when it returns.
    lost_told: bool,
}

impl Presence {
    pub fn new(started_at: f64) -> Self {
        Self(Arc::new(Mutex::new(Agents {
            started_at,
            by_instance: HashMap::new(),
        })))
    }

    fn agents(&self) -> MutexGuard<'_, Agents> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The agent of `instance_id` was heard from. Returns whether it had been told lost.
    pub fn seen(&self, instance_id: &str, now: f64) -> bool {
        let mut agents = self.agents();
        let agent = agents
            .by_instance
            .entry(instance_id.to_string())
            .or_default();
        agent.seen_at = agent.seen_at.max(now);
        std::mem::take(&mut agent.lost_told)
    }

    /// When the agent was last heard from (the server's start, if not since).
    fn last_seen(&self, instance_id: &str) -> f64 {
        let agents = self.agents();
        agents
            .by_instance
            .get(instance_id)
            .map_or(agents.started_at, |a| a.seen_at.max(agents.started_at))
    }

    /// Heard from within `lost_after` seconds.
    pub fn connected(&self, instance_id: &str, now: f64, lost_after: u64) -> bool {
        now - self.last_seen(instance_id) <= lost_after as f64
    }

    /// Whether the agent has reported every task it holds since the server started.
    pub fn synced(&self, instance_id: &str) -> bool {
        self.agents()
            .by_instance
            .get(instance_id)
            .is_some_and(|a| a.synced)
    }

    pub fn mark_synced(&self, instance_id: &str) {
        if let Some(agent) = self.agents().by_instance.get_mut(instance_id) {
            agent.synced = true;
        }
    }

    /// Whether the server started less than `lost_after` ago: agents that have not polled
    /// since may still be on their way back.
    pub fn starting(&self, now: f64, lost_after: u64) -> bool {
        now - self.agents().started_at <= lost_after as f64
    }

    /// Forgets a deregistered instance: one registered again under its id starts afresh.
    pub fn forget(&self, instance_id: &str) {
        self.agents().by_instance.remove(instance_id);
    }

    /// Records that the loss of the agent of `instance_id` is being told; returns false
    /// when it already was since it was last heard from.
    pub fn tell_lost(&self, instance_id: &str) -> bool {
        let mut agents = self.agents();
        let started_at = agents.started_at;
        let agent = agents
            .by_instance
            .entry(instance_id.to_string())
            .or_insert_with(|| Agent {
                seen_at: started_at,
                ..Agent::default()
            });
        !std::mem::replace(&mut agent.lost_told, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_is_connected_for_lost_after_seconds_after_each_poll() {
        let presence = Presence::new(0.0);
        presence.seen("i-1", 100.0);
        assert!(presence.connected("i-1", 120.0, 20));
        assert!(!presence.connected("i-1", 120.1, 20));
        assert!(presence.connected("i-1", 120.1, 30));
        assert_eq!(presence.last_seen("i-1"), 100.0);
    }

    #[test]
    fn the_server_start_counts_as_a_sighting_of_every_agent() {
        let presence = Presence::new(500.0);
        assert!(presence.connected("i-2", 515.0, 20));
        assert!(!presence.connected("i-2", 521.0, 20));
        assert!(presence.starting(519.0, 20) && !presence.starting(521.0, 20));
        assert!(!presence.synced("i-2"));
        presence.seen("i-2", 530.0);
        presence.mark_synced("i-2");
        assert!(presence.synced("i-2"));
    }

    #[test]
    fn a_loss_is_told_once_until_the_agent_returns() {
        let presence = Presence::new(0.0);
        presence.seen("i-1", 10.0);
        assert!(presence.tell_lost("i-1"));
        assert!(!presence.tell_lost("i-1"));
        assert!(
            presence.seen("i-1", 50.0),
            "the return says it had been lost"
        );
        assert!(!presence.seen("i-1", 52.0));
        assert!(presence.tell_lost("i-1"));
    }
}
