//! CreateCluster, DescribeClusters, ListClusters, DeleteCluster.

use super::common::wants_tags;
use super::pagination;
use crate::call::Call;
use berth_model::arn::cluster_name;
use berth_model::requests::{CreateCluster, DeleteCluster, DescribeClusters, ListClusters};
use berth_model::resources::{Cluster, Failure, Service};
use berth_model::status::{ClusterStatus, ServiceStatus};
use berth_model::{ApiError, ErrorKind};
use berth_store::Collection;
use serde_json::{json, Value};

fn new_cluster(call: &Call<'_>, name: &str, request: &CreateCluster) -> Cluster {
    let request = request.clone();
    Cluster {
        cluster_arn: call.arns().cluster(name),
        cluster_name: name.to_string(),
        configuration: request.configuration,
        status: ClusterStatus::Active,
        tags: request.tags.unwrap_or_default(),
        settings: Some(request.settings.unwrap_or_else(|| {
            vec![
                serde_json::from_value(json!({"name": "containerInsights", "value": "disabled"}))
                    .expect("literal object"),
            ]
        })),
        capacity_providers: request.capacity_providers.unwrap_or_default(),
        default_capacity_provider_strategy: request
            .default_capacity_provider_strategy
            .unwrap_or_default(),
        service_connect_defaults: request.service_connect_defaults,
        ..Cluster::default()
    }
}

pub fn ensure_default(call: &Call<'_>) -> Result<(), ApiError> {
    if call
        .get::<Cluster>(Collection::Clusters, "default")?
        .is_none()
    {
        let cluster = new_cluster(call, "default", &CreateCluster::default());
        call.insert_new(Collection::Clusters, "default", "", &cluster)?;
    }
    Ok(())
}

/// The ACTIVE cluster a request's `cluster` member names, or ECS's ClusterNotFoundException.
pub fn require_active(call: &Call<'_>, member: Option<&str>) -> Result<Cluster, ApiError> {
    let name = cluster_name(member).ok_or_else(ApiError::cluster_not_found)?;
    match call.get::<Cluster>(Collection::Clusters, &name)? {
        Some(cluster) if cluster.status == ClusterStatus::Active => Ok(cluster),
        _ => Err(ApiError::cluster_not_found()),
    }
}

pub fn create(call: &Call<'_>, request: &CreateCluster) -> Result<Value, ApiError> {
    let name = request
        .cluster_name
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let fresh = new_cluster(call, &name, request);
    loop {
        match call.get::<Cluster>(Collection::Clusters, &name)? {
            // CreateCluster is idempotent on ECS: asking again returns the existing cluster.
            Some(existing) if existing.status == ClusterStatus::Active => {
                return Ok(json!({"cluster": with_counts(call, existing, false)?}))
            }
            Some(_) => {
                let replaced = call.modify(Collection::Clusters, &name, |c: &mut Cluster| {
                    if c.status == ClusterStatus::Active {
                        return Ok::<_, ApiError>(false);
                    }
                    *c = fresh.clone();
                    Ok(true)
                })?;
                if replaced == Some(true) {
                    return Ok(json!({"cluster": with_counts(call, fresh, false)?}));
                }
            }
            None => {
                if call.insert_new(Collection::Clusters, &name, "", &fresh)? {
                    return Ok(json!({"cluster": with_counts(call, fresh, false)?}));
                }
            }
        }
    }
}

/// Fills in the counts ECS derives from a cluster's services and tasks.
fn with_counts(call: &Call<'_>, mut cluster: Cluster, tags: bool) -> Result<Cluster, ApiError> {
    let name = cluster.cluster_name.clone();
    let services: Vec<Service> = call.list(Collection::Services, Some(&name))?;
    let tasks = call.task_counts(&name)?;
    cluster.active_services_count = services
        .iter()
        .filter(|s| s.status == ServiceStatus::Active)
        .count() as i64;
    cluster.running_tasks_count = tasks.running as i64;
    cluster.pending_tasks_count = tasks.pending as i64;
    if !tags {
        cluster.tags.clear();
    }
    Ok(cluster)
}

pub fn describe(call: &Call<'_>, request: &DescribeClusters) -> Result<Value, ApiError> {
    let tags = wants_tags(&request.include);
    let names = request
        .clusters
        .clone()
        .unwrap_or_else(|| vec!["default".to_string()]);
    let mut clusters = Vec::new();
    let mut failures = Vec::new();
    for requested in names {
        let found = match cluster_name(Some(&requested)) {
            Some(name) => call.get::<Cluster>(Collection::Clusters, &name)?,
            None => None,
        };
        match found {
            Some(cluster) => clusters.push(with_counts(call, cluster, tags)?),
            None => {
                let arn = match cluster_name(Some(&requested)) {
                    Some(name) if !requested.starts_with("arn:") => call.arns().cluster(&name),
                    _ => requested,
                };
                failures.push(Failure::missing(arn));
            }
        }
    }
    Ok(json!({"clusters": clusters, "failures": failures}))
}

pub fn list(call: &Call<'_>, request: &ListClusters) -> Result<Value, ApiError> {
    let arns: Vec<String> = call
        .list::<Cluster>(Collection::Clusters, None)?
        .into_iter()
        .filter(|c| c.status == ClusterStatus::Active)
        .map(|c| c.cluster_arn)
        .collect();
    let (page, next) = pagination::page(arns, &request.page, 100)?;
    Ok(json!({"clusterArns": page, "nextToken": next}))
}

pub fn delete(call: &Call<'_>, request: &DeleteCluster) -> Result<Value, ApiError> {
    let cluster = require_active(call, Some(&request.cluster))?;
    let name = cluster.cluster_name.clone();
    let services: Vec<Service> = call.list(Collection::Services, Some(&name))?;
    if services.iter().any(|s| s.status != ServiceStatus::Inactive) {
        return Err(ApiError::new(
            ErrorKind::ClusterContainsServicesException,
            "The Cluster cannot be deleted while Services are active.",
        ));
    }
    if call.task_counts(&name)?.active > 0 {
        return Err(ApiError::new(
            ErrorKind::ClusterContainsTasksException,
            "The Cluster cannot be deleted while Tasks are active.",
        ));
    }
    let deleted = call
        .modify(Collection::Clusters, &name, |c: &mut Cluster| {
            c.status = ClusterStatus::Inactive;
            Ok::<_, ApiError>(c.clone())
        })?
        .ok_or_else(ApiError::cluster_not_found)?;
    Ok(json!({"cluster": with_counts(call, deleted, false)?}))
}
