//! One wake-up per concern. A committed write wakes only who it concerns: the controller
//! for what it reconciles, the balancer for load-balancer configuration and for the tasks
//! that are its targets, and the agent of a machine for the tasks placed on it (before or
//! after the write). Each sleeper then re-reads only its own part of the world, and a
//! burst of writes to one machine's tasks leaves every other agent asleep.

use berth_store::Collection;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::{watch, Notify};

/// What a call or a batch of calls wrote: each (collection, scope) once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    written: BTreeSet<(Collection, String)>,
    /// The tasks written, by cluster and key: what the index of tasks reads again.
    tasks: BTreeSet<(String, String)>,
}

impl ChangeSet {
    pub fn record(&mut self, collection: Collection, scope: &str) {
        self.written.insert((collection, scope.to_string()));
    }

    pub fn record_task(&mut self, cluster: &str, key: &str) {
        self.record(Collection::Tasks, cluster);
        self.tasks.insert((cluster.to_string(), key.to_string()));
    }

    /// The tasks written, as (cluster, key).
    pub fn tasks(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tasks.iter().map(|(c, k)| (c.as_str(), k.as_str()))
    }

    /// The keys of `cluster`'s tasks written.
    pub fn tasks_of<'s>(&'s self, cluster: &'s str) -> impl Iterator<Item = &'s str> {
        self.tasks()
            .filter(move |(c, _)| *c == cluster)
            .map(|(_, key)| key)
    }

    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    fn collections(&self) -> impl Iterator<Item = Collection> + '_ {
        self.written.iter().map(|(collection, _)| *collection)
    }

    /// Whether the controller must look again: it reconciles clusters, services, task
    /// definitions, container instances and tasks, tells services of changed secrets, and
    /// fires schedules (a scheduled action or rule put to fire now wakes it through the
    /// index of firings; a rule's own record does not concern it).
    pub fn concerns_controller(&self) -> bool {
        self.collections().any(|c| {
            matches!(
                c,
                Collection::Clusters
                    | Collection::Services
                    | Collection::TaskDefinitions
                    | Collection::ContainerInstances
                    | Collection::Tasks
                    | Collection::SecretChanges
                    | Collection::ScheduledFirings
            )
        })
    }

    /// Whether the balancer must look again: its configuration, or the services, instances
    /// and tasks whose addresses are its targets.
    pub fn concerns_balancer(&self) -> bool {
        self.collections().any(|c| {
            matches!(
                c,
                Collection::LoadBalancers
                    | Collection::TargetGroups
                    | Collection::Listeners
                    | Collection::Rules
                    | Collection::Certificates
                    | Collection::Services
                    | Collection::ContainerInstances
                    | Collection::Tasks
            )
        })
    }
}

/// Whose tasks a publication changed, as the index of tasks tells it: the (cluster,
/// instance id) pairs, and the clusters whose written tasks it could not read again (any of
/// their instances may be concerned).
#[derive(Debug, Default, PartialEq)]
pub struct Machines {
    pub instances: BTreeSet<(String, String)>,
    pub clusters: BTreeSet<String>,
}

/// The bells: one per concern (see the module's docs).
#[derive(Default)]
pub struct Wakes {
    controller: Notify,
    /// Counts what concerned the controller: writes it reconciles, and the data plane's
    /// moves. A cluster's round may be skipped only while it stays the same.
    controller_generation: AtomicU64,
    balancer: Notify,
    /// A counter per machine (by cluster, then instance id) that its agent's polls watch.
    machines: Mutex<HashMap<String, HashMap<String, watch::Sender<u64>>>>,
}

impl Wakes {
    fn machines(&self) -> MutexGuard<'_, HashMap<String, HashMap<String, watch::Sender<u64>>>> {
        self.machines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes whom `changes` concern, and the agents of the machines whose tasks they changed
    /// (`machines`, from the index of tasks): a write to one machine's tasks wakes one
    /// agent, not a thousand. Call it once the changes are durable.
    pub fn publish(&self, changes: &ChangeSet, machines: &Machines) {
        if changes.concerns_controller() {
            self.controller_generation.fetch_add(1, Ordering::SeqCst);
            self.controller.notify_one();
        }
        if changes.concerns_balancer() {
            self.balancer.notify_one();
        }
        let ring = |sender: &watch::Sender<u64>| sender.send_modify(|n| *n = n.wrapping_add(1));
        let bells = self.machines();
        for (cluster, instance) in &machines.instances {
            if let Some(sender) = bells.get(cluster).and_then(|c| c.get(instance)) {
                ring(sender);
            }
        }
        for cluster in &machines.clusters {
            bells
                .get(cluster)
                .into_iter()
                .flat_map(|c| c.values())
                .for_each(ring);
        }
    }

    /// Wakes the controller without a write: time or the data plane moved something on.
    pub fn wake_controller(&self) {
        self.controller_generation.fetch_add(1, Ordering::SeqCst);
        self.controller.notify_one();
    }

    /// How many times something concerned the controller so far.
    pub fn controller_generation(&self) -> u64 {
        self.controller_generation.load(Ordering::SeqCst)
    }

    /// Resolves at the controller's next wake-up (at once if one came since the last).
    pub async fn controller(&self) {
        self.controller.notified().await
    }

    /// Resolves at the balancer's next wake-up (at once if one came since the last).
    pub async fn balancer(&self) {
        self.balancer.notified().await
    }

    /// A watch that changes whenever a write to the tasks placed on `instance_id` of
    /// `cluster` (before or after the write) is published.
    pub fn machine(&self, cluster: &str, instance_id: &str) -> watch::Receiver<u64> {
        self.machines()
            .entry(cluster.to_string())
            .or_default()
            .entry(instance_id.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn changes(written: &[(Collection, &str)]) -> ChangeSet {
        let mut set = ChangeSet::default();
        for (collection, scope) in written {
            set.record(*collection, scope);
        }
        set
    }

    fn ready(future: impl Future<Output = ()>) -> bool {
        let mut future = pin!(future);
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            == Poll::Ready(())
    }

    #[test]
    fn each_write_concerns_its_own_sleepers() {
        let task = changes(&[(Collection::Tasks, "prod")]);
        assert!(task.concerns_controller() && task.concerns_balancer());
        let listener = changes(&[(Collection::Listeners, "arn:lb")]);
        assert!(!listener.concerns_controller() && listener.concerns_balancer());
        let definition = changes(&[(Collection::TaskDefinitions, "web")]);
        assert!(definition.concerns_controller() && !definition.concerns_balancer());
        let firing = changes(&[(Collection::ScheduledFirings, "000029000000")]);
        assert!(firing.concerns_controller() && !firing.concerns_balancer());
        let policy = changes(&[(Collection::ScalingPolicies, "ecs|service/c/s|d")]);
        assert!(!policy.concerns_controller() && !policy.concerns_balancer());
        let rule = changes(&[(Collection::EventRules, "default")]);
        assert!(!rule.concerns_controller() && !rule.concerns_balancer());
        let key = changes(&[(Collection::AccessKeys, "")]);
        assert!(!key.concerns_controller() && !key.concerns_balancer());
    }

    #[test]
    fn publishing_rings_only_the_bells_concerned() {
        let wakes = Wakes::default();
        let mut a = wakes.machine("prod", "i-a");
        let mut b = wakes.machine("prod", "i-b");
        let dev = wakes.machine("dev", "i-c");
        let none = Machines::default();
        wakes.publish(&changes(&[(Collection::Listeners, "arn:lb")]), &none);
        assert!(ready(wakes.balancer()));
        assert!(!ready(wakes.controller()));
        assert!(!a.has_changed().unwrap() && !dev.has_changed().unwrap());

        let on_a = Machines {
            instances: [("prod".to_string(), "i-a".to_string())].into(),
            clusters: BTreeSet::new(),
        };
        wakes.publish(&changes(&[(Collection::Tasks, "prod")]), &on_a);
        assert!(a.has_changed().unwrap());
        assert!(!b.has_changed().unwrap() && !dev.has_changed().unwrap());
        assert!(ready(wakes.controller()));
        a.mark_unchanged();

        let unread = Machines {
            instances: BTreeSet::new(),
            clusters: ["prod".to_string()].into(),
        };
        wakes.publish(&changes(&[(Collection::Tasks, "prod")]), &unread);
        assert!(a.has_changed().unwrap() && b.has_changed().unwrap());
        assert!(!dev.has_changed().unwrap());
        b.mark_unchanged();
    }
}
