//! The load balancer's data plane as handlers and the controller see it: the live state of
//! targets, and the ports listeners bind. [`crate::control::balancer::Balancer`] is the
//! real one; [`FakeDataPlane`] stands in for it in tests; [`Unbalanced`] is the view of a
//! process that runs no load balancer at all (tools that only open the store).

use berth_lb::health::State;
use berth_lb::DataPlaneError;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A target's state in its group and ALB's reason code for it.
pub type TargetState = (State, Option<&'static str>);

pub trait DataPlane: Send + Sync {
    /// `target`'s state in the group, or `None` when the group does not hold it: never
    /// registered, or deregistered and drained.
    fn target_state(&self, target_group_arn: &str, target: SocketAddr) -> Option<TargetState> {
        let held: Vec<_> = self
            .target_health(target_group_arn)
            .into_iter()
            .filter(|(addr, _, _)| *addr == target)
            .collect();
        // An address registered again while its old registration drains is the new one.
        held.iter()
            .find(|(_, state, _)| *state != State::Draining)
            .or(held.first())
            .map(|(_, state, reason)| (*state, *reason))
    }

    /// Every target of a group with its live state and reason, draining ones included.
    fn target_health(
        &self,
        target_group_arn: &str,
    ) -> Vec<(SocketAddr, State, Option<&'static str>)>;

    /// Binds `port` for a listener about to be stored, so that a port in use fails the call
    /// that asks for it and the socket queues connections from the moment the call returns.
    fn reserve_port(&self, port: u16) -> Result<(), DataPlaneError>;

    /// The `DNSName` of every load balancer.
    fn dns_name(&self) -> String;
}

/// No load balancer runs: no group holds anything, so stops go straight to their signal;
/// ports are not bound.
pub struct Unbalanced;

impl DataPlane for Unbalanced {
    fn target_health(&self, _: &str) -> Vec<(SocketAddr, State, Option<&'static str>)> {
        Vec::new()
    }

    fn reserve_port(&self, _: u16) -> Result<(), DataPlaneError> {
        Ok(())
    }

    fn dns_name(&self) -> String {
        "localhost".into()
    }
}

/// A data plane whose targets a test moves by hand. Ports listed as taken refuse to be
/// reserved, as a port another process holds would.
#[derive(Default)]
pub struct FakeDataPlane {
    targets: Mutex<HashMap<String, Vec<(SocketAddr, State)>>>,
    reserved: Mutex<BTreeSet<u16>>,
    taken: Mutex<BTreeSet<u16>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeDataPlane {
    /// Puts `target` in the group in `state`, or moves it there.
    pub fn set(&self, target_group_arn: &str, target: SocketAddr, state: State) {
        let mut targets = lock(&self.targets);
        let group = targets.entry(target_group_arn.to_string()).or_default();
        match group.iter_mut().find(|(addr, _)| *addr == target) {
            Some(held) => held.1 = state,
            None => group.push((target, state)),
        }
    }

    /// Takes `target` out of the group, as the end of its drain does.
    pub fn remove(&self, target_group_arn: &str, target: SocketAddr) {
        if let Some(group) = lock(&self.targets).get_mut(target_group_arn) {
            group.retain(|(addr, _)| *addr != target);
        }
    }

    /// Every (group, target, state) held.
    pub fn targets(&self) -> Vec<(String, SocketAddr, State)> {
        lock(&self.targets)
            .iter()
            .flat_map(|(group, targets)| {
                targets
                    .iter()
                    .map(move |(addr, state)| (group.clone(), *addr, *state))
            })
            .collect()
    }

    /// Makes reserving `port` fail from now on.
    pub fn take_port(&self, port: u16) {
        lock(&self.taken).insert(port);
    }

    /// The ports reserved so far.
    pub fn reserved(&self) -> Vec<u16> {
        lock(&self.reserved).iter().copied().collect()
    }
}

impl DataPlane for FakeDataPlane {
    fn target_health(
        &self,
        target_group_arn: &str,
    ) -> Vec<(SocketAddr, State, Option<&'static str>)> {
        lock(&self.targets)
            .get(target_group_arn)
            .map(|targets| {
                targets
                    .iter()
                    .map(|(addr, state)| (*addr, *state, None))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn reserve_port(&self, port: u16) -> Result<(), DataPlaneError> {
        if lock(&self.taken).contains(&port) {
            return Err(DataPlaneError::Bind {
                addr: SocketAddr::from(([0, 0, 0, 0], port)),
                source: std::io::ErrorKind::AddrInUse.into(),
            });
        }
        lock(&self.reserved).insert(port);
        Ok(())
    }

    fn dns_name(&self) -> String {
        "berth.test".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_target_registered_again_while_draining_is_its_new_registration() {
        let plane = FakeDataPlane::default();
        assert_eq!(plane.target_state("tg", addr(1)), None);
        plane.set("tg", addr(1), State::Draining);
        assert_eq!(
            plane.target_state("tg", addr(1)),
            Some((State::Draining, None))
        );
        let mut targets = lock(&plane.targets);
        targets
            .get_mut("tg")
            .unwrap()
            .push((addr(1), State::Initial));
        drop(targets);
        assert_eq!(
            plane.target_state("tg", addr(1)),
            Some((State::Initial, None))
        );
        plane.remove("tg", addr(1));
        assert_eq!(plane.target_state("tg", addr(1)), None);
    }

    #[test]
    fn taken_ports_refuse_to_be_reserved() {
        let plane = FakeDataPlane::default();
        plane.take_port(80);
        assert!(plane.reserve_port(80).is_err());
        plane.reserve_port(8080).unwrap();
        assert_eq!(plane.reserved(), [8080]);
    }
}
