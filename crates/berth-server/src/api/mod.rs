//! The ECS actions: decode → validate → read and write the store → ECS-shaped JSON.
//!
//! Handlers are plain synchronous functions over a [`Store`]; the HTTP layer runs reads on its
//! runtime workers and writes in batches on a writer thread (see `crate::http`). They are given
//! the time rather than reading a clock, so tests control it.

pub mod agents;
mod clusters;
pub mod container_instances;
pub mod controller;
pub(crate) mod pagination;
mod services;
mod tags;
pub mod targets;
mod task_definitions;
mod tasks;

use berth_model::{ApiError, Arns, ErrorKind};
use berth_store::{Collection, Record, Store, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

/// The prefix of every `X-Amz-Target` the ECS API answers.
pub const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";

/// Who is calling, as proven by the request signature.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key_id: String,
}

/// The ECS API over one store.
#[derive(Clone)]
pub struct Api {
    store: Arc<dyn Store>,
    arns: Arns,
    presence: container_instances::Presence,
    /// Write requests the HTTP front has queued for batched commits.
    writes: Arc<crate::http::WriteQueue>,
    decoded: Arc<Decoded>,
    /// The load balancer's live view of service tasks' targets.
    targets: Arc<dyn targets::TargetStates>,
}

/// Everything one call may read: the store, ARN formats, the caller and the time.
pub struct Call<'a> {
    store: &'a dyn Store,
    arns: &'a Arns,
    presence: &'a container_instances::Presence,
    decoded: &'a Decoded,
    targets: &'a dyn targets::TargetStates,
    caller: &'a Caller,
    now: f64,
}

/// An action's handler: most build a JSON value; hot Describe calls write JSON text from
/// renderings the decode cache keeps (see [`Cached::json`]).
#[derive(Clone, Copy)]
enum Handler {
    Value(fn(&Call<'_>, &[u8]) -> Result<Value, ApiError>),
    Json(fn(&Call<'_>, &[u8]) -> Result<String, ApiError>),
}

/// What an action answers: a JSON value, or JSON text already written.
#[derive(Debug)]
pub enum Reply {
    Value(Value),
    Json(String),
}

impl Reply {
    pub fn into_value(self) -> Result<Value, ApiError> {
        match self {
            Reply::Value(value) => Ok(value),
            Reply::Json(text) => serde_json::from_str(&text)
                .map_err(|e| ApiError::server(format!("an answer is not JSON: {e}"))),
        }
    }
}

const ACTIONS: &[(&str, Handler)] = &[
    ("CreateCluster", Handler::Value(clusters::create)),
    ("DescribeClusters", Handler::Value(clusters::describe)),
    ("ListClusters", Handler::Value(clusters::list)),
    ("DeleteCluster", Handler::Value(clusters::delete)),
    (
        "RegisterTaskDefinition",
        Handler::Value(task_definitions::register),
    ),
    (
        "DescribeTaskDefinition",
        Handler::Value(task_definitions::describe),
    ),
    (
        "ListTaskDefinitions",
        Handler::Value(task_definitions::list),
    ),
    (
        "ListTaskDefinitionFamilies",
        Handler::Value(task_definitions::list_families),
    ),
    (
        "DeregisterTaskDefinition",
        Handler::Value(task_definitions::deregister),
    ),
    (
        "DeleteTaskDefinitions",
        Handler::Value(task_definitions::delete),
    ),
    ("CreateService", Handler::Value(services::create)),
    ("UpdateService", Handler::Value(services::update)),
    ("DescribeServices", Handler::Json(services::describe)),
    ("ListServices", Handler::Value(services::list)),
    ("DeleteService", Handler::Value(services::delete)),
    ("RunTask", Handler::Value(tasks::run)),
    ("StopTask", Handler::Value(tasks::stop)),
    ("DescribeTasks", Handler::Value(tasks::describe)),
    ("ListTasks", Handler::Value(tasks::list)),
    (
        "RegisterContainerInstance",
        Handler::Value(container_instances::register),
    ),
    (
        "DescribeContainerInstances",
        Handler::Value(container_instances::describe),
    ),
    (
        "ListContainerInstances",
        Handler::Value(container_instances::list),
    ),
    (
        "UpdateContainerInstancesState",
        Handler::Value(container_instances::update_state),
    ),
    (
        "DeregisterContainerInstance",
        Handler::Value(container_instances::deregister),
    ),
    ("TagResource", Handler::Value(tags::tag)),
    ("UntagResource", Handler::Value(tags::untag)),
    ("ListTagsForResource", Handler::Value(tags::list)),
];

impl Api {
    pub fn new(store: Arc<dyn Store>, arns: Arns) -> Self {
        Self {
            store,
            arns,
            presence: container_instances::Presence::default(),
            writes: Arc::default(),
            decoded: Arc::default(),
            targets: Arc::new(targets::NoTargets),
        }
    }

    /// This API with the load balancer whose targets service tasks are.
    pub fn with_targets(mut self, targets: Arc<dyn targets::TargetStates>) -> Self {
        self.targets = targets;
        self
    }

    pub(crate) fn write_queue(&self) -> &crate::http::WriteQueue {
        &self.writes
    }

    /// Runs `work` with a call context for the system itself (no signed caller).
    pub fn as_system<R>(&self, now: f64, work: impl FnOnce(&Call<'_>) -> R) -> R {
        let caller = Caller {
            access_key_id: "berth".into(),
        };
        self.with_call(&caller, now, work)
    }

    /// Runs `work` with a call context for `caller`: how the ELBv2 API reads and writes the
    /// store through the same mechanism as the ECS actions.
    pub(crate) fn with_call<R>(
        &self,
        caller: &Caller,
        now: f64,
        work: impl FnOnce(&Call<'_>) -> R,
    ) -> R {
        work(&Call {
            store: self.store.as_ref(),
            arns: &self.arns,
            presence: &self.presence,
            decoded: &self.decoded,
            targets: self.targets.as_ref(),
            caller,
            now,
        })
    }

    pub fn arns(&self) -> &Arns {
        &self.arns
    }

    /// Whether `action` names an action this API answers.
    pub fn knows(action: &str) -> bool {
        ACTIONS.iter().any(|(name, _)| *name == action)
    }

    /// Answers one action as a JSON value. `now` is seconds since the Unix epoch.
    pub fn handle(
        &self,
        action: &str,
        body: &[u8],
        caller: &Caller,
        now: f64,
    ) -> Result<Value, ApiError> {
        self.reply(action, body, caller, now)?.into_value()
    }

    /// Answers one action as the handler made it: what the HTTP front sends.
    pub fn reply(
        &self,
        action: &str,
        body: &[u8],
        caller: &Caller,
        now: f64,
    ) -> Result<Reply, ApiError> {
        let Some((_, handler)) = ACTIONS.iter().find(|(name, _)| *name == action) else {
            return Err(ApiError::new(
                ErrorKind::UnknownOperationException,
                format!(
                    "unknown operation {action}; Berth answers {}",
                    known_actions()
                ),
            ));
        };
        let call = Call {
            store: self.store.as_ref(),
            arns: &self.arns,
            presence: &self.presence,
            decoded: &self.decoded,
            targets: self.targets.as_ref(),
            caller,
            now,
        };
        match handler {
            Handler::Value(handle) => handle(&call, body).map(Reply::Value),
            Handler::Json(handle) => handle(&call, body).map(Reply::Json),
        }
    }

    /// Creates the `default` cluster if it has never existed, as ECS does for a new account.
    pub fn ensure_default_cluster(&self, now: f64) -> Result<(), ApiError> {
        self.as_system(now, clusters::ensure_default)
    }

    /// Moves DRAINING services that no longer run tasks to INACTIVE. Returns how many moved.
    pub fn finish_draining_services(&self, now: f64) -> Result<usize, ApiError> {
        self.as_system(now, services::finish_draining)
    }
}

fn known_actions() -> String {
    ACTIONS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A store failure the caller cannot fix: the only source of 500 answers.
fn store_error(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "store failure");
    ApiError::server(format!("internal store failure: {e}"))
}

pub(crate) fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("resource types serialize to JSON")
}

/// A resource's JSON text, as the store keeps it.
fn to_doc<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("resource types serialize to JSON")
}

/// Decodes a stored document straight from its text into the resource type.
fn from_record<T: DeserializeOwned>(record: &Record) -> Result<T, ApiError> {
    serde_json::from_str(&record.doc)
        .map_err(|e| ApiError::server(format!("stored record {} does not decode: {e}", record.key)))
}

/// What a stored resource type needs to be read through [`Decoded`].
pub(crate) trait Resource:
    DeserializeOwned + Serialize + Clone + Send + Sync + 'static
{
}
impl<T: DeserializeOwned + Serialize + Clone + Send + Sync + 'static> Resource for T {}

/// Above this many entries, or this many bytes of their documents, [`Decoded`] starts over.
const MAX_DECODED: usize = 4096;
const MAX_DECODED_BYTES: usize = 64 << 20;

/// Recently decoded documents, each with the exact text it was decoded from.
///
/// Decoding is most of what a Describe or List costs. A record whose stored text is
/// byte-for-byte what an entry was decoded from decodes to the same value, so it is cloned
/// from the entry instead (a fraction of the cost). The text is compared on every read, so a
/// changed record is always decoded afresh; nothing here can go stale.
#[derive(Default)]
struct Decoded {
    /// Read by every decode at once; written only to add what one decoded.
    entries: RwLock<DecodedEntries>,
}

#[derive(Default)]
struct DecodedEntries {
    len: usize,
    bytes: usize,
    /// By collection (`Collection as usize`), then key.
    by_collection: [HashMap<String, DecodedEntry>; Collection::ALL.len()],
}

struct DecodedEntry {
    doc: Arc<str>,
    /// A `Cached<T>` of the collection's resource type.
    cached: Arc<dyn Any + Send + Sync>,
}

/// A decoded document and, once an answer has asked for it, the JSON it renders to.
pub(crate) struct Cached<T> {
    pub(crate) value: T,
    json: OnceLock<String>,
}

impl<T: Serialize> Cached<T> {
    /// The value as answers show it: rendered once per version of the record, so that a
    /// Describe answering with it copies text instead of building the JSON again.
    pub(crate) fn json(&self) -> &str {
        self.json.get_or_init(|| to_doc(&self.value))
    }
}

impl Decoded {
    fn decode<T: Resource>(&self, collection: Collection, record: &Record) -> Result<T, ApiError> {
        Ok(self.cached::<T>(collection, record)?.value.clone())
    }

    fn cached<T: Resource>(
        &self,
        collection: Collection,
        record: &Record,
    ) -> Result<Arc<Cached<T>>, ApiError> {
        let hit = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_collection[collection as usize]
            .get(&record.key)
            .filter(|entry| Arc::ptr_eq(&entry.doc, &record.doc) || entry.doc == record.doc)
            .and_then(|entry| Arc::clone(&entry.cached).downcast::<Cached<T>>().ok());
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let cached = Arc::new(Cached {
            value: from_record::<T>(record)?,
            json: OnceLock::new(),
        });
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len >= MAX_DECODED || entries.bytes + record.doc.len() > MAX_DECODED_BYTES {
            *entries = DecodedEntries::default();
        }
        entries.bytes += record.doc.len();
        let entry = DecodedEntry {
            doc: Arc::clone(&record.doc),
            cached: Arc::clone(&cached) as Arc<dyn Any + Send + Sync>,
        };
        if entries.by_collection[collection as usize]
            .insert(record.key.clone(), entry)
            .is_none()
        {
            entries.len += 1;
        }
        Ok(cached)
    }
}

impl Call<'_> {
    pub(crate) fn arns(&self) -> &Arns {
        self.arns
    }

    pub(crate) fn now(&self) -> f64 {
        self.now
    }

    pub(crate) fn get<T: Resource>(
        &self,
        collection: Collection,
        key: &str,
    ) -> Result<Option<T>, ApiError> {
        self.store
            .get(collection, key)
            .map_err(store_error)?
            .map(|record| self.decoded.decode(collection, &record))
            .transpose()
    }

    /// Like [`Call::get`], but shared with the decode cache instead of cloned, with the
    /// rendered JSON at hand (see [`Cached::json`]).
    pub(crate) fn get_cached<T: Resource>(
        &self,
        collection: Collection,
        key: &str,
    ) -> Result<Option<Arc<Cached<T>>>, ApiError> {
        self.store
            .get(collection, key)
            .map_err(store_error)?
            .map(|record| self.decoded.cached(collection, &record))
            .transpose()
    }

    pub(crate) fn list<T: Resource>(
        &self,
        collection: Collection,
        scope: Option<&str>,
    ) -> Result<Vec<T>, ApiError> {
        self.store
            .list(collection, scope)
            .map_err(store_error)?
            .iter()
            .map(|record| self.decoded.decode(collection, record))
            .collect()
    }

    pub(crate) fn insert<T: Serialize>(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        value: &T,
    ) -> Result<(), ApiError> {
        self.store
            .insert(collection, key, scope, &to_doc(value))
            .map_err(store_error)?;
        Ok(())
    }

    /// Read-modify-write of one record, retried when another writer got there first, so that
    /// concurrent requests never lose each other's changes. `change` may run more than once
    /// and must not have effects outside its argument. `Ok(None)` when the record is missing.
    ///
    /// A change that leaves the document as it was writes nothing: its version stays, and no
    /// commit (an fsync) is spent on it. Agents report every task on every poll, and most
    /// reports repeat what is stored.
    pub(crate) fn modify<T, R>(
        &self,
        collection: Collection,
        key: &str,
        change: impl FnMut(&mut T) -> Result<R, ApiError>,
    ) -> Result<Option<R>, ApiError>
    where
        T: Serialize + Resource,
    {
        self.modify_as(collection, key, change)
    }

    /// [`Call::modify`] for callers with their own error type (the ELBv2 API's).
    pub(crate) fn modify_as<T, R, E>(
        &self,
        collection: Collection,
        key: &str,
        mut change: impl FnMut(&mut T) -> Result<R, E>,
    ) -> Result<Option<R>, E>
    where
        T: Serialize + Resource,
        E: From<ApiError>,
    {
        loop {
            let Some(record) = self.store.get(collection, key).map_err(store_error)? else {
                return Ok(None);
            };
            let mut value: T = self.decoded.decode(collection, &record)?;
            let result = change(&mut value)?;
            let doc = to_doc(&value);
            // The same text is the same document; a document stored in another form (written
            // before a field was added, say) is written once more, which is harmless.
            if *doc == *record.doc {
                return Ok(Some(result));
            }
            match self.store.update(collection, key, record.version, &doc) {
                Ok(_) => return Ok(Some(result)),
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(store_error(e).into()),
            }
        }
    }
}

impl Call<'_> {
    /// Inserts a record unless one with the key exists. `Ok(false)` when one did.
    pub(crate) fn insert_new<T: Serialize>(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        value: &T,
    ) -> Result<bool, ApiError> {
        match self.store.insert(collection, key, scope, &to_doc(value)) {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Writes a record whether or not one exists under the key.
    pub(crate) fn put<T: Resource>(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        value: &T,
    ) -> Result<(), ApiError> {
        loop {
            if self.insert_new(collection, key, scope, value)? {
                return Ok(());
            }
            let replaced = self.modify(collection, key, |stored: &mut T| {
                *stored = value.clone();
                Ok(())
            })?;
            // Gone again between the two: insert once more.
            if replaced.is_some() {
                return Ok(());
            }
        }
    }

    /// Deletes a record whatever its version. `Ok(false)` when it was already gone.
    pub(crate) fn remove(&self, collection: Collection, key: &str) -> Result<bool, ApiError> {
        loop {
            let Some(record) = self.store.get(collection, key).map_err(store_error)? else {
                return Ok(false);
            };
            match self.store.delete(collection, key, record.version) {
                Ok(()) => return Ok(true),
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(store_error(e)),
            }
        }
    }
}

/// Whether an `include` member asks for tags.
fn wants_tags(include: &Option<Vec<String>>) -> bool {
    include
        .as_ref()
        .is_some_and(|fields| fields.iter().any(|f| f == "TAGS"))
}

/// A random lowercase hex string of `len` characters, as ECS task ids look.
fn random_hex(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

#[cfg(test)]
mod tests;

/// A fresh request id for the `x-amzn-requestid` header: a UUID, as AWS's are.
pub fn request_id() -> String {
    uuid_v4()
}

/// A random RFC 4122 version 4 UUID, as AWS request ids and ACM certificate ids look.
pub(crate) fn uuid_v4() -> String {
    let n: u128 =
        (rand::random::<u128>() & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        n >> 96,
        (n >> 80) & 0xffff,
        (n >> 64) & 0xffff,
        (n >> 48) & 0xffff,
        n & 0xffff_ffff_ffff
    )
}
