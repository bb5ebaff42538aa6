//! DescribeContainerInstances, ListContainerInstances, UpdateContainerInstancesState and
//! DeregisterContainerInstance: the machines running `berth agent`.

use super::{clusters, pagination, Call};
use berth_model::arn::{parse, ResourceRef};
use berth_model::resources::{ContainerInstance, Failure, InstanceResource, Task};
use berth_model::{ApiError, ErrorKind};
use berth_reconcile::query;
use berth_store::Collection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// How long after its last poll an agent still counts as connected.
pub const CONNECTED_FOR_SECONDS: f64 = 30.0;

/// When each container instance last polled. Kept in memory: after a server restart every
/// agent polls again within its wait, so nothing needs to persist.
#[derive(Clone, Default)]
pub struct Presence(Arc<Mutex<HashMap<String, f64>>>);

impl Presence {
    pub fn seen(&self, instance_id: &str, now: f64) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(instance_id.to_string(), now);
    }

    pub fn connected(&self, instance_id: &str, now: f64) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(instance_id)
            .is_some_and(|seen| now - seen <= CONNECTED_FOR_SECONDS)
    }
}

/// A container instance as stored: the ECS shape plus what only Berth needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    pub instance: ContainerInstance,
    pub agent_key_sha256: String,
    pub hostname: String,
    pub runtime: String,
    /// Where the load balancer reaches the instance's host ports (the agent's
    /// `RegisterRequest::address`).
    #[serde(default)]
    pub address: Option<String>,
}

impl InstanceRecord {
    pub fn id(&self) -> &str {
        &self.instance.ec2_instance_id
    }

    pub fn attributes(&self) -> BTreeMap<String, String> {
        self.instance
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.value.clone().unwrap_or_default()))
            .collect()
    }
}

/// The ECS view of an instance: live counts, remaining resources and connection.
pub fn present(call: &Call<'_>, record: &InstanceRecord, tasks: &[Task]) -> ContainerInstance {
    let mut instance = record.instance.clone();
    let mine: Vec<&Task> = tasks
        .iter()
        .filter(|t| t.container_instance_arn.as_deref() == Some(&instance.container_instance_arn))
        .filter(|t| t.last_status != "STOPPED")
        .collect();
    instance.running_tasks_count =
        mine.iter().filter(|t| t.last_status == "RUNNING").count() as i64;
    instance.pending_tasks_count = mine.len() as i64 - instance.running_tasks_count;
    let used = |field: fn(&Task) -> &Option<String>| -> i64 {
        mine.iter()
            .filter_map(|t| field(t).as_deref()?.parse::<i64>().ok())
            .sum()
    };
    instance.remaining_resources = vec![
        InstanceResource::integer("CPU", instance.registered("CPU") - used(|t| &t.cpu)),
        InstanceResource::integer(
            "MEMORY",
            instance.registered("MEMORY") - used(|t| &t.memory),
        ),
    ];
    instance.agent_connected = call.presence.connected(record.id(), call.now);
    instance.tags.clear();
    instance
}

fn instance_id(member: &str) -> String {
    match parse(member) {
        Some(ResourceRef::ContainerInstance { id, .. }) => id,
        _ => member.to_string(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Describe {
    cluster: Option<String>,
    container_instances: Vec<String>,
    include: Option<Vec<String>>,
}

pub fn describe(call: &Call<'_>, body: &[u8]) -> Result<Value, ApiError> {
    let request: Describe = berth_model::requests::decode(body)?;
    if request.container_instances.is_empty() || request.container_instances.len() > 100 {
        return Err(ApiError::invalid(
            "containerInstances: give between 1 and 100 per call",
        ));
    }
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let tasks: Vec<Task> = call.list(Collection::Tasks, Some(&cluster.cluster_name))?;
    let tags = super::wants_tags(&request.include);
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for requested in &request.container_instances {
        let id = instance_id(requested);
        match call.get::<InstanceRecord>(Collection::ContainerInstances, &id)? {
            Some(record)
                if record
                    .instance
                    .container_instance_arn
                    .contains(&format!("/{}/", cluster.cluster_name)) =>
            {
                let mut instance = present(call, &record, &tasks);
                if tags {
                    instance.tags = record.instance.tags.clone();
                }
                found.push(instance);
            }
            _ => failures.push(Failure::missing(
                call.arns.container_instance(&cluster.cluster_name, &id),
            )),
        }
    }
    Ok(json!({"containerInstances": found, "failures": failures}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct List {
    cluster: Option<String>,
    filter: Option<String>,
    status: Option<String>,
    #[serde(flatten)]
    page: berth_model::requests::Pagination,
}

pub fn list(call: &Call<'_>, body: &[u8]) -> Result<Value, ApiError> {
    let request: List = berth_model::requests::decode(body)?;
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let filter = request
        .filter
        .as_deref()
        .map(query::parse)
        .transpose()
        .map_err(|e| ApiError::invalid(format!("filter: {e}")))?;
    let arns: Vec<String> = call
        .list::<InstanceRecord>(Collection::ContainerInstances, Some(&cluster.cluster_name))?
        .into_iter()
        .filter(|r| {
            request
                .status
                .as_ref()
                .is_none_or(|s| &r.instance.status == s)
        })
        .filter(|r| {
            filter.as_ref().is_none_or(|f| {
                let mut attributes = r.attributes();
                attributes.insert(query::INSTANCE_ID.to_string(), r.id().to_string());
                f.matches(&attributes)
            })
        })
        .map(|r| r.instance.container_instance_arn)
        .collect();
    let (page, next) = pagination::page(arns, &request.page, 100)?;
    Ok(json!({"containerInstanceArns": page, "nextToken": next}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateState {
    cluster: Option<String>,
    container_instances: Vec<String>,
    status: String,
}

pub fn update_state(call: &Call<'_>, body: &[u8]) -> Result<Value, ApiError> {
    let request: UpdateState = berth_model::requests::decode(body)?;
    if !matches!(request.status.as_str(), "ACTIVE" | "DRAINING") {
        return Err(ApiError::invalid(format!(
            "status: must be ACTIVE or DRAINING, got {:?}",
            request.status
        )));
    }
    if request.container_instances.is_empty() || request.container_instances.len() > 10 {
        return Err(ApiError::invalid(
            "containerInstances: give between 1 and 10 per call",
        ));
    }
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let tasks: Vec<Task> = call.list(Collection::Tasks, Some(&cluster.cluster_name))?;
    let mut updated = Vec::new();
    let mut failures = Vec::new();
    for requested in &request.container_instances {
        let id = instance_id(requested);
        let record = call.modify(
            Collection::ContainerInstances,
            &id,
            |r: &mut InstanceRecord| {
                r.instance.status = request.status.clone();
                r.instance.version += 1;
                Ok(r.clone())
            },
        )?;
        match record {
            Some(record) => updated.push(present(call, &record, &tasks)),
            None => failures.push(Failure::missing(
                call.arns.container_instance(&cluster.cluster_name, &id),
            )),
        }
    }
    Ok(json!({"containerInstances": updated, "failures": failures}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Deregister {
    cluster: Option<String>,
    container_instance: String,
    force: Option<bool>,
}

pub fn deregister(call: &Call<'_>, body: &[u8]) -> Result<Value, ApiError> {
    let request: Deregister = berth_model::requests::decode(body)?;
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let id = instance_id(&request.container_instance);
    let record = call
        .store
        .get(Collection::ContainerInstances, &id)
        .map_err(super::store_error)?
        .ok_or_else(|| ApiError::invalid("The referenced container instance was not found."))?;
    let parsed: InstanceRecord = super::from_record(&record)?;
    let tasks: Vec<Task> = call.list(Collection::Tasks, Some(&cluster.cluster_name))?;
    let busy = tasks.iter().any(|t| {
        t.container_instance_arn.as_deref() == Some(&parsed.instance.container_instance_arn)
            && t.last_status != "STOPPED"
    });
    if busy && request.force != Some(true) {
        return Err(ApiError::new(
            ErrorKind::InvalidParameterException,
            "The container instance has tasks running on it; stop them first or pass force.",
        ));
    }
    let mut instance = present(call, &parsed, &tasks);
    call.store
        .delete(Collection::ContainerInstances, &id, record.version)
        .map_err(super::store_error)?;
    instance.status = "INACTIVE".to_string();
    instance.agent_connected = false;
    Ok(json!({"containerInstance": instance}))
}
