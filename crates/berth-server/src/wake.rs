//! One wake-up per concern. A committed write wakes only who it concerns: the controller
//! for what it reconciles, the balancer for load-balancer configuration and for the tasks
//! that are its targets, and the agent of a machine for the tasks placed on it (before or
//! after the write). Each sleeper then re-reads only its own part of the world, and a
//! burst of writes to one machine's tasks leaves every other agent asleep.

use berth_store::Collection;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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

    /// The clusters whose own records concerning the controller were written (services,
    /// instances, tasks: kept under their cluster), and whether anything concerning every
    /// cluster was (clusters, task definitions, secrets, firings).
    fn controller_scopes(&self) -> (BTreeSet<&str>, bool) {
        let mut clusters = BTreeSet::new();
        let mut every = false;
        for (collection, scope) in &self.written {
            match collection {
                Collection::Services | Collection::ContainerInstances | Collection::Tasks => {
                    clusters.insert(scope.as_str());
                }
                Collection::Clusters
                | Collection::TaskDefinitions
                | Collection::SecretChanges
                | Collection::ScheduledFirings => every = true,
                _ => {}
            }
        }
        (clusters, every)
    }

    /// Whether the controller must look again: it reconciles clusters, services, task
    /// definitions, container instances and tasks, tells services of changed secrets, and
    /// fires schedules (a scheduled action or rule put to fire now wakes it through the
    /// index of firings; a rule's own record does not concern it).
    pub fn concerns_controller(&self) -> bool {
        let (clusters, every) = self.controller_scopes();
        every || !clusters.is_empty()
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

/// Where the controller stands with a cluster: the sequence numbers of the last publication
/// (or move of the data plane) that concerned every cluster, and of the last that concerned
/// this one. A cluster's round may be skipped only while it stays the same, so a write to one
/// cluster makes no other cluster's round look again.
pub type Generation = (u64, u64);

#[derive(Default)]
struct Generations {
    /// Grows with every publication that concerned the controller; never reused, so that a
    /// cluster deleted and created again does not come back to a generation seen before.
    sequence: u64,
    every: u64,
    by_cluster: HashMap<String, u64>,
}

impl Generations {
    /// Moves on what concerned every cluster (if `every`) and each of `clusters`.
    fn advance<'c>(&mut self, every: bool, clusters: impl IntoIterator<Item = &'c str>) {
        self.sequence += 1;
        if every {
            self.every = self.sequence;
        }
        for cluster in clusters {
            self.by_cluster.insert(cluster.to_string(), self.sequence);
        }
    }
}

/// The bells: one per concern (see the module's docs).
#[derive(Default)]
pub struct Wakes {
    controller: Notify,
    /// What concerned the controller, by cluster and for every cluster.
    controller_generations: Mutex<Generations>,
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
            let (clusters, every) = changes.controller_scopes();
            self.generations().advance(every, clusters);
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

    fn generations(&self) -> MutexGuard<'_, Generations> {
        self.controller_generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the controller without a write: time or the data plane moved something on,
    /// which may concern any cluster.
    pub fn wake_controller(&self) {
        self.generations().advance(true, []);
        self.controller.notify_one();
    }

    /// Where the controller stands with `cluster`: see [`Generation`].
    pub fn controller_generation(&self, cluster: &str) -> Generation {
        let generations = self.generations();
        let own = generations.by_cluster.get(cluster).copied().unwrap_or(0);
        (generations.every, own)
    }

    /// Forgets the generations of clusters other than `clusters` (those deleted).
    pub fn keep_controller_generations(&self, clusters: &HashSet<&str>) {
        self.generations()
            .by_cluster
            .retain(|cluster, _| clusters.contains(cluster.as_str()));
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
    pub fn machine(self: &Arc<Self>, cluster: &str, instance_id: &str) -> MachineBell {
        let receiver = self
            .machines()
            .entry(cluster.to_string())
            .or_default()
            .entry(instance_id.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        MachineBell {
            receiver,
            wakes: Arc::clone(self),
            cluster: cluster.to_string(),
            instance_id: instance_id.to_string(),
        }
    }
}

/// A poll's watch on its machine's bell (see [`Wakes::machine`]). The bell goes with its
/// last watcher, so that machines deregistered or gone leave nothing behind.
pub struct MachineBell {
    receiver: watch::Receiver<u64>,
    wakes: Arc<Wakes>,
    cluster: String,
    instance_id: String,
}

impl std::ops::Deref for MachineBell {
    type Target = watch::Receiver<u64>;

    fn deref(&self) -> &Self::Target {
        &self.receiver
    }
}

impl std::ops::DerefMut for MachineBell {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.receiver
    }
}

impl Drop for MachineBell {
    fn drop(&mut self) {
        // Watchers subscribe under the same lock: none can come between the count and the
        // removal.
        let mut bells = self.wakes.machines();
        let Some(cluster) = bells.get_mut(&self.cluster) else {
            return;
        };
        if cluster
            .get(&self.instance_id)
            .is_some_and(|bell| bell.receiver_count() == 1)
        {
            cluster.remove(&self.instance_id);
            if cluster.is_empty() {
                bells.remove(&self.cluster);
            }
        }
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
    fn a_clusters_generation_moves_with_its_own_writes_and_those_concerning_every_cluster() {
        let wakes = Wakes::default();
        let none = Machines::default();
        let (prod, dev) = (
            wakes.controller_generation("prod"),
            wakes.controller_generation("dev"),
        );
        wakes.publish(&changes(&[(Collection::Tasks, "prod")]), &none);
        assert_ne!(wakes.controller_generation("prod"), prod);
        assert_eq!(wakes.controller_generation("dev"), dev);
        let prod = wakes.controller_generation("prod");
        wakes.publish(&changes(&[(Collection::Listeners, "arn:lb")]), &none);
        assert_eq!(
            wakes.controller_generation("prod"),
            prod,
            "not the controller's"
        );
        for moved in [
            Box::new(|| wakes.publish(&changes(&[(Collection::TaskDefinitions, "")]), &none))
                as Box<dyn Fn()>,
            Box::new(|| wakes.wake_controller()),
        ] {
            let (prod, dev) = (
                wakes.controller_generation("prod"),
                wakes.controller_generation("dev"),
            );
            moved();
            assert_ne!(wakes.controller_generation("prod"), prod);
            assert_ne!(wakes.controller_generation("dev"), dev);
        }
        // Forgotten and written again, a cluster does not come back to where it was.
        let prod = wakes.controller_generation("prod");
        wakes.keep_controller_generations(&HashSet::new());
        wakes.publish(&changes(&[(Collection::Services, "prod")]), &none);
        assert_ne!(wakes.controller_generation("prod"), prod);
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
        let wakes = Arc::new(Wakes::default());
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

        let again = wakes.machine("prod", "i-a");
        drop(a);
        assert!(
            wakes.machines()["prod"].contains_key("i-a"),
            "still watched"
        );
        drop((again, b));
        drop(dev);
        assert!(
            wakes.machines().is_empty(),
            "each bell goes with its last watcher"
        );
    }
}
