//! Durable state behind one small trait.
//!
//! Berth keeps every resource as a JSON document in a collection, keyed by its natural name
//! and grouped by a scope (the cluster of a service, the family of a task definition).
//! Each record carries a version: writers read, change and write back with the version they
//! read, and a concurrent change makes the write fail with [`StoreError::Conflict`] instead of
//! silently losing an update. Nothing here assumes SQLite: the same contract is met by the
//! in-memory [`MemoryStore`] used in tests, and [`conformance`] checks both.
//!
//! Documents cross this trait as JSON text: callers serialize their typed resources straight
//! to text and decode straight from it, so no request pays for an intermediate
//! `serde_json::Value` of every record it touches.
//!
//! A write that returns `Ok` is durable: the SQLite store commits with `synchronous=FULL`.

#![forbid(unsafe_code)]

pub mod conformance;
mod memory;
mod read_cache;
mod sqlite;

pub use memory::MemoryStore;
pub use read_cache::FRESH_FOR;
pub use sqlite::SqliteStore;

use std::sync::Arc;

/// The kinds of record Berth stores. Each is its own table in SQL stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    Clusters,
    TaskDefinitions,
    Services,
    Tasks,
    AccessKeys,
    ContainerInstances,
    /// Join tokens for agents, keyed by the SHA-256 of the token.
    JoinTokens,
    /// ELBv2 load balancers, keyed by name.
    LoadBalancers,
    /// ELBv2 target groups with their registered targets, keyed by name.
    TargetGroups,
    /// ELBv2 listeners, keyed by ARN and scoped by their load balancer's ARN.
    Listeners,
    /// Listener rules (each listener's default rule too), keyed by ARN and scoped by their
    /// listener's ARN.
    Rules,
    /// Imported certificates (PEM), keyed by the id at the end of their ARN.
    Certificates,
    /// What a service's deployments leave behind once they leave `deployments` (the last
    /// completed one, for circuit-breaker rollbacks), keyed as the service.
    ServiceHistory,
    /// Secrets Manager secrets with their versions (values sealed), keyed by name.
    Secrets,
    /// SSM parameters with their history (values sealed), keyed by name and scoped by the
    /// first level of their hierarchy, so that a path query reads one subtree.
    Parameters,
    /// The master key's check (`master`), which proves a key is the one values were sealed
    /// under.
    Vault,
    /// Secrets and parameters whose current value changed and whose users the controller has
    /// yet to tell (or roll), keyed by what changed.
    SecretChanges,
    /// Secrets scheduled for deletion, keyed by name with when their window ends, so that
    /// purging reads the few scheduled rather than every secret.
    SecretDeletions,
    /// Application Auto Scaling's scalable targets, keyed by namespace, resource id and
    /// dimension (`ecs|service/c/s|ecs:service:DesiredCount`) and scoped by namespace.
    ScalableTargets,
    /// Scaling policies, keyed by their target's key and name, scoped by their target's key.
    ScalingPolicies,
    /// Scheduled actions, keyed by their target's key and name, scoped by their target's key.
    ScheduledActions,
    /// Scaling activities, keyed by their target's key, start time and id, scoped by their
    /// target's key, so that a target's list in key order is oldest first.
    ScalingActivities,
    /// When each schedule fires next (a scheduled action's, keyed as the action; a scheduled
    /// rule's, keyed `rule:` and the rule's key), scoped by the minute it falls in, so that
    /// firing reads the schedules due now rather than all of them.
    ScheduledFirings,
    /// EventBridge rules with their targets, keyed by event bus and name (`default|nightly`)
    /// and scoped by event bus.
    EventRules,
    /// CloudWatch metric alarms, keyed by name and scoped by the 10-second bucket in which
    /// they are next evaluated, so that a round reads the alarms due rather than all.
    Alarms,
    /// Alarms' history items, keyed by the alarm's name, time and id, scoped by the alarm's
    /// name, so that an alarm's list in key order is oldest first.
    AlarmHistory,
    /// Which alarms name a scaling policy in their actions, keyed by the policy's ARN and the
    /// alarm's name, scoped by the policy's ARN.
    AlarmActions,
}

impl Collection {
    pub const ALL: [Collection; 27] = [
        Collection::Clusters,
        Collection::TaskDefinitions,
        Collection::Services,
        Collection::Tasks,
        Collection::AccessKeys,
        Collection::ContainerInstances,
        Collection::JoinTokens,
        Collection::LoadBalancers,
        Collection::TargetGroups,
        Collection::Listeners,
        Collection::Rules,
        Collection::Certificates,
        Collection::ServiceHistory,
        Collection::Secrets,
        Collection::Parameters,
        Collection::Vault,
        Collection::SecretChanges,
        Collection::SecretDeletions,
        Collection::ScalableTargets,
        Collection::ScalingPolicies,
        Collection::ScheduledActions,
        Collection::ScalingActivities,
        Collection::ScheduledFirings,
        Collection::EventRules,
        Collection::Alarms,
        Collection::AlarmHistory,
        Collection::AlarmActions,
    ];

    pub fn table(self) -> &'static str {
        match self {
            Collection::Clusters => "clusters",
            Collection::TaskDefinitions => "task_definitions",
            Collection::Services => "services",
            Collection::Tasks => "tasks",
            Collection::AccessKeys => "access_keys",
            Collection::ContainerInstances => "container_instances",
            Collection::JoinTokens => "join_tokens",
            Collection::LoadBalancers => "load_balancers",
            Collection::TargetGroups => "target_groups",
            Collection::Listeners => "listeners",
            Collection::Rules => "rules",
            Collection::Certificates => "certificates",
            Collection::ServiceHistory => "service_history",
            Collection::Secrets => "secrets",
            Collection::Parameters => "parameters",
            Collection::Vault => "vault",
            Collection::SecretChanges => "secret_changes",
            Collection::SecretDeletions => "secret_deletions",
            Collection::ScalableTargets => "scalable_targets",
            Collection::ScalingPolicies => "scaling_policies",
            Collection::ScheduledActions => "scheduled_actions",
            Collection::ScalingActivities => "scaling_activities",
            Collection::ScheduledFirings => "scheduled_firings",
            Collection::EventRules => "event_rules",
            Collection::Alarms => "alarms",
            Collection::AlarmHistory => "alarm_history",
            Collection::AlarmActions => "alarm_actions",
        }
    }
}

/// One stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: String,
    pub scope: String,
    /// Starts at 1 and grows by one on every update.
    pub version: i64,
    /// The document's JSON text, exactly as it was written. Shared: stores hand out the text
    /// they hold, and a clone of a record does not copy it.
    pub doc: Arc<str>,
}

/// Why a store call failed. `AlreadyExists`, `NotFound` and `Conflict` are answers about the
/// records, which callers act on; the others are faults of the store itself.
///
/// Messages include their source's text as well as returning it from `source()`, because they
/// mostly reach people as one line: a 500 answer's message or a log field.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{collection:?} record {key} already exists")]
    AlreadyExists { collection: Collection, key: String },
    #[error("{collection:?} record {key} not found")]
    NotFound { collection: Collection, key: String },
    #[error("{collection:?} record {key} changed concurrently (expected version {expected})")]
    Conflict {
        collection: Collection,
        key: String,
        expected: i64,
    },
    /// SQLite failed a statement (or opening the database).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The transaction that carried the write ended without committing, so nothing written in
    /// it is durable. Every write of a group commit shares the one failure.
    #[error("not committed: {reason}: {source}")]
    NotCommitted {
        reason: &'static str,
        source: Arc<rusqlite::Error>,
    },
}

/// Durable, versioned document storage.
///
/// Records in a scope list in key order, except task definitions, which list by revision.
///
/// Every `doc` given to a write must be JSON text (what `serde_json::to_string` makes); a task
/// definition's must be an object with its integer `revision`, which orders the listing.
pub trait Store: Send + Sync + 'static {
    fn get(&self, collection: Collection, key: &str) -> Result<Option<Record>, StoreError>;

    /// All records of a collection, or of one scope of it.
    fn list(&self, collection: Collection, scope: Option<&str>) -> Result<Vec<Record>, StoreError>;

    /// Inserts a new record at version 1.
    fn insert(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        doc: &str,
    ) -> Result<Record, StoreError>;

    /// Replaces a record's document if its version is still `expected_version`.
    fn update(
        &self,
        collection: Collection,
        key: &str,
        expected_version: i64,
        doc: &str,
    ) -> Result<Record, StoreError>;

    /// Removes a record if its version is still `expected_version`.
    fn delete(
        &self,
        collection: Collection,
        key: &str,
        expected_version: i64,
    ) -> Result<(), StoreError>;

    /// Registers the next revision of a task definition family in one transaction: revisions
    /// count 1, 2, 3 … per family with no gaps, and a number once handed out is never reused,
    /// even after its record is deleted. `build` turns the revision into the document.
    fn insert_next_revision(
        &self,
        family: &str,
        build: &mut dyn FnMut(i64) -> String,
    ) -> Result<Record, StoreError>;

    /// Runs `work` with the writes it makes on this thread committed together at its end (for
    /// SQLite, with one fsync).
    ///
    /// Inside `work`, a write returns as soon as its change is made, before it is durable, and
    /// reads on this thread see it. Nothing written inside may be reported to anyone as done
    /// until `batch` returns: `Ok` means every write inside that returned `Ok` is durable,
    /// `Err` that none of them is. A refused write inside changes nothing, as anywhere.
    /// The default just runs `work`, for stores whose writes are durable when they return.
    fn batch(&self, work: &mut dyn FnMut()) -> Result<(), StoreError> {
        work();
        Ok(())
    }
}

/// The `revision` member of a task definition's JSON text, which orders a family's listing.
pub(crate) fn revision_of(doc: &str) -> i64 {
    serde_json::from_str::<serde_json::Value>(doc)
        .ok()
        .and_then(|doc| doc.get("revision").and_then(serde_json::Value::as_i64))
        .unwrap_or(0)
}

/// The key under which a task definition revision is stored.
pub fn revision_key(family: &str, revision: i64) -> String {
    format!("{family}:{revision}")
}
