//! RegisterContainerInstance, DescribeContainerInstances, ListContainerInstances,
//! UpdateContainerInstancesState and DeregisterContainerInstance: the machines tasks run on,
//! and [`register_instance`], the one place a registration (from a `berth agent` or from
//! RegisterContainerInstance) becomes a stored container instance.

use super::common::wants_tags;
use super::{clusters, pagination};
use crate::call::Call;
use berth_model::agent::{self, DEFAULT_LOST_AFTER_SECONDS};
use berth_model::arn::{parse, ResourceRef};
use berth_model::requests::{
    DeregisterContainerInstance, DescribeContainerInstances, ListContainerInstances,
    RegisterContainerInstance, UpdateContainerInstancesState,
};
use berth_model::resources::{
    Attribute, Cluster, ContainerInstance, Failure, InstanceResource, Tag, Task,
};
use berth_model::status::{InstanceStatus, TaskStatus};
use berth_model::{validate, ApiError, ErrorKind};
use berth_reconcile::query;
use berth_store::Collection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A container instance as stored: the ECS shape plus what only Berth needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    pub instance: ContainerInstance,
    /// The hash of the key the instance's `berth agent` polls with. Empty while no agent has
    /// registered the instance (it came from RegisterContainerInstance): no key hashes to
    /// it, so no poll speaks for the instance until an agent registers with a join token.
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

    /// Whether a `berth agent` registered it (and so can be lost when it goes unheard).
    pub fn has_agent(&self) -> bool {
        !self.agent_key_sha256.is_empty()
    }

    pub fn attributes(&self) -> BTreeMap<String, String> {
        self.instance
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.value.clone().unwrap_or_default()))
            .collect()
    }
}

/// Who speaks for a registered machine: the `berth agent` that runs its tasks.
#[derive(Debug, Clone)]
pub struct AgentFacts {
    pub key_sha256: String,
    pub hostname: String,
    pub runtime: String,
    pub address: Option<String>,
}

/// What registering a container instance states about a machine. A `berth agent` states it
/// when it starts; RegisterContainerInstance states it through the ECS API.
#[derive(Debug, Clone)]
pub struct Registration<'a> {
    pub cluster: Option<&'a str>,
    pub instance_id: String,
    /// `CPU` and `MEMORY` (what placement accounts), then any other resources to show.
    pub resources: Vec<InstanceResource>,
    pub attributes: Vec<Attribute>,
    pub version_info: Map<String, Value>,
    pub tags: Vec<Tag>,
    /// `None` through the ECS API: the caller runs no agent, so an agent that registered the
    /// instance before keeps speaking for it.
    pub agent: Option<AgentFacts>,
    /// Re-registration by `containerInstanceArn`: the instance must exist already.
    pub existing_only: bool,
}

fn valid_instance_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Stores a registration: a new container instance, or the same one again (same instance
/// id) with what the registration states now. Registering again keeps the instance's
/// status (a DRAINING instance stays draining), registration time, tags (new ones are
/// added) and tasks.
pub fn register_instance(
    call: &Call<'_>,
    registration: Registration<'_>,
) -> Result<InstanceRecord, ApiError> {
    let id = &registration.instance_id;
    if !valid_instance_id(id) {
        return Err(ApiError::invalid(format!(
            "instanceId: 1 to 64 letters, digits or hyphens, got {id:?}"
        )));
    }
    validate::attributes(&registration.attributes)?;
    validate::tags(&registration.tags)?;
    let cluster = clusters::require_active(call, registration.cluster)?;
    let arn = call.arns().container_instance(&cluster.cluster_name, id);
    let agent = registration.agent.clone().unwrap_or(AgentFacts {
        key_sha256: String::new(),
        hostname: String::new(),
        runtime: String::new(),
        address: None,
    });
    let fresh = InstanceRecord {
        instance: ContainerInstance {
            container_instance_arn: arn.clone(),
            ec2_instance_id: id.clone(),
            version: 1,
            version_info: registration.version_info.clone(),
            registered_resources: registration.resources.clone(),
            status: InstanceStatus::Active,
            attributes: registration.attributes.clone(),
            registered_at: call.now(),
            tags: registration.tags.clone(),
            ..ContainerInstance::default()
        },
        agent_key_sha256: agent.key_sha256,
        hostname: agent.hostname,
        runtime: agent.runtime,
        address: agent.address,
    };
    loop {
        let Some(existing) = call.get::<InstanceRecord>(Collection::ContainerInstances, id)? else {
            if registration.existing_only {
                return Err(ApiError::invalid(format!(
                    "containerInstanceArn: no container instance {arn}; register it without \
                     containerInstanceArn first"
                )));
            }
            if call.insert_new(
                Collection::ContainerInstances,
                id,
                &cluster.cluster_name,
                &fresh,
            )? {
                return Ok(fresh);
            }
            // Registered by another call meanwhile: register again over it.
            continue;
        };
        // The store keeps an instance under its cluster; moving it would leave it listed in
        // the old one.
        if existing.instance.container_instance_arn != arn {
            return Err(ApiError::invalid(format!(
                "instance {id} is registered as {}; deregister it there before registering it \
                 in cluster {}",
                existing.instance.container_instance_arn, cluster.cluster_name
            )));
        }
        let updated = call.modify(
            Collection::ContainerInstances,
            id,
            |r: &mut InstanceRecord| {
                let mut tags = std::mem::take(&mut r.instance.tags);
                for tag in &registration.tags {
                    match tags.iter_mut().find(|t| t.key == tag.key) {
                        Some(old) => old.value = tag.value.clone(),
                        None => tags.push(tag.clone()),
                    }
                }
                validate::tags(&tags)?;
                let mut next = fresh.clone();
                next.instance.status = r.instance.status;
                next.instance.version = r.instance.version + 1;
                next.instance.registered_at = r.instance.registered_at;
                next.instance.tags = tags;
                if registration.agent.is_none() {
                    next.agent_key_sha256 = std::mem::take(&mut r.agent_key_sha256);
                    next.hostname = std::mem::take(&mut r.hostname);
                    next.runtime = std::mem::take(&mut r.runtime);
                    next.address = r.address.take();
                }
                *r = next;
                Ok::<_, ApiError>(r.clone())
            },
        )?;
        if let Some(record) = updated {
            return Ok(record);
        }
    }
}

/// The instance id a RegisterContainerInstance names: the id in `containerInstanceArn` (a
/// re-registration), else the identity document's `instanceId`, else a new one.
fn requested_instance_id(
    call: &Call<'_>,
    request: &RegisterContainerInstance,
) -> Result<String, ApiError> {
    if let Some(arn) = &request.container_instance_arn {
        return Ok(instance_id(arn));
    }
    let Some(document) = &request.instance_identity_document else {
        return Ok(call.ids().hex(32));
    };
    let document: Value = serde_json::from_str(document).map_err(|e| {
        ApiError::invalid(format!(
            "instanceIdentityDocument: not a JSON document: {e}"
        ))
    })?;
    document
        .get("instanceId")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::invalid("instanceIdentityDocument.instanceId: required"))
}

/// `CPU` and `MEMORY` as positive integers first, then `PORTS` / `PORTS_UDP` string sets
/// (shown back; Berth's placement does not reserve host ports).
fn total_resources(given: &[InstanceResource]) -> Result<Vec<InstanceResource>, ApiError> {
    let mut accounted = Vec::new();
    let mut shown = Vec::new();
    for (i, resource) in given.iter().enumerate() {
        let path = format!("totalResources[{i}]");
        if given[..i].iter().any(|r| r.name == resource.name) {
            return Err(ApiError::invalid(format!(
                "{path}.name: {} is given twice",
                resource.name
            )));
        }
        match (resource.name.as_str(), resource.kind.as_str()) {
            ("CPU" | "MEMORY", "INTEGER") => match resource.integer_value {
                Some(value) if value > 0 => {
                    accounted.push(InstanceResource::integer(&resource.name, value))
                }
                other => {
                    return Err(ApiError::invalid(format!(
                        "{path}.integerValue: {} must be a positive integer, got {}",
                        resource.name,
                        other.map_or("nothing".to_string(), |v| v.to_string())
                    )))
                }
            },
            ("CPU" | "MEMORY", kind) => {
                return Err(ApiError::invalid(format!(
                    "{path}.type: {} is INTEGER, got {kind:?}",
                    resource.name
                )))
            }
            ("PORTS" | "PORTS_UDP", "STRINGSET") => shown.push(InstanceResource {
                name: resource.name.clone(),
                kind: resource.kind.clone(),
                integer_value: None,
                string_set_value: Some(resource.string_set_value.clone().unwrap_or_default()),
            }),
            (name, kind) => {
                return Err(ApiError::invalid(format!(
                    "{path}: Berth accounts CPU and MEMORY (INTEGER) and shows PORTS and \
                     PORTS_UDP (STRINGSET), got {name:?} ({kind})"
                )))
            }
        }
    }
    for name in ["CPU", "MEMORY"] {
        if !accounted.iter().any(|r| r.name == name) {
            return Err(ApiError::invalid(format!(
                "totalResources: {name} is required (an INTEGER: CPU units, 1024 per core; \
                 memory in MiB)"
            )));
        }
    }
    accounted.sort_by_key(|r| r.name != "CPU");
    accounted.extend(shown);
    Ok(accounted)
}

/// RegisterContainerInstance: a machine registered through the ECS API rather than by a
/// `berth agent`. It is shown with its resources and `agentConnected: false`, and it gets
/// no tasks (nothing would run them) until a `berth agent` registers the same instance id
/// with a join token and connects; the instance then keeps its ARN, status and tags.
pub fn register(call: &Call<'_>, request: &RegisterContainerInstance) -> Result<Value, ApiError> {
    // A re-registration by full ARN names its cluster there.
    let cluster = request.cluster.clone().or_else(|| {
        match request.container_instance_arn.as_deref().and_then(parse) {
            Some(ResourceRef::ContainerInstance { cluster, .. }) => cluster,
            _ => None,
        }
    });
    let record = register_instance(
        call,
        Registration {
            cluster: cluster.as_deref(),
            instance_id: requested_instance_id(call, request)?,
            resources: total_resources(&request.total_resources)?,
            attributes: request.attributes.clone(),
            version_info: request.version_info.clone(),
            tags: request.tags.clone(),
            agent: None,
            existing_only: request.container_instance_arn.is_some(),
        },
    )?;
    let lost_after = lost_after(call, cluster_of(&record.instance.container_instance_arn))?;
    let mut instance = present(call, &record, lost_after)?;
    instance.tags = record.instance.tags;
    Ok(json!({ "containerInstance": instance }))
}

fn cluster_of(arn: &str) -> &str {
    arn.rsplit('/').nth(1).unwrap_or_default()
}

/// How long an agent of `cluster` may go unheard before its instance counts as
/// disconnected and its tasks as lost (the cluster's `berth:lost-after-seconds` tag).
pub fn lost_after(call: &Call<'_>, cluster: &str) -> Result<u64, ApiError> {
    Ok(call
        .get::<Cluster>(Collection::Clusters, cluster)?
        .map_or(DEFAULT_LOST_AFTER_SECONDS, |c| agent::lost_after(&c.tags)))
}

/// Whether the agent of `record` was heard from within `lost_after` seconds: what
/// `agentConnected` shows and placement goes by. An instance no agent registered has none to
/// hear from.
pub fn heard_within(call: &Call<'_>, record: &InstanceRecord, lost_after: u64) -> bool {
    record.has_agent()
        && call
            .presence()
            .connected(record.id(), call.now(), lost_after)
}

/// [`heard_within`] its cluster's `lost_after`.
pub fn agent_connected(call: &Call<'_>, record: &InstanceRecord) -> Result<bool, ApiError> {
    let lost_after = lost_after(call, cluster_of(&record.instance.container_instance_arn))?;
    Ok(heard_within(call, record, lost_after))
}

/// The ECS view of an instance: live counts, remaining resources and connection within its
/// cluster's `lost_after`.
pub fn present(
    call: &Call<'_>,
    record: &InstanceRecord,
    lost_after: u64,
) -> Result<ContainerInstance, crate::call::Fault> {
    let mut instance = record.instance.clone();
    let placed =
        call.tasks_on_instance(cluster_of(&instance.container_instance_arn), record.id())?;
    let mine: Vec<&Task> = placed
        .iter()
        .map(|t| &t.value)
        .filter(|t| t.last_status != TaskStatus::Stopped)
        .collect();
    instance.running_tasks_count = mine
        .iter()
        .filter(|t| t.last_status == TaskStatus::Running)
        .count() as i64;
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
    instance.agent_connected = heard_within(call, record, lost_after);
    instance.tags.clear();
    Ok(instance)
}

fn instance_id(member: &str) -> String {
    match parse(member) {
        Some(ResourceRef::ContainerInstance { id, .. }) => id,
        _ => member.to_string(),
    }
}

pub fn describe(call: &Call<'_>, request: &DescribeContainerInstances) -> Result<Value, ApiError> {
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let lost_after = agent::lost_after(&cluster.tags);
    let tags = wants_tags(&request.include);
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
                let mut instance = present(call, &record, lost_after)?;
                if tags {
                    instance.tags = record.instance.tags.clone();
                }
                found.push(instance);
            }
            _ => failures.push(Failure::missing(
                call.arns().container_instance(&cluster.cluster_name, &id),
            )),
        }
    }
    Ok(json!({"containerInstances": found, "failures": failures}))
}

pub fn list(call: &Call<'_>, request: &ListContainerInstances) -> Result<Value, ApiError> {
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
                .is_none_or(|s| r.instance.status.to_string() == *s)
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

pub fn update_state(
    call: &Call<'_>,
    request: &UpdateContainerInstancesState,
) -> Result<Value, ApiError> {
    // Checked to be one of the two when the request was decoded.
    let status = if request.status == "DRAINING" {
        InstanceStatus::Draining
    } else {
        InstanceStatus::Active
    };
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let lost_after = agent::lost_after(&cluster.tags);
    let mut updated = Vec::new();
    let mut failures = Vec::new();
    for requested in &request.container_instances {
        let id = instance_id(requested);
        let record = call.modify(
            Collection::ContainerInstances,
            &id,
            |r: &mut InstanceRecord| {
                r.instance.status = status;
                r.instance.version += 1;
                Ok::<_, ApiError>(r.clone())
            },
        )?;
        match record {
            Some(record) => updated.push(present(call, &record, lost_after)?),
            None => failures.push(Failure::missing(
                call.arns().container_instance(&cluster.cluster_name, &id),
            )),
        }
    }
    Ok(json!({"containerInstances": updated, "failures": failures}))
}

pub fn deregister(
    call: &Call<'_>,
    request: &DeregisterContainerInstance,
) -> Result<Value, ApiError> {
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let id = instance_id(&request.container_instance);
    let record = call
        .get::<InstanceRecord>(Collection::ContainerInstances, &id)?
        .ok_or_else(|| ApiError::invalid("The referenced container instance was not found."))?;
    let busy = call
        .tasks_on_instance(&cluster.cluster_name, &id)?
        .iter()
        .any(|t| t.value.last_status != TaskStatus::Stopped);
    if busy && request.force != Some(true) {
        return Err(ApiError::new(
            ErrorKind::InvalidParameterException,
            "The container instance has tasks running on it; stop them first or pass force.",
        ));
    }
    let lost_after = agent::lost_after(&cluster.tags);
    let mut instance = present(call, &record, lost_after)?;
    call.remove(Collection::ContainerInstances, &id)?;
    call.presence().forget(&id);
    instance.status = InstanceStatus::Inactive;
    instance.agent_connected = false;
    Ok(json!({"containerInstance": instance}))
}
