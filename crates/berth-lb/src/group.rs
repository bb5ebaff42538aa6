//! A target group: its targets, their health, how requests are spread over them, and how a
//! target leaves — drained of its in-flight requests, then removed.
//!
//! The owner hands the group the whole set of addresses it wants
//! ([`TargetGroup::reset_targets`]), as linkerd feeds its balancer endpoint sets, and the
//! group works out what to register and what to drain from its own targets. So no copy of
//! what was registered is kept anywhere else to drift from the group's, and an address wanted
//! again while its old registration drains simply becomes a new registration. Drains run on
//! tasks of their own, so the owner never waits on one; the group wakes the owner when a drain
//! ends, as it does when a target's health moves, since both can move a deployment on.

use crate::counts::{Counts, Snapshot};
use crate::health::{HealthCheck, Outcome, State, Tracker};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

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
    counts: Counts,
    /// Its group's, counted together with its own.
    group_counts: Arc<Counts>,
}

impl Target {
    fn new(addr: SocketAddr, group_counts: Arc<Counts>, health: Tracker) -> Self {
        Self {
            addr,
            health: Mutex::new(health),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            counts: Counts::default(),
            group_counts,
        }
    }

    /// What was counted for this registration of the target.
    pub fn counts(&self) -> Snapshot {
        self.counts.snapshot()
    }

    pub fn state(&self) -> (State, Option<&'static str>) {
        let tracker = self.health.lock().unwrap_or_else(|p| p.into_inner());
        (tracker.state, tracker.reason)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    fn is_draining(&self) -> bool {
        self.state().0 == State::Draining
    }
}

/// A request's hold on a target; dropping it (when the response, or the upgraded
/// connection, ends) lets a drain finish.
pub struct Lease(Arc<Target>);

impl Lease {
    pub fn addr(&self) -> SocketAddr {
        self.0.addr
    }

    /// The target answered `status`, its head arriving `took` after the request was sent.
    pub(crate) fn answered(&self, status: u16, took: std::time::Duration) {
        self.0.counts.answered(status, took);
        self.0.group_counts.answered(status, took);
    }

    /// The load balancer answered `status` itself (the target failed or timed out).
    pub(crate) fn elb(&self, status: u16) {
        self.0.group_counts.elb(status);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// What [`TargetGroup::reset_targets`] changed, for the owner to tell its users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetChanges {
    /// Addresses registered anew, in `initial` until their health checks pass, in the order
    /// they were wanted.
    pub added: Vec<SocketAddr>,
    /// Addresses taken out of rotation, now draining.
    pub removed: Vec<SocketAddr>,
}

impl TargetChanges {
    /// From the addresses of the registrations not draining to the `desired` ones: each
    /// wanted address without such a registration is added (once, however often it is
    /// wanted), each such registration no longer wanted is removed. Draining registrations
    /// play no part: their drains run on, whatever is wanted now.
    fn between(registered: &[SocketAddr], desired: impl IntoIterator<Item = SocketAddr>) -> Self {
        let already: HashSet<SocketAddr> = registered.iter().copied().collect();
        let mut wanted = HashSet::new();
        let added = desired
            .into_iter()
            .filter(|addr| wanted.insert(*addr) && !already.contains(addr))
            .collect();
        let removed = registered
            .iter()
            .filter(|addr| !wanted.contains(*addr))
            .copied()
            .collect();
        Self { added, removed }
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

pub struct TargetGroup {
    settings: Mutex<Settings>,
    targets: Mutex<Vec<Arc<Target>>>,
    next: AtomicUsize,
    counts: Arc<Counts>,
    /// Woken when targets are added or start draining, so that health checks start and stop
    /// at once.
    targets_changed: Notify,
    /// The owner's: see [`TargetGroup::new`].
    owner: Arc<Notify>,
}

impl TargetGroup {
    /// A group without targets. `owner` is woken whenever a target's health state moves or
    /// a drain ends, so whoever acts on those need not poll for them; it is woken with
    /// `notify_one`, so a wake-up while the owner is busy elsewhere waits for it.
    pub fn new(settings: Settings, owner: Arc<Notify>) -> Self {
        Self {
            settings: Mutex::new(settings),
            targets: Mutex::default(),
            next: AtomicUsize::new(0),
            counts: Arc::default(),
            targets_changed: Notify::new(),
            owner,
        }
    }

    /// What was counted for the group, all its targets together, since it was created.
    pub fn counts(&self) -> Snapshot {
        self.counts.snapshot()
    }

    /// The group's fastest and slowest answer since the last call; for one reader only.
    pub fn take_response_extremes(&self) -> Option<(Duration, Duration)> {
        self.counts.take_extremes()
    }

    /// Each registered target's counts (a draining one's too, until it leaves).
    pub fn target_counts(&self) -> Vec<(SocketAddr, Snapshot)> {
        self.targets()
            .iter()
            .map(|t| (t.addr, t.counts.snapshot()))
            .collect()
    }

    /// The load balancer answered a request for this group itself: no target was healthy.
    pub(crate) fn no_healthy_target(&self) {
        self.counts.elb(503);
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

    /// Makes `desired` the group's targets. A wanted address the group does not hold (or
    /// holds only draining) is registered in `initial` and gets traffic once its health
    /// checks pass, which start at once. A registered address no longer wanted is taken out
    /// of rotation at once and drains on a task of its own: it is removed when its last
    /// in-flight request (or upgraded connection) ends or the deregistration delay passes,
    /// whichever is first, and the owner is woken then. Targets wanted and held stay as they
    /// are, health included.
    ///
    /// # Panics
    /// Outside a tokio runtime when a target starts draining, since its drain runs on one.
    pub fn reset_targets(
        self: &Arc<Self>,
        desired: impl IntoIterator<Item = SocketAddr>,
    ) -> TargetChanges {
        self.reset(desired, Tracker::default)
    }

    /// [`TargetGroup::reset_targets`] for the first time after the balancer restarted: the
    /// targets wanted are those it held before, each healthy again at its first passing
    /// check ([`Tracker::recovered`]).
    pub fn reset_recovered_targets(
        self: &Arc<Self>,
        desired: impl IntoIterator<Item = SocketAddr>,
    ) -> TargetChanges {
        self.reset(desired, Tracker::recovered)
    }

    fn reset(
        self: &Arc<Self>,
        desired: impl IntoIterator<Item = SocketAddr>,
        health: fn() -> Tracker,
    ) -> TargetChanges {
        // Collected before the lock is taken, so that the caller's iterator may read the group.
        let desired: Vec<SocketAddr> = desired.into_iter().collect();
        let deadline = Instant::now() + self.settings().deregistration_delay;
        let mut targets = self.targets();
        let registered: Vec<Arc<Target>> = targets
            .iter()
            .filter(|t| !t.is_draining())
            .cloned()
            .collect();
        let addrs: Vec<SocketAddr> = registered.iter().map(|t| t.addr).collect();
        let changes = TargetChanges::between(&addrs, desired);
        let leaving: Vec<Arc<Target>> = registered
            .into_iter()
            .filter(|t| changes.removed.contains(&t.addr))
            .collect();
        for target in &leaving {
            target
                .health
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain();
        }
        targets.extend(
            changes
                .added
                .iter()
                .map(|&addr| Arc::new(Target::new(addr, Arc::clone(&self.counts), health()))),
        );
        drop(targets);
        for target in leaving {
            tokio::spawn(drain(Arc::downgrade(self), target, deadline));
        }
        if !changes.is_empty() {
            self.targets_changed.notify_waiters();
        }
        changes
    }

    /// Resolves once targets are added or start draining after this call.
    pub fn targets_changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.targets_changed.notified()
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
            .filter(|t| !t.is_draining())
            .cloned()
            .collect()
    }

    /// Records one probe of `target`, waking the owner when it moved the target's health
    /// state.
    pub fn record(&self, target: &Target, outcome: Outcome) {
        let check = self.settings().health_check;
        let moved = target
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe(outcome, &check);
        if moved {
            self.owner.notify_one();
        }
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
        chosen.counts.request();
        self.counts.request();
        Some(Lease(Arc::clone(chosen)))
    }
}

/// Waits until `target`, already out of rotation, has no request in flight or `deadline`
/// passes, then removes it from its group and wakes the group's owner. A group dropped
/// meanwhile has nothing left to remove it from.
async fn drain(group: Weak<TargetGroup>, target: Arc<Target>, deadline: Instant) {
    loop {
        let idle = target.idle.notified();
        if target.in_flight() == 0 {
            break;
        }
        if tokio::time::timeout_at(deadline, idle).await.is_err() {
            break;
        }
    }
    let Some(group) = group.upgrade() else {
        return;
    };
    group.targets().retain(|t| !Arc::ptr_eq(t, &target));
    let in_flight = target.in_flight();
    if in_flight > 0 {
        tracing::info!(
            addr = %target.addr,
            in_flight,
            "deregistration delay passed; the target is removed with requests still in flight"
        );
    }
    group.owner.notify_one();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(algorithm: Algorithm, delay: Duration) -> (Arc<TargetGroup>, Arc<Notify>) {
        let health_check = HealthCheck {
            healthy_threshold: 1,
            unhealthy_threshold: 1,
            ..HealthCheck::default()
        };
        let owner = Arc::new(Notify::new());
        let group = TargetGroup::new(
            Settings {
                health_check,
                algorithm,
                deregistration_delay: delay,
            },
            Arc::clone(&owner),
        );
        (Arc::new(group), owner)
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn addrs(ports: &[u16]) -> Vec<SocketAddr> {
        ports.iter().map(|p| addr(*p)).collect()
    }

    /// Passes one health check of every target not draining (one pass is healthy here).
    fn pass_checks(group: &TargetGroup) {
        for target in group.to_check() {
            group.record(&target, Outcome::Passed);
        }
    }

    /// Whether the owner is woken before the paused clock moves on by a second: every task
    /// that can run runs first.
    async fn woken(owner: &Notify) -> bool {
        tokio::time::timeout(Duration::from_secs(1), owner.notified())
            .await
            .is_ok()
    }

    #[test]
    fn changes_add_what_is_new_and_remove_what_is_no_longer_wanted() {
        let changes = |registered: &[u16], desired: &[u16]| {
            let changes = TargetChanges::between(&addrs(registered), addrs(desired));
            let ports = |a: &[SocketAddr]| a.iter().map(|a| a.port()).collect::<Vec<_>>();
            (ports(&changes.added), ports(&changes.removed))
        };
        assert_eq!(changes(&[], &[]), (vec![], vec![]));
        assert_eq!(changes(&[], &[3, 1, 2]), (vec![3, 1, 2], vec![]));
        assert_eq!(
            changes(&[1, 2], &[2, 1]),
            (vec![], vec![]),
            "order is no change"
        );
        assert_eq!(changes(&[1, 2], &[2, 3]), (vec![3], vec![1]));
        assert_eq!(changes(&[1, 2], &[]), (vec![], vec![1, 2]));
        assert_eq!(
            changes(&[1], &[2, 2, 1, 2]),
            (vec![2], vec![]),
            "an address wanted twice (an API target that is also a task) is added once"
        );
        assert!(TargetChanges::between(&addrs(&[1]), addrs(&[1])).is_empty());
    }

    #[test]
    fn new_targets_get_no_traffic_until_healthy() {
        let (g, _) = group(Algorithm::RoundRobin, Duration::ZERO);
        let changes = g.reset_targets([addr(1)]);
        assert_eq!(changes.added, [addr(1)]);
        assert_eq!(
            g.health(),
            [(addr(1), State::Initial, Some("Elb.InitialHealthChecking"))]
        );
        assert!(g.pick().is_none());
        pass_checks(&g);
        assert_eq!(g.pick().unwrap().addr(), addr(1));
    }

    #[test]
    fn round_robin_takes_turns() {
        let (g, _) = group(Algorithm::RoundRobin, Duration::ZERO);
        g.reset_targets(addrs(&[1, 2]));
        pass_checks(&g);
        let picks: Vec<u16> = (0..4).map(|_| g.pick().unwrap().addr().port()).collect();
        assert_eq!(picks.iter().filter(|p| **p == 1).count(), 2);
        assert_ne!(picks[0], picks[1]);
    }

    #[test]
    fn least_outstanding_avoids_the_busy_target() {
        let (g, _) = group(Algorithm::LeastOutstandingRequests, Duration::ZERO);
        g.reset_targets(addrs(&[1, 2]));
        pass_checks(&g);
        let held: Vec<Lease> = (0..3).map(|_| g.pick().unwrap()).collect();
        let busy = held.iter().filter(|l| l.addr().port() == 1).count();
        let next = g.pick().unwrap();
        let expected = if busy > held.len() - busy { 2 } else { 1 };
        assert_eq!(next.addr().port(), expected);
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_moving_health_wakes_the_owner() {
        let (g, owner) = group(Algorithm::RoundRobin, Duration::ZERO);
        g.reset_targets([addr(1)]);
        assert!(!woken(&owner).await, "registering is the owner's own doing");
        pass_checks(&g);
        assert!(
            woken(&owner).await,
            "the owner hears the target turn healthy"
        );
        pass_checks(&g);
        assert!(!woken(&owner).await, "another pass moves nothing");
    }

    #[tokio::test(start_paused = true)]
    async fn targets_still_wanted_keep_their_health() {
        let (g, owner) = group(Algorithm::RoundRobin, Duration::from_secs(300));
        g.reset_targets(addrs(&[1, 2]));
        pass_checks(&g);
        assert!(woken(&owner).await);
        let changes = g.reset_targets(addrs(&[2, 3]));
        assert_eq!(
            changes,
            TargetChanges {
                added: vec![addr(3)],
                removed: vec![addr(1)],
            }
        );
        assert!(
            woken(&owner).await,
            "1 had nothing in flight: its drain ended at once"
        );
        let states: Vec<(u16, State)> = g.health().iter().map(|(a, s, _)| (a.port(), *s)).collect();
        assert_eq!(states, [(2, State::Healthy), (3, State::Initial)]);
        assert!(g.reset_targets(addrs(&[3, 2])).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_ends_when_the_last_request_does() {
        let (g, owner) = group(Algorithm::RoundRobin, Duration::from_secs(300));
        g.reset_targets([addr(1)]);
        pass_checks(&g);
        assert!(woken(&owner).await, "turning healthy woke the owner");
        let lease = g.pick().unwrap();
        let started = Instant::now();
        assert_eq!(g.reset_targets([]).removed, [addr(1)]);
        assert!(g.pick().is_none(), "a draining target gets no new requests");
        assert_eq!(g.health()[0].1, State::Draining);
        tokio::time::sleep(Duration::from_secs(200)).await;
        assert_eq!(g.health().len(), 1, "its request holds it");
        assert!(!woken(&owner).await);
        drop(lease);
        assert!(woken(&owner).await, "the drain's end woke the owner");
        assert!(g.health().is_empty());
        assert!(started.elapsed() < Duration::from_secs(300));
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_gives_up_after_the_delay() {
        let (g, owner) = group(Algorithm::RoundRobin, Duration::from_secs(300));
        g.reset_targets([addr(1)]);
        pass_checks(&g);
        assert!(woken(&owner).await);
        let stuck = g.pick().unwrap();
        let started = Instant::now();
        g.reset_targets([]);
        owner.notified().await;
        assert_eq!(started.elapsed(), Duration::from_secs(300));
        assert!(g.health().is_empty(), "removed with its request in flight");
        drop(stuck);
        assert!(g.health().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_wanted_again_while_it_drains_is_a_new_registration() {
        let (g, owner) = group(Algorithm::RoundRobin, Duration::from_secs(300));
        g.reset_targets([addr(1)]);
        pass_checks(&g);
        let lease = g.pick().unwrap();
        g.reset_targets([]);
        let changes = g.reset_targets([addr(1)]);
        assert_eq!(changes.added, [addr(1)]);
        assert!(changes.removed.is_empty(), "the draining one drains on");
        let states: Vec<State> = g.health().iter().map(|(_, s, _)| *s).collect();
        assert_eq!(states, [State::Draining, State::Initial]);
        assert!(
            g.pick().is_none(),
            "the new registration waits for its checks"
        );
        assert_eq!(g.to_check().len(), 1);
        pass_checks(&g);
        let again = g.pick().unwrap();
        assert!(!Arc::ptr_eq(&again.0, &lease.0));
        drop(lease);
        while woken(&owner).await {}
        let states: Vec<State> = g.health().iter().map(|(_, s, _)| *s).collect();
        assert_eq!(states, [State::Healthy], "only the old registration left");
    }
}
