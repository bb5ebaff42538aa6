//! Which tasks of a cluster are on which instance and in which group (a service's tasks, or
//! a RunTask `group`): what an agent's poll and ListTasks of one service read instead of
//! every task in the cluster.
//!
//! A cluster's index is built from its stored tasks when first asked for, then kept up to
//! date key by key: every published write to a task marks its key ([`TaskIndex::touched`],
//! called after the write is durable), and the next reader reads those records again before
//! it answers. So a reader's cost grows with what changed, not with the cluster. A call's
//! own writes are published when it ends: within the call that made them, the index does not
//! show them yet. Readers get the keys of tasks and read each task itself from the store.

use super::record::Fault;
use berth_model::status::TaskStatus;
use berth_store::{Collection, Record, Store};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The part of a stored task the index needs: read without decoding the rest.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Placement {
    container_instance_arn: Option<String>,
    group: String,
    desired_status: TaskStatus,
    last_status: TaskStatus,
}

struct Entry {
    /// The instance id, for a placed task that has yet to stop.
    instance: Option<Arc<str>>,
    group: Arc<str>,
}

/// One cluster's tasks by instance and by group.
#[derive(Default)]
struct ClusterTasks {
    entries: HashMap<String, Entry>,
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

    fn learn(&mut self, record: &Record) -> Result<(), Fault> {
        self.forget(&record.key);
        let placement: Placement =
            serde_json::from_str(&record.doc).map_err(|source| Fault::Corrupt {
                key: record.key.clone(),
                source,
            })?;
        let stopped = placement.desired_status == TaskStatus::Stopped
            && placement.last_status == TaskStatus::Stopped;
        let entry = Entry {
            instance: placement
                .container_instance_arn
                .filter(|_| !stopped)
                .map(|arn| Arc::from(berth_model::arn::resource_id(&arn))),
            group: Arc::from(placement.group),
        };
        if let Some(instance) = &entry.instance {
            self.by_instance
                .entry(Arc::clone(instance))
                .or_default()
                .insert(record.key.clone());
        }
        self.by_group
            .entry(Arc::clone(&entry.group))
            .or_default()
            .insert(record.key.clone());
        self.entries.insert(record.key.clone(), entry);
        Ok(())
    }
}

#[derive(Default)]
struct Cluster {
    /// `None` until first read.
    tasks: Option<ClusterTasks>,
    /// Keys written since the index last read them.
    touched: BTreeSet<String>,
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

    /// Marks tasks written (and durable) since: the next reader of their cluster reads them
    /// again. Clusters never read are left alone.
    pub fn touched<'k>(&self, written: impl IntoIterator<Item = (&'k str, &'k str)>) {
        let mut clusters = self.clusters();
        for (cluster, key) in written {
            if let Some(state) = clusters.get_mut(cluster) {
                state.touched.insert(key.to_string());
            }
        }
    }

    /// Brings `cluster`'s index up to date and reads from it. The lock is held while records
    /// are read, so concurrent readers wait for one catch-up rather than each doing it.
    fn read<R>(
        &self,
        store: &dyn Store,
        cluster: &str,
        read: impl FnOnce(&ClusterTasks) -> R,
    ) -> Result<R, Fault> {
        let mut clusters = self.clusters();
        let state = clusters.entry(cluster.to_string()).or_default();
        if state.tasks.is_none() {
            let mut tasks = ClusterTasks::default();
            for record in store.list(Collection::Tasks, Some(cluster))? {
                tasks.learn(&record)?;
            }
            state.tasks = Some(tasks);
            state.touched.clear();
        }
        let tasks = state.tasks.as_mut().expect("built above");
        for key in std::mem::take(&mut state.touched) {
            match store.get(Collection::Tasks, &key)? {
                Some(record) => tasks.learn(&record)?,
                None => tasks.forget(&key),
            }
        }
        Ok(read(tasks))
    }

    /// The keys of the tasks placed on `instance_id` that have yet to stop, in key order.
    pub fn on_instance(
        &self,
        store: &dyn Store,
        cluster: &str,
        instance_id: &str,
    ) -> Result<Vec<String>, Fault> {
        self.read(store, cluster, |tasks| {
            tasks
                .by_instance
                .get(instance_id)
                .map(|keys| keys.iter().cloned().collect())
                .unwrap_or_default()
        })
    }

    /// The keys of the tasks of `group`, stopped ones too, in key order.
    pub fn in_group(
        &self,
        store: &dyn Store,
        cluster: &str,
        group: &str,
    ) -> Result<Vec<String>, Fault> {
        self.read(store, cluster, |tasks| {
            tasks
                .by_group
                .get(group)
                .map(|keys| keys.iter().cloned().collect())
                .unwrap_or_default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_store::MemoryStore;
    use serde_json::json;

    fn task(store: &MemoryStore, key: &str, instance: Option<&str>, group: &str, last: &str) {
        let doc = json!({
            "containerInstanceArn": instance.map(|i| format!("arn:aws:ecs:r:1:container-instance/c/{i}")),
            "group": group,
            "desiredStatus": if last == "STOPPED" { "STOPPED" } else { "RUNNING" },
            "lastStatus": last,
        })
        .to_string();
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

    #[test]
    fn tasks_are_found_by_instance_and_group_once_their_writes_are_told() {
        let store = MemoryStore::new();
        task(&store, "t1", Some("i-a"), "service:web", "RUNNING");
        task(&store, "t2", Some("i-b"), "service:web", "PENDING");
        task(&store, "t3", None, "family:batch", "PROVISIONING");
        let index = TaskIndex::default();
        assert_eq!(index.on_instance(&store, "c", "i-a").unwrap(), ["t1"]);
        assert_eq!(
            index.in_group(&store, "c", "service:web").unwrap(),
            ["t1", "t2"]
        );
        assert_eq!(index.in_group(&store, "c", "family:batch").unwrap(), ["t3"]);

        // Written but not yet told: not seen.
        task(&store, "t2", Some("i-b"), "service:web", "STOPPED");
        task(&store, "t4", Some("i-a"), "service:web", "PENDING");
        assert_eq!(index.on_instance(&store, "c", "i-a").unwrap(), ["t1"]);

        index.touched([("c", "t2"), ("c", "t4"), ("other", "t9")]);
        assert_eq!(index.on_instance(&store, "c", "i-a").unwrap(), ["t1", "t4"]);
        assert!(
            index.on_instance(&store, "c", "i-b").unwrap().is_empty(),
            "a stopped task leaves its instance"
        );
        assert_eq!(
            index.in_group(&store, "c", "service:web").unwrap(),
            ["t1", "t2", "t4"]
        );

        let t1 = store.get(Collection::Tasks, "t1").unwrap().unwrap();
        store.delete(Collection::Tasks, "t1", t1.version).unwrap();
        index.touched([("c", "t1")]);
        assert_eq!(index.on_instance(&store, "c", "i-a").unwrap(), ["t4"]);
        assert!(index
            .in_group(&store, "other", "service:web")
            .unwrap()
            .is_empty());
    }
}
