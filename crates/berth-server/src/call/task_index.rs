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

use super::decoded::{Cached, Decoded};
use super::record::Fault;
use crate::wake::Machines;
use berth_model::resources::Task;
use berth_model::status::TaskStatus;
use berth_store::{Collection, Record, Store};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

struct Entry {
    task: Arc<Cached<Task>>,
    /// The stored record's version: a read older than what the index holds is not applied.
    version: i64,
    /// The instance id, for a placed task that has yet to stop.
    instance: Option<Arc<str>>,
    group: Arc<str>,
}

/// One cluster's tasks by key, by instance and by group.
#[derive(Default)]
struct ClusterTasks {
    entries: BTreeMap<String, Entry>,
    by_instance: HashMap<Arc<str>, BTreeSet<String>>,
    by_group: HashMap<Arc<str>, BTreeSet<String>>,
}

impl ClusterTasks {
    fn forget(&mut self, key: &str) {
        let Some(entry) = self.entries.remove(key) else {
            return;
        };
        if let Some(instance) = &entry.instance {
            if let Some(keys) = self.by_instance.get_mut(instance) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_instance.remove(instance);
                }
            }
        }
        if let Some(keys) = self.by_group.get_mut(&entry.group) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_group.remove(&entry.group);
            }
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
        let stopped = task.value.desired_status == TaskStatus::Stopped
            && task.value.last_status == TaskStatus::Stopped;
        let entry = Entry {
            instance: task
                .value
                .container_instance_arn
                .as_deref()
                .filter(|_| !stopped)
                .map(|arn| Arc::from(berth_model::arn::resource_id(arn))),
            group: Arc::from(task.value.group.as_str()),
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
        self.entries.insert(key.to_string(), entry);
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
