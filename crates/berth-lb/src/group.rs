//! A target group: its targets, their health, how requests are spread over them, and how a
//! target leaves — drained of its in-flight requests, then removed.

use crate::health::{HealthCheck, Outcome, State, Tracker};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RoundRobin,
    LeastOutstandingRequests,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub health_check: HealthCheck,
    pub algorithm: Algorithm,
    /// The longest a deregistered target is kept for in-flight requests to finish (ALB's
    /// `deregistration_delay.timeout_seconds`). The drain ends as soon as none are left.
    pub deregistration_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            health_check: HealthCheck::default(),
            algorithm: Algorithm::RoundRobin,
            deregistration_delay: Duration::from_secs(300),
        }
    }
}

pub struct Target {
    pub addr: SocketAddr,
    health: Mutex<Tracker>,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Target {
    pub fn state(&self) -> (State, Option<&'static str>) {
        let tracker = self.health.lock().unwrap_or_else(|p| p.into_inner());
        (tracker.state, tracker.reason)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// A request's hold on a target; dropping it (when the response, or the upgraded
/// connection, ends) lets a drain finish.
pub struct Lease(Arc<Target>);

impl Lease {
    pub fn addr(&self) -> SocketAddr {
        self.0.addr
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[derive(Default)]
pub struct TargetGroup {
    settings: Mutex<Settings>,
    targets: Mutex<Vec<Arc<Target>>>,
    next: AtomicUsize,
    /// Woken when a target is added, so that its health checks start at once.
    added: Notify,
}

impl TargetGroup {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings: Mutex::new(settings),
            ..Self::default()
        }
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_settings(&self, settings: Settings) {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    fn targets(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Target>>> {
        self.targets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a target in `initial`: it gets traffic once its health checks pass.
    pub fn register(&self, addr: SocketAddr) {
        let mut targets = self.targets();
        if targets
            .iter()
            .any(|t| t.addr == addr && t.state().0 != State::Draining)
        {
            return;
        }
        targets.push(Arc::new(Target {
            addr,
            health: Mutex::new(Tracker::default()),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
        }));
        self.added.notify_waiters();
    }

    /// Resolves once a target is added after this call.
    pub fn target_added(&self) -> tokio::sync::futures::Notified<'_> {
        self.added.notified()
    }

    /// Takes the target out of rotation at once, waits until its in-flight requests are done
    /// or the deregistration delay passes, whichever is first, then removes it. Returns how
    /// many requests were still in flight when it was removed.
    pub async fn deregister(&self, addr: SocketAddr) -> usize {
        let draining: Vec<Arc<Target>> = self
            .targets()
            .iter()
            .filter(|t| t.addr == addr)
            .cloned()
            .collect();
        for target in &draining {
            target
                .health
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain();
        }
        let deadline = tokio::time::Instant::now() + self.settings().deregistration_delay;
        for target in &draining {
            loop {
                let idle = target.idle.notified();
                if target.in_flight() == 0 {
                    break;
                }
                if tokio::time::timeout_at(deadline, idle).await.is_err() {
                    break;
                }
            }
        }
        self.targets()
            .retain(|t| !draining.iter().any(|d| Arc::ptr_eq(d, t)));
        draining.iter().map(|t| t.in_flight()).sum()
    }

    /// Every target with its state and reason, as DescribeTargetHealth shows them.
    pub fn health(&self) -> Vec<(SocketAddr, State, Option<&'static str>)> {
        self.targets()
            .iter()
            .map(|t| {
                let (state, reason) = t.state();
                (t.addr, state, reason)
            })
            .collect()
    }

    /// Targets a health check round should probe: everything not draining.
    pub fn to_check(&self) -> Vec<Arc<Target>> {
        self.targets()
            .iter()
            .filter(|t| t.state().0 != State::Draining)
            .cloned()
            .collect()
    }

    /// Records one probe of `target`; true when it moved the target's health state.
    pub fn record(&self, target: &Target, outcome: Outcome) -> bool {
        let check = self.settings().health_check;
        target
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe(outcome, &check)
    }

    /// A healthy target for one request, by the group's algorithm, or `None` (503). It runs
    /// on every request, so it allocates nothing.
    pub fn pick(&self) -> Option<Lease> {
        let algorithm = self
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .algorithm;
        let targets = self.targets();
        let healthy = || targets.iter().filter(|t| t.state().0 == State::Healthy);
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let chosen = match algorithm {
            Algorithm::RoundRobin => {
                let count = healthy().count();
                if count == 0 {
                    return None;
                }
                healthy().nth(turn % count)
            }
            Algorithm::LeastOutstandingRequests => {
                let least = healthy().map(|t| t.in_flight()).min()?;
                let tied = || healthy().filter(move |t| t.in_flight() == least);
                tied().nth(turn % tied().count())
            }
        }?;
        chosen.in_flight.fetch_add(1, Ordering::SeqCst);
        Some(Lease(Arc::clone(chosen)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(algorithm: Algorithm, delay: Duration) -> TargetGroup {
        let health_check = HealthCheck {
            healthy_threshold: 1,
            unhealthy_threshold: 1,
            ..HealthCheck::default()
        };
        TargetGroup::new(Settings {
            health_check,
            algorithm,
            deregistration_delay: delay,
        })
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn healthy(group: &TargetGroup, port: u16) {
        group.register(addr(port));
        for target in group.to_check() {
            if target.addr == addr(port) {
                group.record(&target, Outcome::Passed);
            }
        }
    }

    #[test]
    fn new_targets_get_no_traffic_until_healthy() {
        let g = group(Algorithm::RoundRobin, Duration::ZERO);
        g.register(addr(1));
        assert!(g.pick().is_none());
        healthy(&g, 1);
        assert_eq!(g.pick().unwrap().addr(), addr(1));
    }

    #[test]
    fn round_robin_takes_turns() {
        let g = group(Algorithm::RoundRobin, Duration::ZERO);
        healthy(&g, 1);
        healthy(&g, 2);
        let picks: Vec<u16> = (0..4).map(|_| g.pick().unwrap().addr().port()).collect();
        assert_eq!(picks.iter().filter(|p| **p == 1).count(), 2);
        assert_ne!(picks[0], picks[1]);
    }

    #[test]
    fn least_outstanding_avoids_the_busy_target() {
        let g = group(Algorithm::LeastOutstandingRequests, Duration::ZERO);
        healthy(&g, 1);
        healthy(&g, 2);
        let held: Vec<Lease> = (0..3).map(|_| g.pick().unwrap()).collect();
        let busy = held.iter().filter(|l| l.addr().port() == 1).count();
        let next = g.pick().unwrap();
        let expected = if busy > held.len() - busy { 2 } else { 1 };
        assert_eq!(next.addr().port(), expected);
    }

    #[tokio::test]
    async fn a_drain_ends_when_the_last_request_does() {
        let g = Arc::new(group(Algorithm::RoundRobin, Duration::from_secs(300)));
        healthy(&g, 1);
        let lease = g.pick().unwrap();
        let drain = tokio::spawn({
            let g = Arc::clone(&g);
            async move { g.deregister(addr(1)).await }
        });
        tokio::task::yield_now().await;
        assert!(g.pick().is_none(), "a draining target gets no new requests");
        assert_eq!(g.health()[0].1, State::Draining);
        drop(lease);
        let left = tokio::time::timeout(Duration::from_secs(5), drain)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(left, 0);
        assert!(g.health().is_empty());
    }

    #[tokio::test]
    async fn a_drain_gives_up_after_the_delay() {
        let g = group(Algorithm::RoundRobin, Duration::from_millis(50));
        healthy(&g, 1);
        let _stuck = g.pick().unwrap();
        assert_eq!(g.deregister(addr(1)).await, 1);
    }
}
