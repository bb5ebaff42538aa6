//! The ECS actions: decode → validate → read and write the store → ECS-shaped JSON.
//!
//! Handlers are plain synchronous functions over a [`Store`]; the HTTP layer calls them on a
//! blocking thread. They are given the time rather than reading a clock, so tests control it.

pub mod agents;
mod clusters;
pub mod container_instances;
pub mod controller;
mod pagination;
mod services;
mod tags;
mod task_definitions;
mod tasks;

use berth_model::{ApiError, Arns, ErrorKind};
use berth_store::{Collection, Record, Store, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

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
}

/// Everything one call may read: the store, ARN formats, the caller and the time.
pub struct Call<'a> {
    store: &'a dyn Store,
    arns: &'a Arns,
    presence: &'a container_instances::Presence,
    caller: &'a Caller,
    now: f64,
}

type Handler = fn(&Call<'_>, &[u8]) -> Result<Value, ApiError>;

/// Every action Berth answers, by name. Unknown names answer `UnknownOperationException`.
const ACTIONS: &[(&str, Handler)] = &[
    ("CreateCluster", clusters::create),
    ("DescribeClusters", clusters::describe),
    ("ListClusters", clusters::list),
    ("DeleteCluster", clusters::delete),
    ("RegisterTaskDefinition", task_definitions::register),
    ("DescribeTaskDefinition", task_definitions::describe),
    ("ListTaskDefinitions", task_definitions::list),
    (
        "ListTaskDefinitionFamilies",
        task_definitions::list_families,
    ),
    ("DeregisterTaskDefinition", task_definitions::deregister),
    ("DeleteTaskDefinitions", task_definitions::delete),
    ("CreateService", services::create),
    ("UpdateService", services::update),
    ("DescribeServices", services::describe),
    ("ListServices", services::list),
    ("DeleteService", services::delete),
    ("RunTask", tasks::run),
    ("StopTask", tasks::stop),
    ("DescribeTasks", tasks::describe),
    ("ListTasks", tasks::list),
    ("DescribeContainerInstances", container_instances::describe),
    ("ListContainerInstances", container_instances::list),
    (
        "UpdateContainerInstancesState",
        container_instances::update_state,
    ),
    (
        "DeregisterContainerInstance",
        container_instances::deregister,
    ),
    ("TagResource", tags::tag),
    ("UntagResource", tags::untag),
    ("ListTagsForResource", tags::list),
];

impl Api {
    pub fn new(store: Arc<dyn Store>, arns: Arns) -> Self {
        Self {
            store,
            arns,
            presence: container_instances::Presence::default(),
        }
    }

    /// Runs `work` with a call context for the system itself (no signed caller).
    pub fn as_system<R>(&self, now: f64, work: impl FnOnce(&Call<'_>) -> R) -> R {
        let caller = Caller {
            access_key_id: "berth".into(),
        };
        work(&Call {
            store: self.store.as_ref(),
            arns: &self.arns,
            presence: &self.presence,
            caller: &caller,
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

    /// Answers one action. `now` is seconds since the Unix epoch.
    pub fn handle(
        &self,
        action: &str,
        body: &[u8],
        caller: &Caller,
        now: f64,
    ) -> Result<Value, ApiError> {
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
            caller,
            now,
        };
        handler(&call, body)
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

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("resource types serialize to JSON")
}

fn from_record<T: DeserializeOwned>(record: &Record) -> Result<T, ApiError> {
    serde_json::from_value(record.doc.clone())
        .map_err(|e| ApiError::server(format!("stored record {} does not decode: {e}", record.key)))
}

impl Call<'_> {
    fn get<T: DeserializeOwned>(
        &self,
        collection: Collection,
        key: &str,
    ) -> Result<Option<T>, ApiError> {
        self.store
            .get(collection, key)
            .map_err(store_error)?
            .as_ref()
            .map(from_record)
            .transpose()
    }

    fn list<T: DeserializeOwned>(
        &self,
        collection: Collection,
        scope: Option<&str>,
    ) -> Result<Vec<T>, ApiError> {
        self.store
            .list(collection, scope)
            .map_err(store_error)?
            .iter()
            .map(from_record)
            .collect()
    }

    fn insert<T: Serialize>(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        value: &T,
    ) -> Result<(), ApiError> {
        self.store
            .insert(collection, key, scope, &to_value(value))
            .map_err(store_error)?;
        Ok(())
    }

    /// Read-modify-write of one record, retried when another writer got there first, so that
    /// concurrent requests never lose each other's changes. `change` may run more than once
    /// and must not have effects outside its argument. `Ok(None)` when the record is missing.
    fn modify<T, R>(
        &self,
        collection: Collection,
        key: &str,
        mut change: impl FnMut(&mut T) -> Result<R, ApiError>,
    ) -> Result<Option<R>, ApiError>
    where
        T: Serialize + DeserializeOwned,
    {
        loop {
            let Some(record) = self.store.get(collection, key).map_err(store_error)? else {
                return Ok(None);
            };
            let mut value: T = from_record(&record)?;
            let result = change(&mut value)?;
            match self
                .store
                .update(collection, key, record.version, &to_value(&value))
            {
                Ok(_) => return Ok(Some(result)),
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound { .. }) => return Ok(None),
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

/// A fresh request id for the `x-amzn-requestid` header, shaped like AWS's.
pub fn request_id() -> String {
    let hex = random_hex(32);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
