//! Every task of a cluster, decoded, and which are on which instance and in which group (a
//! service's tasks, or a RunTask `group`): what a controller round, an agent's poll and
//! ListTasks read instead of listing and decoding every task in the store.
//!
//! A cluster's index is built from its stored tasks when first asked for, then kept up to
//! date key by key: every published write to a task is read again as it is published
//! ([`TaskIndex::touched`], called after the write is durable, which also names the
//! instances whose tasks changed); a key the store could not read then stays marked and the
//! next reader reads it. So a reader's cost grows with what changed, not with the cluster.
//! A call's own writes are published when it ends: within the call that made them, the
//! index does not show them (`Call::cluster_tasks` reads them afresh over it). The decoded
//! tasks are shared with the decode cache ([`Decoded`]), not copied.
//!
//! It also keeps what lets a round read only part of a cluster ([`Part`]): what the tasks
//! on each instance hold, the tasks not yet placed, the stopped tasks by when they stopped,
//! and a number for each group's last change, so a round can tell which services' tasks
//! changed without reading them.

use super::decoded::{Cached, Decoded};
use super::record::Fault;
use crate::wake::Machines;
use berth_model::resources::Task;
use berth_model::status::TaskStatus;
use berth_reconcile::placement::Resources;
use berth_store::{Collection, Record, Store};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Numbers the changes to groups, in every index of the process: never reused, so a number
/// a round remembers can only match the change it saw (a cluster's index dropped and built
/// again numbers its groups afresh).
static GROUP_CHANGES: AtomicU64 = AtomicU64::new(1);

struct Entry {
    task: Arc<Cached<Task>>,
    /// The stored record's version: a read older than what the index holds is not applied.
    version: i64,
    /// The instance id, for a placed task that has yet to stop.
    instance: Option<Arc<str>>,
    group: Arc<str>,
    /// What it holds on its instance, until it has stopped (as the reconciler counts it).
    holds: Option<(Arc<str>, Resources)>,
    /// When it stopped, in milliseconds, once STOPPED.
    stopped_ms: Option<i64>,
    /// Its task definition's family.
    family: Arc<str>,
}

/// One cluster's tasks by key, by instance and by group.
#[derive(Default)]
struct ClusterTasks {
    entries: BTreeMap<String, Entry>,
    by_instance: HashMap<Arc<str>, BTreeSet<String>>,
    by_group: HashMap<Arc<str>, BTreeSet<String>>,
    /// What the tasks on each instance hold, by instance id.
    load: HashMap<Arc<str>, Resources>,
    /// Tasks on no instance that have yet to stop: standalone tasks waiting for a machine.
    unplaced: BTreeSet<String>,
    /// STOPPED tasks by when they stopped, oldest first.
    stopped: BTreeSet<(i64, String)>,
    /// Tasks whose load balancer targets are draining (DEACTIVATING).
    deactivating: BTreeSet<String>,
    /// Each group's last change, numbered from [`GROUP_CHANGES`].
    group_changes: HashMap<Arc<str>, u64>,
    by_family: HashMap<Arc<str>, BTreeSet<String>>,
    /// Tasks whose desired status is STOPPED.
    desired_stopped: BTreeSet<String>,
    counts: TaskCounts,
}

/// How many of a cluster's tasks are in each state ECS counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounts {
    /// Last status RUNNING.
    pub running: usize,
    /// Wanted running, not running yet.
    pub pending: usize,
    /// Not yet STOPPED.
    pub active: usize,
}

impl TaskCounts {
    pub fn of<'t>(tasks: impl IntoIterator<Item = &'t Task>) -> TaskCounts {
        let mut counts = TaskCounts::default();
        for task in tasks {
            counts.add(task, 1);
        }
        counts
    }

    fn add(&mut self, task: &Task, sign: isize) {
        let count = |n: &mut usize, holds: bool| {
            if holds {
                *n = n.wrapping_add_signed(sign);
            }
        };
        count(&mut self.running, task.last_status == TaskStatus::Running);
        count(
            &mut self.pending,
            task.desired_status == TaskStatus::Running && task.last_status != TaskStatus::Running,
        );
        count(&mut self.active, task.last_status != TaskStatus::Stopped);
    }
}

/// Takes `key` out of the set of `name`, and the set out of `sets` once empty.
fn take_from(sets: &mut HashMap<Arc<str>, BTreeSet<String>>, name: &Arc<str>, key: &str) {
    if let Some(keys) = sets.get_mut(name) {
        keys.remove(key);
        if keys.is_empty() {
            sets.remove(name);
        }
    }
}

fn add(total: &mut Resources, resources: Resources, sign: i64) {
    total.cpu += sign * resources.cpu;
    total.memory += sign * resources.memory;
}

impl ClusterTasks {
    fn forget(&mut self, key: &str) {
        let Some(entry) = self.entries.remove(key) else {
            return;
        };
        if let Some(instance) = &entry.instance {
            take_from(&mut self.by_instance, instance, key);
        }
        take_from(&mut self.by_group, &entry.group, key);
        take_from(&mut self.by_family, &entry.family, key);
        self.desired_stopped.remove(key);
        self.counts.add(&entry.task.value, -1);
        if let Some((instance, resources)) = &entry.holds {
            if let Some(load) = self.load.get_mut(instance) {
                add(load, *resources, -1);
                if *load == Resources::default() {
                    self.load.remove(instance);
                }
            }
        }
        self.unplaced.remove(key);
        self.deactivating.remove(key);
        if let Some(at) = entry.stopped_ms {
            self.stopped.remove(&(at, key.to_string()));
        }
        self.group_changed(&entry.group);
    }

    fn group_changed(&mut self, group: &Arc<str>) {
        let change = GROUP_CHANGES.fetch_add(1, Ordering::Relaxed);
        if self.by_group.contains_key(group) {
            self.group_changes.insert(Arc::clone(group), change);
        } else {
            // A group with no tasks left reads as never changed again: 0.
            self.group_changes.remove(group);
        }
    }

    fn instance_of(&self, key: &str) -> Option<Arc<str>> {
        self.entries.get(key)?.instance.clone()
    }

    fn each(&self, keys: Option<&BTreeSet<String>>) -> Vec<Arc<Cached<Task>>> {
        keys.into_iter()
            .flatten()
            .filter_map(|key| self.entries.get(key))
            .map(|entry| Arc::clone(&entry.task))
            .collect()
    }

    fn learn(&mut self, decoded: &Decoded, record: &Record) -> Result<(), Fault> {
        let task = decoded.cached::<Task>(Collection::Tasks, record)?;
        self.hold(&record.key, record.version, task);
        Ok(())
    }

    /// Holds `task`, unless the index already holds this version of it or a later one.
    fn hold(&mut self, key: &str, version: i64, task: Arc<Cached<Task>>) {
        if self.entries.get(key).is_some_and(|e| e.version >= version) {
            return;
        }
        self.forget(key);
        let value = &task.value;
        let stopped =
            value.desired_status == TaskStatus::Stopped && value.last_status == TaskStatus::Stopped;
        let placed_on = value
            .container_instance_arn
            .as_deref()
            .map(|arn| Arc::<str>::from(berth_model::arn::resource_id(arn)));
        let entry = Entry {
            instance: placed_on.clone().filter(|_| !stopped),
            group: Arc::from(value.group.as_str()),
            holds: placed_on
                .filter(|_| value.last_status != TaskStatus::Stopped)
                .map(|instance| {
                    let (cpu, memory) = value.reserved();
                    (instance, Resources { cpu, memory })
                }),
            stopped_ms: value
                .stopped_at
                .filter(|_| value.last_status == TaskStatus::Stopped)
                .map(|at| (at * 1000.0) as i64),
            family: Arc::from(
                berth_model::arn::task_definition_ref(&value.task_definition_arn)
                    .map(|r| r.family)
                    .unwrap_or_default(),
            ),
            task,
            version,
        };
        if let Some(instance) = &entry.instance {
            self.by_instance
                .entry(Arc::clone(instance))
                .or_default()
                .insert(key.to_string());
        }
        self.by_group
            .entry(Arc::clone(&entry.group))
            .or_default()
            .insert(key.to_string());
        if let Some((instance, resources)) = &entry.holds {
            add(
                self.load.entry(Arc::clone(instance)).or_default(),
                *resources,
                1,
            );
        }
        let value = &entry.task.value;
        if value.container_instance_arn.is_none() && value.last_status != TaskStatus::Stopped {
            self.unplaced.insert(key.to_string());
        }
        if value.last_status == TaskStatus::Deactivating {
            self.deactivating.insert(key.to_string());
        }
        if let Some(at) = entry.stopped_ms {
            self.stopped.insert((at, key.to_string()));
        }
        self.by_family
            .entry(Arc::clone(&entry.family))
            .or_default()
            .insert(key.to_string());
        if value.desired_status == TaskStatus::Stopped {
            self.desired_stopped.insert(key.to_string());
        }
        self.counts.add(value, 1);
        let group = Arc::clone(&entry.group);
        self.entries.insert(key.to_string(), entry);
        self.group_changed(&group);
    }
}

#[derive(Default)]
struct Cluster {
    /// `None` until first read.
    tasks: Option<ClusterTasks>,
    /// Keys written since the index last read them.
    touched: BTreeSet<String>,
}

impl Cluster {
    /// Reads the touched keys again. A key the store could not read, or whose record could
    /// not be decoded, stays touched.
    fn catch_up(&mut self, store: &dyn Store, decoded: &Decoded) -> Result<(), Fault> {
        let Some(tasks) = self.tasks.as_mut() else {
            return Ok(());
        };
        while let Some(key) = self.touched.first().cloned() {
            match store.get(Collection::Tasks, &key)? {
                Some(record) => tasks.learn(decoded, &record)?,
                None => tasks.forget(&key),
            }
            self.touched.remove(&key);
        }
        Ok(())
    }
}

/// A marked key read again (without the index's lock): its version and task, `None` if it
/// was deleted.
struct Reread<'k> {
    cluster: &'k str,
    key: &'k str,
    task: Result<Option<Versioned>, Fault>,
}

/// A stored task's record version, and the task.
type Versioned = (i64, Arc<Cached<Task>>);

fn read_again<'k>(
    store: &dyn Store,
    decoded: &Decoded,
    marked: Vec<(&'k str, &'k str)>,
) -> Vec<Reread<'k>> {
    marked
        .into_iter()
        .map(|(cluster, key)| {
            let task = store
                .get(Collection::Tasks, key)
                .map_err(Fault::from)
                .and_then(|record| {
                    record
                        .map(|record| {
                            let task = decoded.cached::<Task>(Collection::Tasks, &record)?;
                            Ok((record.version, task))
                        })
                        .transpose()
                });
            Reread { cluster, key, task }
        })
        .collect()
}

/// The indexes of every cluster read so far.
#[derive(Default)]
pub struct TaskIndex {
    clusters: Mutex<HashMap<String, Cluster>>,
}

impl TaskIndex {
    fn clusters(&self) -> MutexGuard<'_, HashMap<String, Cluster>> {
        self.clusters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads again the tasks written (and durable) since, in the clusters indexed so far
    /// (clusters never read are left alone), and says whose tasks changed: the machines an
    /// agent's poll must answer again.
    ///
    /// The written keys are marked first, so that a reader from then on reads them itself;
    /// they are read and decoded without the lock (a round's thousands of writes would
    /// otherwise hold every reader up for as long), and put in unless a reader got there first
    /// or a later write's read did: the index never goes back to an older version.
    pub fn touched<'k>(
        &self,
        store: &dyn Store,
        decoded: &Decoded,
        written: impl IntoIterator<Item = (&'k str, &'k str)>,
    ) -> Machines {
        let mut touched = Machines::default();
        let marked = self.mark(written, &mut touched);
        let read = read_again(store, decoded, marked);
        self.put_in(read, &mut touched);
        touched
    }

    /// Marks the written keys of the clusters indexed so far; notes the instances their
    /// tasks are placed on now.
    fn mark<'k>(
        &self,
        written: impl IntoIterator<Item = (&'k str, &'k str)>,
        touched: &mut Machines,
    ) -> Vec<(&'k str, &'k str)> {
        let mut clusters = self.clusters();
        let mut marked = Vec::new();
        for (cluster, key) in written {
            let Some(state) = clusters.get_mut(cluster) else {
                continue;
            };
            let Some(tasks) = &state.tasks else {
                continue;
            };
            if let Some(instance) = tasks.instance_of(key) {
                touched
                    .instances
                    .insert((cluster.to_string(), instance.to_string()));
            }
            state.touched.insert(key.to_string());
            marked.push((cluster, key));
        }
        marked
    }

    /// Puts in what [`read_again`] read, and notes the instances the tasks are placed on
    /// after it.
    fn put_in(&self, read: Vec<Reread<'_>>, touched: &mut Machines) {
        let mut clusters = self.clusters();
        for Reread { cluster, key, task } in read {
            let Some(state) = clusters.get_mut(cluster) else {
                continue;
            };
            let Some(tasks) = state.tasks.as_mut() else {
                continue;
            };
            match task {
                Ok(Some((version, task))) => {
                    // Not held and no longer marked: it was deleted since.
                    if tasks.entries.contains_key(key) || state.touched.contains(key) {
                        tasks.hold(key, version, task);
                    }
                }
                // Deleted keys never come back.
                Ok(None) => tasks.forget(key),
                Err(e) => {
                    tracing::warn!(cluster, error = %e, "reading written tasks again failed; every agent of the cluster is told to look");
                    touched.clusters.insert(cluster.to_string());
                    continue;
                }
            }
            state.touched.remove(key);
            if let Some(instance) = tasks.instance_of(key) {
                touched
                    .instances
                    .insert((cluster.to_string(), instance.to_string()));
            }
            // A cluster left with no tasks (deleted, say) is read again if ever asked for.
            if tasks.entries.is_empty() && state.touched.is_empty() {
                clusters.remove(cluster);
            }
        }
    }

    /// Brings `cluster`'s index up to date and reads from it. The lock is held while records
    /// are read, so concurrent readers wait for one catch-up rather than each doing it.
    fn read<R>(
        &self,
        store: &dyn Store,
        decoded: &Decoded,
        cluster: &str,
        read: impl FnOnce(&ClusterTasks) -> R,
    ) -> Result<R, Fault> {
        let mut clusters = self.clusters();
        let state = clusters.entry(cluster.to_string()).or_default();
        if state.tasks.is_none() {
            let mut tasks = ClusterTasks::default();
            for record in store.list(Collection::Tasks, Some(cluster))? {
                tasks.learn(decoded, &record)?;
            }
            state.tasks = Some(tasks);
            state.touched.clear();
        }
        state.catch_up(store, decoded)?;
        Ok(read(state.tasks.as_ref().expect("built above")))
    }

    /// Every task of `cluster`, in key order.
    pub fn all(
        &self,
        store: &dyn Store,
        decoded: &Decoded,
        cluster: &str,
    ) -> Result<Vec<Arc<Cached<Task>>>, Fault> {
        self.read(store, decoded, cluster, |tasks| {
            tasks
                .entries
                .values()
                .map(|entry| Arc::clone(&entry.task))
                .collect()
        })
    }

    /// The tasks placed on `instance_id` that have yet to stop, in key order.
    pub fn on_instance(
        &self,
        store: &dyn Store,
        decoded: &Decoded,
        cluster: &str,
        instance_id: &str,
    ) -> Result<Vec<Arc<Cached<Task>>>, Fault> {
        self.read(store, decoded, cluster, |tasks| {
            tasks.each(tasks.by_instance.get(instance_id))
        })
    }

    /// The tasks of `group`, stopped ones too, in key order.
    pub fn in_group(
        &self,
        store: &dyn Store,
        decoded: &Decoded,
        cluster: &str,
        group: &str,
    ) -> Result<Vec<Arc<Cached<Task>>>, Fault> {
        self.read(store, decoded, cluster, |tasks| {
            tasks.each(tasks.by_group.get(group))
        })
    }
}

/// Which of a cluster's tasks a listing walks: the fewest the index can name that hold every
/// task the listing may show.
#[derive(Debug, Clone, Copy)]
pub enum Walk<'a> {
    All,
    Group(&'a str),
    /// Placed on the instance (by id) and yet to stop.
    Instance(&'a str),
    Family(&'a str),
    DesiredStopped,
}

impl ClusterTasks {
    /// Calls `visit` with the tasks of `walk` whose keys follow `after`, in key order, until
    /// it returns false.
    fn walk(&self, walk: Walk<'_>, after: Option<&str>, mut visit: impl FnMut(&Task) -> bool) {
        let from = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        let set = match walk {
            Walk::All => {
                for entry in self.entries.range::<str, _>((from, Bound::Unbounded)) {
                    if !visit(&entry.1.task.value) {
                        return;
                    }
                }
                return;
            }
            Walk::Group(group) => self.by_group.get(group),
            Walk::Instance(instance) => self.by_instance.get(instance),
            Walk::Family(family) => self.by_family.get(family),
            Walk::DesiredStopped => Some(&self.desired_stopped),
        };
        for key in set
            .into_iter()
            .flat_map(|keys| keys.range::<str, _>((from, Bound::Unbounded)))
        {
            if let Some(entry) = self.entries.get(key) {
                if !visit(&entry.task.value) {
                    return;
                }
            }
        }
    }
}

impl TaskIndex {
    /// How many of `cluster`'s tasks are in each state ECS counts.
    pub fn counts(
        &self,
        store: &dyn Store,
        decoded: &Decoded,
        cluster: &str,
    ) -> Result<TaskCounts, Fault> {
        self.read(store, decoded, cluster, |tasks| tasks.counts)
    }

    /// Walks `cluster`'s tasks as [`Walk`] says, in key order after `after`, under the index's
    /// lock: a page of a listing copies only what it shows.
    pub fn walk(
        &self,
        store: &dyn Store,
        decoded: &Decoded,
        cluster: &str,
        walk: Walk<'_>,
        after: Option<&str>,
        visit: impl FnMut(&Task) -> bool,
    ) -> Result<(), Fault> {
        self.read(store, decoded, cluster, |tasks| {
            tasks.walk(walk, after, visit)
        })
    }
}

/// What decides which part of a cluster a round reads, found without reading its tasks.
#[derive(Debug, Default)]
pub struct Outline {
    /// The last change of each group asked for, in the order asked (0: it has no tasks).
    pub group_changes: Vec<u64>,
    /// The groups with tasks placed on the instances asked for, stopped or not.
    pub groups_on: BTreeSet<String>,
    /// The keys of the tasks that stopped before the time asked for, with their groups.
    pub stopped_before: Vec<(String, String)>,
    /// When the task that stopped first (and is still kept) stopped.
    pub first_stopped_at: Option<f64>,
}

/// Part of a cluster, as a round over some of its services reads it.
pub struct Part {
    /// The tasks of the groups asked for, those placed on the instances asked for, those on
    /// no instance yet and those draining, in key order.
    pub tasks: Vec<Arc<Cached<Task>>>,
    /// By instance id, what the cluster's other tasks hold there.
    pub held_elsewhere: HashMap<String, Resources>,
    /// The last change of each group asked for (0: it has no tasks), as of `tasks`.
    pub group_changes: HashMap<String, u64>,
}

impl ClusterTasks {
    fn group_change(&self, group: &str) -> u64 {
        self.group_changes.get(group).copied().unwrap_or(0)
    }

    fn outline(&self, groups: &[&str], instances: &[&str], before: f64) -> Outline {
        let before_ms = (before * 1000.0) as i64;
        Outline {
            group_changes: groups.iter().map(|g| self.group_change(g)).collect(),
            groups_on: instances
                .iter()
                .filter_map(|i| self.by_instance.get(*i))
                .flatten()
                .filter_map(|key| self.entries.get(key))
                .map(|entry| entry.group.to_string())
                .collect(),
            stopped_before: self
                .stopped
                .iter()
                .take_while(|(at, _)| *at < before_ms)
                .filter_map(|(_, key)| {
                    let entry = self.entries.get(key)?;
                    Some((key.clone(), entry.group.to_string()))
                })
                .collect(),
            first_stopped_at: self.stopped.first().map(|(at, _)| *at as f64 / 1000.0),
        }
    }

    /// The part of `groups` and `instances`, leaving out (and not counting in what is held
    /// elsewhere) the tasks of `apart`.
    fn part(
        &self,
        groups: &BTreeSet<String>,
        instances: &[&str],
        apart: &BTreeSet<String>,
    ) -> Part {
        let mut keys: BTreeSet<&String> = self.unplaced.iter().collect();
        keys.extend(&self.deactivating);
        for group in groups {
            keys.extend(self.by_group.get(group.as_str()).into_iter().flatten());
        }
        for instance in instances {
            keys.extend(self.by_instance.get(*instance).into_iter().flatten());
        }
        let mut held_elsewhere: HashMap<String, Resources> = self
            .load
            .iter()
            .map(|(instance, load)| (instance.to_string(), *load))
            .collect();
        let mut tasks = Vec::with_capacity(keys.len());
        for (key, entry) in keys
            .into_iter()
            .chain(apart)
            .filter_map(|key| Some((key, self.entries.get(key)?)))
        {
            if let Some((instance, resources)) = &entry.holds {
                if let Some(held) = held_elsewhere.get_mut(instance.as_ref()) {
                    add(held, *resources, -1);
                }
            }
            if !apart.contains(key) {
                tasks.push(Arc::clone(&entry.task));
            }
        }
        held_elsewhere.retain(|_, held| *held != Resources::default());
        Part {
            tasks,
            held_elsewhere,
            group_changes: groups
                .iter()
                .map(|g| (g.clone(), self.group_change(g)))
                .collect(),
        }
    }
}

impl TaskIndex {
    /// What decides which part of `cluster` a round reads: the last change of each of
    /// `groups`, the groups with tasks on `instances`, and the tasks stopped before `before`.
    pub fn outline(
        &self,
        store: &dyn Store,
        decoded: &Decoded,
        cluster: &str,
        groups: &[&str],
        instances: &[&str],
        before: f64,
    ) -> Result<Outline, Fault> {
        self.read(store, decoded, cluster, |tasks| {
            tasks.outline(groups, instances, before)
        })
    }

    /// The part of `cluster` a round over the services of `groups` reads, with what the
    /// rest of the cluster holds on each instance, leaving out the tasks of `apart` (those a
    /// call wrote, which it reads afresh).
    pub fn part(
        &self,
        store: &dyn Store,
        decoded: &Decoded,
        cluster: &str,
        groups: &BTreeSet<String>,
        instances: &[&str],
        apart: &BTreeSet<String>,
    ) -> Result<Part, Fault> {
        self.read(store, decoded, cluster, |tasks| {
            tasks.part(groups, instances, apart)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_store::MemoryStore;

    fn task(store: &MemoryStore, key: &str, instance: Option<&str>, group: &str, last: &str) {
        let last_status = match last {
            "RUNNING" => TaskStatus::Running,
            "PENDING" => TaskStatus::Pending,
            "STOPPED" => TaskStatus::Stopped,
            _ => TaskStatus::Provisioning,
        };
        let doc = serde_json::to_string(&Task {
            task_arn: format!("arn:aws:ecs:r:1:task/c/{key}"),
            container_instance_arn: instance
                .map(|i| format!("arn:aws:ecs:r:1:container-instance/c/{i}")),
            group: group.to_string(),
            desired_status: if last_status == TaskStatus::Stopped {
                TaskStatus::Stopped
            } else {
                TaskStatus::Running
            },
            last_status,
            ..Task::default()
        })
        .unwrap();
        match store.get(Collection::Tasks, key).unwrap() {
            Some(record) => {
                store
                    .update(Collection::Tasks, key, record.version, &doc)
                    .unwrap();
            }
            None => {
                store.insert(Collection::Tasks, key, "c", &doc).unwrap();
            }
        }
    }

    fn keys(tasks: Vec<Arc<Cached<Task>>>) -> Vec<String> {
        tasks
            .iter()
            .map(|t| berth_model::arn::resource_id(&t.value.task_arn).to_string())
            .collect()
    }

    #[test]
    fn tasks_are_found_by_instance_and_group_once_their_writes_are_told() {
        let store = MemoryStore::new();
        task(&store, "t1", Some("i-a"), "service:web", "RUNNING");
        task(&store, "t2", Some("i-b"), "service:web", "PENDING");
        task(&store, "t3", None, "family:batch", "PROVISIONING");
        let index = TaskIndex::default();
        let decoded = Decoded::default();
        assert_eq!(
            keys(index.on_instance(&store, &decoded, "c", "i-a").unwrap()),
            ["t1"]
        );
        assert_eq!(
            keys(
                index
                    .in_group(&store, &decoded, "c", "service:web")
                    .unwrap()
            ),
            ["t1", "t2"]
        );
        assert_eq!(
            keys(
                index
                    .in_group(&store, &decoded, "c", "family:batch")
                    .unwrap()
            ),
            ["t3"]
        );
        assert_eq!(
            keys(index.all(&store, &decoded, "c").unwrap()),
            ["t1", "t2", "t3"]
        );

        // Written but not yet told: not seen.
        task(&store, "t2", Some("i-b"), "service:web", "STOPPED");
        task(&store, "t4", Some("i-a"), "service:web", "PENDING");
        assert_eq!(
            keys(index.on_instance(&store, &decoded, "c", "i-a").unwrap()),
            ["t1"]
        );

        let touched = index.touched(
            &store,
            &decoded,
            [("c", "t2"), ("c", "t4"), ("other", "t9")],
        );
        let machines = |pairs: &[(&str, &str)]| Machines {
            instances: pairs
                .iter()
                .map(|(c, i)| (c.to_string(), i.to_string()))
                .collect(),
            clusters: BTreeSet::new(),
        };
        assert_eq!(
            touched,
            machines(&[("c", "i-a"), ("c", "i-b")]),
            "where t2 was and t4 is"
        );
        assert_eq!(
            keys(index.on_instance(&store, &decoded, "c", "i-a").unwrap()),
            ["t1", "t4"]
        );
        assert!(
            keys(index.on_instance(&store, &decoded, "c", "i-b").unwrap()).is_empty(),
            "a stopped task leaves its instance"
        );
        assert_eq!(
            keys(
                index
                    .in_group(&store, &decoded, "c", "service:web")
                    .unwrap()
            ),
            ["t1", "t2", "t4"]
        );
        let t2 = index.all(&store, &decoded, "c").unwrap()[1].clone();
        assert_eq!(t2.value.last_status, TaskStatus::Stopped, "decoded afresh");

        let t1 = store.get(Collection::Tasks, "t1").unwrap().unwrap();
        store.delete(Collection::Tasks, "t1", t1.version).unwrap();
        assert_eq!(
            index.touched(&store, &decoded, [("c", "t1")]),
            machines(&[("c", "i-a")])
        );
        assert_eq!(
            keys(index.all(&store, &decoded, "c").unwrap()),
            ["t2", "t3", "t4"]
        );
        assert_eq!(
            keys(index.on_instance(&store, &decoded, "c", "i-a").unwrap()),
            ["t4"]
        );
        assert!(index
            .in_group(&store, &decoded, "other", "service:web")
            .unwrap()
            .is_empty());
    }

    fn status_of(index: &TaskIndex, store: &dyn Store, decoded: &Decoded, key: &str) -> TaskStatus {
        index
            .all(store, decoded, "c")
            .unwrap()
            .iter()
            .find(|t| t.value.task_arn.ends_with(&format!("/{key}")))
            .map(|t| t.value.last_status)
            .unwrap()
    }

    #[test]
    fn a_walk_visits_exactly_its_tasks_in_key_order_after_any_key() {
        let store = MemoryStore::new();
        let statuses = [
            (TaskStatus::Running, TaskStatus::Running),
            (TaskStatus::Running, TaskStatus::Pending),
            (TaskStatus::Stopped, TaskStatus::Running),
            (TaskStatus::Stopped, TaskStatus::Stopped),
        ];
        let mut all = Vec::new();
        for i in 0..40usize {
            let (desired, last) = statuses[i % 4];
            let task = Task {
                task_arn: format!("arn:aws:ecs:r:1:task/c/t{i:02}"),
                container_instance_arn: (i % 5 != 0)
                    .then(|| format!("arn:aws:ecs:r:1:container-instance/c/i-{}", i % 3)),
                group: format!("service:s{}", i % 2),
                task_definition_arn: format!("arn:aws:ecs:r:1:task-definition/f{}:1", i % 7 % 2),
                desired_status: desired,
                last_status: last,
                ..Task::default()
            };
            let doc = serde_json::to_string(&task).unwrap();
            store
                .insert(Collection::Tasks, &format!("t{i:02}"), "c", &doc)
                .unwrap();
            all.push(task);
        }
        let index = TaskIndex::default();
        let decoded = Decoded::default();
        let on = |t: &Task, instance: &str| {
            t.container_instance_arn
                .as_deref()
                .is_some_and(|arn| berth_model::arn::resource_id(arn) == instance)
                && !(t.desired_status == TaskStatus::Stopped
                    && t.last_status == TaskStatus::Stopped)
        };
        type Holds = Box<dyn Fn(&Task) -> bool>;
        let walks: Vec<(Walk, Holds)> = vec![
            (Walk::All, Box::new(|_| true)),
            (
                Walk::Group("service:s1"),
                Box::new(|t| t.group == "service:s1"),
            ),
            (Walk::Instance("i-2"), Box::new(move |t| on(t, "i-2"))),
            (
                Walk::Family("f1"),
                Box::new(|t| t.task_definition_arn.ends_with("/f1:1")),
            ),
            (
                Walk::DesiredStopped,
                Box::new(|t| t.desired_status == TaskStatus::Stopped),
            ),
        ];
        let key = |t: &Task| berth_model::arn::resource_id(&t.task_arn).to_string();
        for (walk, holds) in &walks {
            for after in std::iter::once(None).chain(all.iter().map(|t| Some(key(t)))) {
                let expected: Vec<String> = all
                    .iter()
                    .filter(|t| holds(t) && after.as_ref().is_none_or(|a| key(t) > *a))
                    .map(key)
                    .collect();
                let mut visited = Vec::new();
                index
                    .walk(&store, &decoded, "c", *walk, after.as_deref(), |t| {
                        visited.push(key(t));
                        true
                    })
                    .unwrap();
                assert_eq!(visited, expected, "{walk:?} after {after:?}");
                let mut first_three = Vec::new();
                index
                    .walk(&store, &decoded, "c", *walk, after.as_deref(), |t| {
                        first_three.push(key(t));
                        first_three.len() < 3
                    })
                    .unwrap();
                assert_eq!(first_three, expected[..expected.len().min(3)]);
            }
        }

        // The counts kept follow every change, as counting the tasks again would.
        assert_eq!(
            index.counts(&store, &decoded, "c").unwrap(),
            TaskCounts::of(&all)
        );
        for i in [1usize, 2, 5] {
            let key = format!("t{i:02}");
            all[i].last_status = TaskStatus::Stopped;
            all[i].desired_status = TaskStatus::Stopped;
            let record = store.get(Collection::Tasks, &key).unwrap().unwrap();
            let doc = serde_json::to_string(&all[i]).unwrap();
            store
                .update(Collection::Tasks, &key, record.version, &doc)
                .unwrap();
            index.touched(&store, &decoded, [("c", key.as_str())]);
        }
        let removed = all.remove(0);
        let record = store.get(Collection::Tasks, "t00").unwrap().unwrap();
        store
            .delete(Collection::Tasks, "t00", record.version)
            .unwrap();
        index.touched(&store, &decoded, [("c", "t00")]);
        assert_eq!(removed.task_arn, "arn:aws:ecs:r:1:task/c/t00");
        assert_eq!(
            index.counts(&store, &decoded, "c").unwrap(),
            TaskCounts::of(&all)
        );
    }

    #[test]
    fn a_part_holds_its_groups_tasks_and_what_the_others_hold_on_each_machine() {
        let store = MemoryStore::new();
        let put = |key: &str, instance: Option<&str>, group: &str, status, reserved: (i64, i64)| {
            let doc = serde_json::to_string(&Task {
                task_arn: format!("arn:aws:ecs:r:1:task/c/{key}"),
                container_instance_arn: instance
                    .map(|i| format!("arn:aws:ecs:r:1:container-instance/c/{i}")),
                group: group.to_string(),
                desired_status: status,
                last_status: status,
                cpu: Some(reserved.0.to_string()),
                memory: Some(reserved.1.to_string()),
                stopped_at: (status == TaskStatus::Stopped).then_some(100.0),
                ..Task::default()
            })
            .unwrap();
            match store.get(Collection::Tasks, key).unwrap() {
                Some(record) => store
                    .update(Collection::Tasks, key, record.version, &doc)
                    .map(drop),
                None => store.insert(Collection::Tasks, key, "c", &doc).map(drop),
            }
            .unwrap();
        };
        put(
            "t1",
            Some("i-a"),
            "service:web",
            TaskStatus::Running,
            (256, 512),
        );
        put(
            "t2",
            Some("i-a"),
            "service:api",
            TaskStatus::Running,
            (128, 256),
        );
        put(
            "t3",
            Some("i-b"),
            "service:api",
            TaskStatus::Running,
            (128, 256),
        );
        put(
            "t4",
            None,
            "family:batch",
            TaskStatus::Provisioning,
            (64, 64),
        );
        put(
            "t5",
            Some("i-b"),
            "service:web",
            TaskStatus::Stopped,
            (256, 512),
        );
        let index = TaskIndex::default();
        let decoded = Decoded::default();
        let part = |groups: &[&str], instances: &[&str]| {
            let groups = groups.iter().map(|g| g.to_string()).collect();
            index
                .part(&store, &decoded, "c", &groups, instances, &BTreeSet::new())
                .unwrap()
        };
        let held = |cpu, memory| Resources { cpu, memory };

        let web = part(&["service:web"], &[]);
        assert_eq!(
            keys(web.tasks),
            ["t1", "t4", "t5"],
            "its group and the unplaced"
        );
        assert_eq!(
            web.held_elsewhere,
            HashMap::from([
                ("i-a".into(), held(128, 256)),
                ("i-b".into(), held(128, 256))
            ]),
            "a stopped task holds nothing"
        );
        let on_b = part(&[], &["i-b"]);
        assert_eq!(keys(on_b.tasks), ["t3", "t4"]);
        assert_eq!(
            on_b.held_elsewhere,
            HashMap::from([("i-a".into(), held(384, 768))])
        );

        let outline = |before| {
            index
                .outline(
                    &store,
                    &decoded,
                    "c",
                    &["service:web", "service:api", "service:gone"],
                    &["i-a"],
                    before,
                )
                .unwrap()
        };
        let first = outline(200.0);
        assert!(first.group_changes[0] > 0 && first.group_changes[1] > 0);
        assert_eq!(first.group_changes[2], 0, "a group without tasks");
        assert_eq!(
            first.groups_on,
            BTreeSet::from(["service:api".to_string(), "service:web".to_string()])
        );
        assert_eq!(
            first.stopped_before,
            [("t5".to_string(), "service:web".to_string())]
        );
        assert_eq!(first.first_stopped_at, Some(100.0));
        assert!(
            outline(100.0).stopped_before.is_empty(),
            "stopped at, not before"
        );

        // A change to one of api's tasks moves api's number alone; one that frees a
        // machine shows in what is held there.
        put(
            "t3",
            Some("i-b"),
            "service:api",
            TaskStatus::Stopped,
            (128, 256),
        );
        index.touched(&store, &decoded, [("c", "t3")]);
        let second = outline(200.0);
        assert_eq!(second.group_changes[0], first.group_changes[0]);
        assert!(second.group_changes[1] > first.group_changes[1]);
        let freed = part(&["service:web"], &[]).held_elsewhere;
        assert!(!freed.contains_key("i-b"), "{freed:?}");

        // A draining task is in every part, whatever its group: its drain must finish.
        put(
            "t6",
            Some("i-b"),
            "service:gone",
            TaskStatus::Deactivating,
            (1, 1),
        );
        index.touched(&store, &decoded, [("c", "t6")]);
        assert_eq!(
            keys(part(&["service:web"], &[]).tasks),
            ["t1", "t4", "t5", "t6"]
        );
    }

    #[test]
    fn a_cluster_left_without_tasks_is_dropped_from_the_index() {
        let store = MemoryStore::new();
        task(&store, "t1", Some("i-a"), "service:web", "RUNNING");
        let (index, decoded) = (TaskIndex::default(), Decoded::default());
        assert_eq!(keys(index.all(&store, &decoded, "c").unwrap()), ["t1"]);
        let t1 = store.get(Collection::Tasks, "t1").unwrap().unwrap();
        store.delete(Collection::Tasks, "t1", t1.version).unwrap();
        index.touched(&store, &decoded, [("c", "t1")]);
        assert!(index.clusters().is_empty());
        assert!(index.all(&store, &decoded, "c").unwrap().is_empty());
    }

    #[test]
    fn a_publisher_never_puts_back_an_older_version_than_a_later_publisher_put() {
        let store = MemoryStore::new();
        task(&store, "t1", Some("i-a"), "service:web", "PENDING");
        let (index, decoded) = (TaskIndex::default(), Decoded::default());
        assert_eq!(
            status_of(&index, &store, &decoded, "t1"),
            TaskStatus::Pending
        );
        task(&store, "t1", Some("i-a"), "service:web", "RUNNING");
        let mut touched = Machines::default();
        let read = read_again(&store, &decoded, index.mark([("c", "t1")], &mut touched));
        // Between this publisher's read (RUNNING) and its putting it in, the task stops and
        // that write is published.
        task(&store, "t1", Some("i-a"), "service:web", "STOPPED");
        index.touched(&store, &decoded, [("c", "t1")]);
        index.put_in(read, &mut touched);
        assert_eq!(
            status_of(&index, &store, &decoded, "t1"),
            TaskStatus::Stopped
        );
    }

    #[test]
    fn a_reader_while_written_tasks_are_read_again_reads_them_itself() {
        let store = MemoryStore::new();
        task(&store, "t1", Some("i-a"), "service:web", "RUNNING");
        let (index, decoded) = (TaskIndex::default(), Decoded::default());
        assert!(index
            .on_instance(&store, &decoded, "c", "i-b")
            .unwrap()
            .is_empty());
        task(&store, "t2", Some("i-b"), "service:web", "PENDING");
        let mut touched = Machines::default();
        let marked = index.mark([("c", "t2")], &mut touched);
        assert_eq!(
            keys(index.on_instance(&store, &decoded, "c", "i-b").unwrap()),
            ["t2"],
            "read by the reader itself"
        );
        index.put_in(read_again(&store, &decoded, marked), &mut touched);
        assert!(touched
            .instances
            .contains(&("c".to_string(), "i-b".to_string())));
        assert_eq!(
            keys(index.on_instance(&store, &decoded, "c", "i-b").unwrap()),
            ["t2"]
        );
    }
}
