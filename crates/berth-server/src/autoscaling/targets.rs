//! RegisterScalableTarget, DeregisterScalableTarget and DescribeScalableTargets.

use super::error::Error;
use super::requests::{self as r, SuspendedState};
use super::scaling::activity_key;
use super::scaling::{current_capacity, set_capacity};
use super::stored::{
    registered, StoredActivity, StoredPolicy, StoredScheduledAction, StoredTarget,
};
use crate::call::Call;
use crate::ecs::names;
use crate::json_api::page;
use crate::schedules::{self, Owner};
use berth_model::resources::Service;
use berth_model::status::ServiceStatus;
use berth_store::Collection;
use serde_json::{json, Value};

fn merge(stored: &mut SuspendedState, given: &SuspendedState) {
    let fields = [
        (
            &mut stored.dynamic_scaling_in_suspended,
            given.dynamic_scaling_in_suspended,
        ),
        (
            &mut stored.dynamic_scaling_out_suspended,
            given.dynamic_scaling_out_suspended,
        ),
        (
            &mut stored.scheduled_scaling_suspended,
            given.scheduled_scaling_suspended,
        ),
    ];
    for (field, value) in fields {
        if value.is_some() {
            *field = value;
        }
    }
}

/// The role AWS's ECS scalable targets use when none is given.
fn default_role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService")
}

pub fn register(call: &Call<'_>, request: &r::RegisterScalableTarget) -> Result<Value, Error> {
    let id = request.target.service();
    let service_exists = call
        .get::<Service>(Collection::Services, &names::key(&id.cluster, &id.service))?
        .is_some_and(|s| s.status == ServiceStatus::Active);
    if !service_exists {
        return Err(Error::validation(format!(
            "ECS service doesn't exist: {}",
            request.target.resource_id
        )));
    }
    let key = request.target.key();
    let target = match call.get::<StoredTarget>(Collection::ScalableTargets, &key)? {
        None => {
            let (Some(min), Some(max)) = (request.min_capacity, request.max_capacity) else {
                return Err(Error::validation(
                    "MinCapacity and MaxCapacity are required to register a new scalable target",
                ));
            };
            let arns = call.arns();
            let mut suspended = SuspendedState::default();
            merge(&mut suspended, &request.suspended_state.unwrap_or_default());
            let target = StoredTarget {
                service_namespace: request.target.service_namespace.clone(),
                resource_id: request.target.resource_id.clone(),
                scalable_dimension: request.target.scalable_dimension.clone(),
                min_capacity: min,
                max_capacity: max,
                role_arn: request
                    .role_arn
                    .clone()
                    .unwrap_or_else(|| default_role(&arns.account)),
                suspended_state: suspended,
                creation_time: call.now(),
                arn: format!(
                    "arn:aws:application-autoscaling:{}:{}:scalable-target/{}",
                    arns.region,
                    arns.account,
                    call.ids().hex(36)
                ),
                tags: request.tags.clone().unwrap_or_default(),
            };
            if !call.insert_new(
                Collection::ScalableTargets,
                &key,
                &target.service_namespace,
                &target,
            )? {
                return Err(Error::new(
                    "ConcurrentUpdateException",
                    "The scalable target was registered by another request at the same time: try again",
                ));
            }
            target
        }
        Some(_) => call
            .modify(
                Collection::ScalableTargets,
                &key,
                |target: &mut StoredTarget| {
                    let min = request.min_capacity.unwrap_or(target.min_capacity);
                    let max = request.max_capacity.unwrap_or(target.max_capacity);
                    berth_scaling::decide::Range::new(min, max).map_err(Error::validation)?;
                    target.min_capacity = min;
                    target.max_capacity = max;
                    if let Some(role) = &request.role_arn {
                        target.role_arn = role.clone();
                    }
                    if let Some(state) = &request.suspended_state {
                        merge(&mut target.suspended_state, state);
                    }
                    Ok::<_, Error>(target.clone())
                },
            )?
            .ok_or_else(|| request.target.target_not_found())?,
    };
    // A new range moves a count outside it at once, as AWS does.
    if let Some(current) = current_capacity(call, &target)? {
        let capacity = target.range().clamp(current);
        if capacity > current {
            set_capacity(
                call,
                &target,
                capacity,
                &format!("minimum capacity was set to {}", target.min_capacity),
            )?;
        } else if capacity < current {
            set_capacity(
                call,
                &target,
                capacity,
                &format!("maximum capacity was set to {}", target.max_capacity),
            )?;
        }
    }
    Ok(json!({"ScalableTargetARN": target.arn}))
}

pub fn deregister(call: &Call<'_>, request: &r::DeregisterScalableTarget) -> Result<Value, Error> {
    let target = registered(call, &request.target).map_err(|_| {
        Error::not_found(format!(
            "No scalable target found for service namespace: {}, resource ID: {}, scalable dimension: {}",
            request.target.service_namespace, request.target.resource_id, request.target.scalable_dimension
        ))
    })?;
    let key = target.key();
    // Its policies, scheduled actions and activities go with it.
    for policy in call.list::<StoredPolicy>(Collection::ScalingPolicies, Some(&key))? {
        call.remove(
            Collection::ScalingPolicies,
            &super::stored::member_key(&key, &policy.name),
        )?;
    }
    for action in call.list::<StoredScheduledAction>(Collection::ScheduledActions, Some(&key))? {
        schedules::unindex(call, Owner::ScheduledAction, &action.key())?;
        call.remove(Collection::ScheduledActions, &action.key())?;
    }
    for activity in call.list::<StoredActivity>(Collection::ScalingActivities, Some(&key))? {
        call.remove(
            Collection::ScalingActivities,
            &activity_key(&key, &activity),
        )?;
    }
    call.remove(Collection::ScalableTargets, &key)?;
    Ok(json!({}))
}

pub fn target_json(target: &StoredTarget) -> Value {
    let suspended = target.suspended();
    json!({
        "ServiceNamespace": target.service_namespace,
        "ResourceId": target.resource_id,
        "ScalableDimension": target.scalable_dimension,
        "MinCapacity": target.min_capacity,
        "MaxCapacity": target.max_capacity,
        "RoleARN": target.role_arn,
        "CreationTime": target.creation_time,
        "SuspendedState": {
            "DynamicScalingInSuspended": suspended.dynamic_in,
            "DynamicScalingOutSuspended": suspended.dynamic_out,
            "ScheduledScalingSuspended": suspended.scheduled,
        },
        "ScalableTargetARN": target.arn,
    })
}

pub fn describe(call: &Call<'_>, request: &r::DescribeScalableTargets) -> Result<Value, Error> {
    let stored = call.list::<StoredTarget>(
        Collection::ScalableTargets,
        Some(&request.service_namespace),
    )?;
    let targets: Vec<&StoredTarget> = stored
        .iter()
        .filter(|t| {
            request
                .resource_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&t.resource_id))
                && request
                    .scalable_dimension
                    .as_ref()
                    .is_none_or(|d| *d == t.scalable_dimension)
        })
        .collect();
    let (page, next) = page(
        targets,
        request.next_token.as_deref(),
        request.max_results,
        50,
        |t| t.arn.clone(),
    )?;
    let page: Vec<Value> = page.into_iter().map(target_json).collect();
    let mut answer = json!({"ScalableTargets": page});
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}
