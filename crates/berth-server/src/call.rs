//! What a handler may use, and nothing else: [`Call`] — the store, the time, who is calling,
//! where new ids come from, the agents' presence (and the readers waiting on them), the data plane's live view and the vault
//! that seals secret values. Every
//! handler of every API is a synchronous function of a `Call` and its typed request, so each
//! is tested without sockets, clocks or randomness.
//!
//! Reads decode through [`Decoded`], which keeps each record's decoded value (and, once asked,
//! its JSON rendering) for as long as the stored text stays byte-for-byte the same. Writes go
//! through [`Call::modify`], a read-modify-write loop that retries on version conflicts, so
//! concurrent requests never lose each other's changes, and that writes nothing when the
//! document comes out unchanged. Every write is recorded in the call's [`Changes`]; whoever
//! made the call publishes them ([`Wakes::publish`]) once the write is durable, so that the
//! controller, the balancer and the agents of a cluster each wake for what concerns them.

mod decoded;
mod ids;
mod record;
mod task_index;

pub use decoded::{Cached, Resource};
pub use ids::Ids;
pub use record::{to_doc, to_value, Fault};
use task_index::TaskIndex;
pub use task_index::{Outline, Part, TaskCounts, Walk};

use crate::data_plane::DataPlane;
use crate::output_requests::OutputRequests;
use crate::presence::Presence;
use crate::prometheus::Metrics;
use crate::usage::Usage;
use crate::wake::{ChangeSet, Wakes};
use berth_logs::store::{LogStore, MemoryLogStore};
use berth_metrics::store::{MemoryMetricStore, MetricStore};
use berth_model::resources::Task;
use berth_model::status::TaskStatus;
use berth_model::Arns;
use berth_secrets::Vault;
use berth_store::{Collection, Record, Store, StoreError};
use decoded::Decoded;
use serde::Serialize;
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

/// Who is calling, as proven by the request signature (or the server itself).
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key_id: String,
}

impl Caller {
    /// The server acting on its own: the controller, the balancer, start-up.
    pub fn system() -> Self {
        Self {
            access_key_id: "berth".into(),
        }
    }
}

/// What every call shares for the life of the server.
pub struct Context {
    store: Arc<dyn Store>,
    arns: Arns,
    decoded: Decoded,
    presence: Presence,
    output_requests: Arc<OutputRequests>,
    data_plane: Arc<dyn DataPlane>,
    ids: Ids,
    wakes: Arc<Wakes>,
    vault: Arc<Vault>,
    logs: Arc<dyn LogStore>,
    metrics: Arc<dyn MetricStore>,
    usage: Arc<Usage>,
    prometheus: Arc<Metrics>,
    task_index: TaskIndex,
}

impl Context {
    /// A context over `store` with no data plane behind it (no group holds any target), ids
    /// from the operating system's entropy, and its own wakes.
    pub fn new(store: Arc<dyn Store>, arns: Arns) -> Self {
        let usage = Arc::new(Usage::default());
        Self {
            store,
            arns,
            decoded: Decoded::default(),
            presence: Presence::new(0.0),
            output_requests: Arc::default(),
            data_plane: Arc::new(crate::data_plane::Unbalanced),
            ids: Ids::from_entropy(),
            wakes: Arc::default(),
            vault: Arc::new(Vault::ephemeral()),
            logs: Arc::new(MemoryLogStore::default()),
            metrics: Arc::new(MemoryMetricStore::default()),
            usage: Arc::clone(&usage),
            prometheus: Arc::new(Metrics::new(usage)),
            task_index: TaskIndex::default(),
        }
    }

    /// What running tasks use, as their agents last reported it.
    pub fn usage(&self) -> &Arc<Usage> {
        &self.usage
    }

    /// The server's Prometheus metrics.
    pub fn prometheus(&self) -> &Arc<Metrics> {
        &self.prometheus
    }

    /// This context keeping logs in `logs` (a new context keeps them in memory).
    pub fn with_logs(mut self, logs: Arc<dyn LogStore>) -> Self {
        self.logs = logs;
        self
    }

    pub fn logs(&self) -> &Arc<dyn LogStore> {
        &self.logs
    }

    /// This context keeping metrics in `metrics` (a new context keeps them in memory).
    pub fn with_metrics(mut self, metrics: Arc<dyn MetricStore>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The metric store: what CloudWatch's API reads and writes, and where Berth's own
    /// metrics are put (`MetricStore::put`, a batch of datapoints in one commit).
    pub fn metrics(&self) -> &Arc<dyn MetricStore> {
        &self.metrics
    }

    /// This context sealing values under `vault`'s master key (a new context has a key of
    /// its own that nothing outside it knows).
    pub fn with_vault(mut self, vault: Arc<Vault>) -> Self {
        self.vault = vault;
        self
    }

    pub fn with_data_plane(mut self, data_plane: Arc<dyn DataPlane>) -> Self {
        self.data_plane = data_plane;
        self
    }

    /// This context counting `at` as when it started: every agent's sighting until it polls
    /// (a new context started at the epoch, so an agent is connected only once it polled).
    pub fn started_at(mut self, at: f64) -> Self {
        self.presence = Presence::new(at);
        self
    }

    /// This context with ids from `ids` (a seeded source makes them reproducible).
    pub fn with_ids(mut self, ids: Ids) -> Self {
        self.ids = ids;
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn arns(&self) -> &Arns {
        &self.arns
    }

    /// Readers waiting for output that only an agent's machine keeps.
    pub fn output_requests(&self) -> &Arc<OutputRequests> {
        &self.output_requests
    }

    pub fn wakes(&self) -> &Arc<Wakes> {
        &self.wakes
    }

    /// Runs `work` as `caller` with its writes recorded in `changes`, which the caller
    /// publishes once they are durable.
    pub fn call<R>(
        &self,
        caller: &Caller,
        now: f64,
        changes: &Changes,
        work: impl FnOnce(&Call<'_>) -> R,
    ) -> R {
        work(&Call {
            cx: self,
            caller,
            now,
            changes,
        })
    }

    /// Runs `work` as the server itself and publishes its writes when it returns: outside a
    /// [`Store::batch`] every write is durable when it returns.
    pub fn as_system<R>(&self, now: f64, work: impl FnOnce(&Call<'_>) -> R) -> R {
        let changes = self.publishing();
        self.call(&Caller::system(), now, &changes, work)
    }

    /// Changes to record writes in, published when dropped however the work ends: writes
    /// committed before a panic are still read again by the index of tasks and rung.
    pub fn publishing(&self) -> Publishing<'_> {
        Publishing {
            cx: self,
            changes: Changes::default(),
        }
    }

    /// Tells whom `changes` concern: the index of tasks, then the bells (the agents' by
    /// what the index says of whose tasks changed). Call it once the changes are durable.
    pub fn publish(&self, changes: &crate::wake::ChangeSet) {
        let machines = self
            .task_index
            .touched(self.store.as_ref(), &self.decoded, changes.tasks());
        self.wakes.publish(changes, &machines);
    }
}

/// See [`Context::publishing`].
pub struct Publishing<'a> {
    cx: &'a Context,
    changes: Changes,
}

impl std::ops::Deref for Publishing<'_> {
    type Target = Changes;

    fn deref(&self) -> &Changes {
        &self.changes
    }
}

impl Drop for Publishing<'_> {
    fn drop(&mut self) {
        self.cx.publish(&self.changes.take());
    }
}

/// The writes of one call or batch of calls, by collection and scope.
#[derive(Default)]
pub struct Changes(Mutex<ChangeSet>);

impl Changes {
    fn record(&self, collection: Collection, scope: &str, key: &str) {
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match collection {
            Collection::Tasks => set.record_task(scope, key),
            _ => set.record(collection, scope),
        }
    }

    /// The keys of `cluster`'s tasks written so far.
    fn tasks_of(&self, cluster: &str) -> Vec<String> {
        let set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        set.tasks_of(cluster).map(str::to_string).collect()
    }

    /// Everything recorded so far, leaving nothing behind.
    pub fn take(&self) -> ChangeSet {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Everything one call may read and write (see the module's docs).
pub struct Call<'a> {
    cx: &'a Context,
    caller: &'a Caller,
    now: f64,
    changes: &'a Changes,
}

impl Call<'_> {
    pub fn arns(&self) -> &Arns {
        &self.cx.arns
    }

    /// The time the call is handled at, in seconds since the Unix epoch.
    pub fn now(&self) -> f64 {
        self.now
    }

    pub fn caller(&self) -> &Caller {
        self.caller
    }

    pub fn ids(&self) -> &Ids {
        &self.cx.ids
    }

    pub fn presence(&self) -> &Presence {
        &self.cx.presence
    }

    pub fn output_requests(&self) -> &Arc<OutputRequests> {
        &self.cx.output_requests
    }

    pub fn data_plane(&self) -> &dyn DataPlane {
        self.cx.data_plane.as_ref()
    }

    /// Seals and opens secret values under the master key.
    pub fn vault(&self) -> &Vault {
        &self.cx.vault
    }

    /// What running tasks use, as their agents last reported it.
    pub fn usage(&self) -> &Usage {
        &self.cx.usage
    }

    /// Counts what the call did, for `/metrics`.
    pub fn prometheus(&self) -> &Metrics {
        &self.cx.prometheus
    }

    /// The log store, apart from the state store.
    pub fn logs(&self) -> &dyn LogStore {
        self.cx.logs.as_ref()
    }

    /// The metric store, apart from the state store.
    pub fn metrics(&self) -> &dyn MetricStore {
        self.cx.metrics.as_ref()
    }

    /// The log store, for work that outlives the call (a live tail).
    pub fn logs_shared(&self) -> Arc<dyn LogStore> {
        Arc::clone(&self.cx.logs)
    }

    fn store(&self) -> &dyn Store {
        self.cx.store.as_ref()
    }

    pub fn get<T: Resource>(&self, collection: Collection, key: &str) -> Result<Option<T>, Fault> {
        self.store()
            .get(collection, key)?
            .map(|record| self.cx.decoded.decode(collection, &record))
            .transpose()
    }

    /// Like [`Call::get`], but shared with the decode cache instead of cloned, with the
    /// rendered JSON at hand (see [`Cached::json`]).
    pub fn get_cached<T: Resource>(
        &self,
        collection: Collection,
        key: &str,
    ) -> Result<Option<Arc<Cached<T>>>, Fault> {
        self.store()
            .get(collection, key)?
            .map(|record| self.cx.decoded.cached(collection, &record))
            .transpose()
    }

    /// Every task of `cluster`, in key order, from the index kept in memory (see
    /// `call::task_index`) and shared with the decode cache: what was last published, with
    /// this call's (or its batch's) own writes read afresh.
    pub fn cluster_tasks(&self, cluster: &str) -> Result<Vec<Arc<Cached<Task>>>, Fault> {
        let indexed = self
            .cx
            .task_index
            .all(self.store(), &self.cx.decoded, cluster)?;
        self.with_own_writes(cluster, indexed, |_| true)
    }

    /// `cluster`'s tasks placed on `instance_id` that have yet to stop, in key order (as
    /// [`Call::cluster_tasks`]).
    pub fn tasks_on_instance(
        &self,
        cluster: &str,
        instance_id: &str,
    ) -> Result<Vec<Arc<Cached<Task>>>, Fault> {
        let indexed =
            self.cx
                .task_index
                .on_instance(self.store(), &self.cx.decoded, cluster, instance_id)?;
        self.with_own_writes(cluster, indexed, |task| {
            !(task.desired_status == TaskStatus::Stopped && task.last_status == TaskStatus::Stopped)
                && task
                    .container_instance_arn
                    .as_deref()
                    .is_some_and(|arn| berth_model::arn::resource_id(arn) == instance_id)
        })
    }

    /// `cluster`'s tasks in `group`, stopped ones too, in key order (as
    /// [`Call::cluster_tasks`]).
    pub fn tasks_in_group(
        &self,
        cluster: &str,
        group: &str,
    ) -> Result<Vec<Arc<Cached<Task>>>, Fault> {
        let indexed =
            self.cx
                .task_index
                .in_group(self.store(), &self.cx.decoded, cluster, group)?;
        self.with_own_writes(cluster, indexed, |task| task.group == group)
    }

    /// How many of `cluster`'s tasks are in each state ECS counts (as [`Call::cluster_tasks`]).
    pub fn task_counts(&self, cluster: &str) -> Result<TaskCounts, Fault> {
        if self.changes.tasks_of(cluster).is_empty() {
            return self
                .cx
                .task_index
                .counts(self.store(), &self.cx.decoded, cluster);
        }
        let tasks = self.cluster_tasks(cluster)?;
        Ok(TaskCounts::of(tasks.iter().map(|t| &t.value)))
    }

    /// Calls `visit` with `cluster`'s tasks that `walk` names, in key order after the key
    /// `after`, until it returns false: a listing's page without copying the cluster. Tasks
    /// this call wrote are read afresh (then every task is walked).
    pub fn walk_tasks(
        &self,
        cluster: &str,
        walk: Walk<'_>,
        after: Option<&str>,
        mut visit: impl FnMut(&Task) -> bool,
    ) -> Result<(), Fault> {
        if self.changes.tasks_of(cluster).is_empty() {
            return self.cx.task_index.walk(
                self.store(),
                &self.cx.decoded,
                cluster,
                walk,
                after,
                visit,
            );
        }
        for task in self.cluster_tasks(cluster)? {
            let key = berth_model::arn::resource_id(&task.value.task_arn);
            if after.is_some_and(|after| key <= after) {
                continue;
            }
            if !visit(&task.value) {
                break;
            }
        }
        Ok(())
    }

    /// What decides which part of `cluster` a round reads (see `call::task_index`), as
    /// last published.
    pub fn tasks_outline(
        &self,
        cluster: &str,
        groups: &[&str],
        instances: &[&str],
        stopped_before: f64,
    ) -> Result<Outline, Fault> {
        self.cx.task_index.outline(
            self.store(),
            &self.cx.decoded,
            cluster,
            groups,
            instances,
            stopped_before,
        )
    }

    /// The tasks of `cluster` in `groups`, on `instances`, on no instance yet or draining,
    /// with what its other tasks hold on each instance (as [`Call::cluster_tasks`]: the tasks
    /// this call wrote are read afresh, in the part if of its groups, else held elsewhere).
    pub fn cluster_part(
        &self,
        cluster: &str,
        groups: &BTreeSet<String>,
        instances: &[&str],
    ) -> Result<Part, Fault> {
        let own: BTreeSet<String> = self.changes.tasks_of(cluster).into_iter().collect();
        let mut part = self.cx.task_index.part(
            self.store(),
            &self.cx.decoded,
            cluster,
            groups,
            instances,
            &own,
        )?;
        let listed: HashSet<String> = part
            .tasks
            .iter()
            .map(|t| berth_model::arn::resource_id(&t.value.task_arn).to_string())
            .collect();
        part.tasks = self.with_own_writes(cluster, part.tasks, |task| {
            groups.contains(&task.group)
                || listed.contains(berth_model::arn::resource_id(&task.task_arn))
        })?;
        let in_part: HashSet<&str> = part
            .tasks
            .iter()
            .map(|t| berth_model::arn::resource_id(&t.value.task_arn))
            .collect();
        let mut held_too: Vec<(String, (i64, i64))> = Vec::new();
        for key in own.iter().filter(|key| !in_part.contains(key.as_str())) {
            let Some(task) = self.get_cached::<Task>(Collection::Tasks, key)? else {
                continue;
            };
            let task = &task.value;
            if let (Some(arn), false) = (
                &task.container_instance_arn,
                task.last_status == TaskStatus::Stopped,
            ) {
                held_too.push((
                    berth_model::arn::resource_id(arn).to_string(),
                    task.reserved(),
                ));
            }
        }
        for (instance, (cpu, memory)) in held_too {
            let held = part.held_elsewhere.entry(instance).or_default();
            held.cpu += cpu;
            held.memory += memory;
        }
        Ok(part)
    }

    /// `indexed` with the tasks this call wrote in `cluster` read again from the store (where
    /// a batch sees its own writes): those that `belongs` says of as they are now take their
    /// indexed versions' places, or join them; the rest leave.
    fn with_own_writes(
        &self,
        cluster: &str,
        indexed: Vec<Arc<Cached<Task>>>,
        belongs: impl Fn(&Task) -> bool,
    ) -> Result<Vec<Arc<Cached<Task>>>, Fault> {
        let own = self.changes.tasks_of(cluster);
        if own.is_empty() {
            return Ok(indexed);
        }
        let mut fresh = Vec::with_capacity(own.len());
        for written in &own {
            if let Some(task) = self.get_cached::<Task>(Collection::Tasks, written)? {
                if belongs(&task.value) {
                    fresh.push(task);
                }
            }
        }
        // Both in key order: merged in one pass, the list not sorted again.
        fn key(task: &Arc<Cached<Task>>) -> &str {
            berth_model::arn::resource_id(&task.value.task_arn)
        }
        let is_own = |id: &str| own.binary_search_by(|k| k.as_str().cmp(id)).is_ok();
        let mut merged = Vec::with_capacity(indexed.len() + fresh.len());
        let mut fresh = fresh.into_iter().peekable();
        for task in indexed {
            if is_own(key(&task)) {
                continue;
            }
            while let Some(written) = fresh.next_if(|f| key(f) < key(&task)) {
                merged.push(written);
            }
            merged.push(task);
        }
        merged.extend(fresh);
        Ok(merged)
    }

    /// Whether a record exists, without decoding it.
    pub fn exists(&self, collection: Collection, key: &str) -> Result<bool, Fault> {
        Ok(self.store().get(collection, key)?.is_some())
    }

    pub fn list<T: Resource>(
        &self,
        collection: Collection,
        scope: Option<&str>,
    ) -> Result<Vec<T>, Fault> {
        self.store()
            .list(collection, scope)?
            .iter()
            .map(|record| self.cx.decoded.decode(collection, record))
            .collect()
    }

    /// Like [`Call::list`], but shared with the decode cache instead of cloned.
    pub fn list_cached<T: Resource>(
        &self,
        collection: Collection,
        scope: Option<&str>,
    ) -> Result<Vec<Arc<Cached<T>>>, Fault> {
        self.store()
            .list(collection, scope)?
            .iter()
            .map(|record| self.cx.decoded.cached(collection, record))
            .collect()
    }

    pub fn insert<T: Serialize>(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        value: &T,
    ) -> Result<(), Fault> {
        self.store()
            .insert(collection, key, scope, &to_doc(value))?;
        self.changes.record(collection, scope, key);
        Ok(())
    }

    /// Inserts a record unless one with the key exists. `Ok(false)` when one did.
    pub fn insert_new<T: Serialize>(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        value: &T,
    ) -> Result<bool, Fault> {
        match self.store().insert(collection, key, scope, &to_doc(value)) {
            Ok(_) => {
                self.changes.record(collection, scope, key);
                Ok(true)
            }
            Err(StoreError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The next revision of a task definition family, built by `build` (see
    /// [`Store::insert_next_revision`]), decoded as stored.
    pub fn insert_next_revision<T: Resource>(
        &self,
        family: &str,
        build: &mut dyn FnMut(i64) -> String,
    ) -> Result<T, Fault> {
        let record = self.store().insert_next_revision(family, build)?;
        self.changes
            .record(Collection::TaskDefinitions, &record.scope, &record.key);
        self.cx.decoded.decode(Collection::TaskDefinitions, &record)
    }

    /// Read-modify-write of one record, retried when another writer got there first, so that
    /// concurrent requests never lose each other's changes. `change` may run more than once
    /// and must not have effects outside its argument. `Ok(None)` when the record is missing.
    ///
    /// A change that leaves the document as it was writes nothing: its version stays, and no
    /// commit (an fsync) is spent on it. Agents report every task on every poll, and most
    /// reports repeat what is stored.
    pub fn modify<T, R, E>(
        &self,
        collection: Collection,
        key: &str,
        mut change: impl FnMut(&mut T) -> Result<R, E>,
    ) -> Result<Option<R>, E>
    where
        T: Resource,
        E: From<Fault>,
    {
        loop {
            let Some(record) = self.store().get(collection, key).map_err(Fault::from)? else {
                return Ok(None);
            };
            let mut value: T = self.cx.decoded.decode(collection, &record)?;
            let result = change(&mut value)?;
            let doc = to_doc(&value);
            // The same text is the same document; a document stored in another form (written
            // before a field was added, say) is written once more, which is harmless.
            if *doc == *record.doc {
                return Ok(Some(result));
            }
            match self.store().update(collection, key, record.version, &doc) {
                Ok(_) => {
                    self.changes.record(collection, &record.scope, key);
                    return Ok(Some(result));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(Fault::from(e).into()),
            }
        }
    }

    /// Writes a record whether or not one exists under the key.
    pub fn put<T: Resource>(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        value: &T,
    ) -> Result<(), Fault> {
        loop {
            if self.insert_new(collection, key, scope, value)? {
                return Ok(());
            }
            let replaced = self.modify(collection, key, |stored: &mut T| {
                *stored = value.clone();
                Ok::<_, Fault>(())
            })?;
            // Gone again between the two: insert once more.
            if replaced.is_some() {
                return Ok(());
            }
        }
    }

    /// Deletes a record whatever its version. `Ok(false)` when it was already gone.
    pub fn remove(&self, collection: Collection, key: &str) -> Result<bool, Fault> {
        self.remove_record_if(collection, key, |_| Ok(true))
    }

    /// Deletes a record if `doomed` says so of it as stored now; `Ok(false)` when it was
    /// gone or is kept.
    pub fn remove_if<T: Resource>(
        &self,
        collection: Collection,
        key: &str,
        doomed: impl Fn(&T) -> bool,
    ) -> Result<bool, Fault> {
        self.remove_record_if(collection, key, |record| {
            Ok(doomed(&self.cx.decoded.decode(collection, record)?))
        })
    }

    fn remove_record_if(
        &self,
        collection: Collection,
        key: &str,
        doomed: impl Fn(&Record) -> Result<bool, Fault>,
    ) -> Result<bool, Fault> {
        loop {
            let Some(record) = self.store().get(collection, key)? else {
                return Ok(false);
            };
            if !doomed(&record)? {
                return Ok(false);
            }
            match self.store().delete(collection, key, record.version) {
                Ok(()) => {
                    self.changes.record(collection, &record.scope, key);
                    return Ok(true);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Runs `work` with its writes committed together (see [`Store::batch`]); returns once
    /// they are durable.
    pub fn batch<R>(&self, work: impl FnOnce() -> R) -> Result<R, Fault> {
        let mut work = Some(work);
        let mut result = None;
        self.store().batch(&mut || {
            if let Some(work) = work.take() {
                result = Some(work());
            }
        })?;
        Ok(result.expect("a batch runs its work"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_store::MemoryStore;
    use std::panic::AssertUnwindSafe;

    fn task(id: &str, group: &str) -> Task {
        Task {
            task_arn: format!("arn:aws:ecs:r:1:task/c/{id}"),
            group: group.to_string(),
            desired_status: TaskStatus::Running,
            last_status: TaskStatus::Pending,
            ..Task::default()
        }
    }

    fn ids(tasks: Vec<Arc<Cached<Task>>>) -> Vec<String> {
        tasks
            .iter()
            .map(|t| berth_model::arn::resource_id(&t.value.task_arn).to_string())
            .collect()
    }

    #[test]
    fn writes_committed_before_a_panic_are_published() {
        let cx = Context::new(Arc::new(MemoryStore::new()), Arns::new("r", "1"));
        cx.as_system(0.0, |call| {
            assert!(call.cluster_tasks("c").unwrap().is_empty());
        });
        let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
            cx.as_system(0.0, |call| {
                call.insert(Collection::Tasks, "t1", "c", &task("t1", "service:web"))
                    .unwrap();
                panic!("after the write");
            })
        }));
        assert!(panicked.is_err());
        cx.as_system(0.0, |call| {
            assert_eq!(ids(call.cluster_tasks("c").unwrap()), ["t1"]);
        });
    }

    #[test]
    fn a_call_sees_its_own_task_writes_before_they_are_published() {
        let cx = Context::new(Arc::new(MemoryStore::new()), Arns::new("r", "1"));
        cx.as_system(0.0, |call| {
            call.insert(Collection::Tasks, "t1", "c", &task("t1", "service:web"))?;
            call.insert(Collection::Tasks, "t3", "c", &task("t3", "family:job"))
        })
        .unwrap();

        let changes = Changes::default();
        cx.call(&Caller::system(), 0.0, &changes, |call| {
            assert_eq!(ids(call.cluster_tasks("c").unwrap()), ["t1", "t3"]);
            call.insert(Collection::Tasks, "t2", "c", &task("t2", "service:web"))
                .unwrap();
            call.modify(Collection::Tasks, "t1", |t: &mut Task| {
                t.group = "service:api".into();
                Ok::<_, Fault>(())
            })
            .unwrap();
            call.remove(Collection::Tasks, "t3").unwrap();
            assert_eq!(ids(call.cluster_tasks("c").unwrap()), ["t1", "t2"]);
            assert_eq!(
                ids(call.tasks_in_group("c", "service:web").unwrap()),
                ["t2"]
            );
            assert_eq!(
                ids(call.tasks_in_group("c", "service:api").unwrap()),
                ["t1"]
            );
        });
        // Another call sees them once they are published, not before.
        cx.call(&Caller::system(), 0.0, &Changes::default(), |call| {
            assert_eq!(ids(call.cluster_tasks("c").unwrap()), ["t1", "t3"]);
        });
        cx.publish(&changes.take());
        cx.call(&Caller::system(), 0.0, &Changes::default(), |call| {
            assert_eq!(ids(call.cluster_tasks("c").unwrap()), ["t1", "t2"]);
            assert_eq!(
                ids(call.tasks_in_group("c", "service:api").unwrap()),
                ["t1"]
            );
        });
    }
}
