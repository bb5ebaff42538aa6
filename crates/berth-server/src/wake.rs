//! One wake-up per concern. A committed write wakes only who it concerns: the controller
//! for what it reconciles, the balancer for load-balancer configuration and for the tasks
//! that are its targets, and the agents of one cluster for that cluster's tasks. Each
//! sleeper then re-reads only its own part of the world, and a burst of writes to one
//! cluster leaves the agents of every other cluster asleep.

use berth_store::Collection;
use std::collections::{BTreeSet, HashMap};
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

    /// The clusters whose tasks changed: their agents' polls answer again.
    pub fn clusters(&self) -> impl Iterator<Item = &str> {
        self.written
            .iter()
            .filter(|(collection, _)| *collection == Collection::Tasks)
            .map(|(_, scope)| scope.as_str())
    }
}

/// The bells: one per concern (see the module's docs).
#[derive(Default)]
pub struct Wakes {
    controller: Notify,
    balancer: Notify,
    /// A counter per cluster that agents' polls watch.
    clusters: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Wakes {
    fn clusters(&self) -> MutexGuard<'_, HashMap<String, watch::Sender<u64>>> {
        self.clusters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes whom `changes` concern. Call it once the changes are durable.
    pub fn publish(&self, changes: &ChangeSet) {
        if changes.concerns_controller() {
            self.controller.notify_one();
        }
        if changes.concerns_balancer() {
            self.balancer.notify_one();
        }
        let clusters = self.clusters();
        for cluster in changes.clusters() {
            if let Some(sender) = clusters.get(cluster) {
                sender.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }

    /// Wakes the controller without a write: time or the data plane moved something on.
    pub fn wake_controller(&self) {
        self.controller.notify_one();
    }

    /// Resolves at the controller's next wake-up (at once if one came since the last).
    pub async fn controller(&self) {
        self.controller.notified().await
    }

    /// Resolves at the balancer's next wake-up (at once if one came since the last).
    pub async fn balancer(&self) {
        self.balancer.notified().await
    }

    /// A watch that changes whenever a write to `cluster`'s tasks is published.
    pub fn cluster(&self, cluster: &str) -> watch::Receiver<u64> {
        self.clusters()
            .entry(cluster.to_string())
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
        assert_eq!(task.clusters().collect::<Vec<_>>(), ["prod"]);
        let listener = changes(&[(Collection::Listeners, "arn:lb")]);
        assert!(!listener.concerns_controller() && listener.concerns_balancer());
        assert_eq!(listener.clusters().count(), 0);
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
        let mut prod = wakes.cluster("prod");
        let mut dev = wakes.cluster("dev");
        wakes.publish(&changes(&[(Collection::Listeners, "arn:lb")]));
        assert!(ready(wakes.balancer()));
        assert!(!ready(wakes.controller()));
        assert!(!prod.has_changed().unwrap() && !dev.has_changed().unwrap());
        wakes.publish(&changes(&[(Collection::Tasks, "prod")]));
        assert!(prod.has_changed().unwrap());
        assert!(!dev.has_changed().unwrap());
        assert!(ready(wakes.controller()));
        prod.mark_unchanged();
        dev.mark_unchanged();
    }
}
