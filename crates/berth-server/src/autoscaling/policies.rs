//! PutScalingPolicy, DescribeScalingPolicies and DeleteScalingPolicy. A policy's `Alarms`
//! are the CloudWatch alarms whose actions name it; target tracking policies have none of
//! their own: Berth evaluates them on its own metrics, and names the alarms AWS would have
//! created only in scaling activities' causes.

use super::error::Error;
use super::requests::{self as r, PolicyType};
use super::stored::{member_key, of_targets, registered, StoredPolicy};
use crate::call::Call;
use crate::elbv2::resources::{load_balancer_name, target_group_name, LoadBalancer, TargetGroup};
use crate::json_api::page;
use berth_scaling::History;
use berth_store::Collection;
use serde_json::{json, Value};

/// Policies one scalable target may have, as AWS limits them.
pub const MAX_POLICIES: usize = 50;

/// An `ALBRequestCountPerTarget` label must name a load balancer and one of its target
/// groups that exist: `app/<lb>/<lb-id>/targetgroup/<tg>/<tg-id>`.
fn check_resource_label(call: &Call<'_>, label: &str) -> Result<(), Error> {
    let wrong = || {
        Error::validation(format!(
            "ResourceLabel {label:?} is not app/<load-balancer-name>/<load-balancer-id>/targetgroup/<target-group-name>/<target-group-id>"
        ))
    };
    let (balancer, group) = label.split_once("/targetgroup/").ok_or_else(wrong)?;
    if !balancer.starts_with("app/")
        || balancer.split('/').count() != 3
        || group.split('/').count() != 2
    {
        return Err(wrong());
    }
    let arns = call.arns();
    let prefix = format!(
        "arn:aws:elasticloadbalancing:{}:{}",
        arns.region, arns.account
    );
    let balancer_arn = format!("{prefix}:loadbalancer/{balancer}");
    let group_arn = format!("{prefix}:targetgroup/{group}");
    let (balancer_name, group_name) = (
        load_balancer_name(&balancer_arn).unwrap_or_default(),
        target_group_name(&group_arn).unwrap_or_default(),
    );
    let balancer = call.get::<LoadBalancer>(Collection::LoadBalancers, balancer_name)?;
    if balancer.is_none_or(|b| b.load_balancer_arn != balancer_arn) {
        return Err(Error::validation(format!(
            "ResourceLabel {label:?}: no load balancer {balancer_arn}"
        )));
    }
    let group = call.get::<TargetGroup>(Collection::TargetGroups, group_name)?;
    if group.is_none_or(|g| g.target_group_arn != group_arn) {
        return Err(Error::validation(format!(
            "ResourceLabel {label:?}: no target group {group_arn}"
        )));
    }
    Ok(())
}

pub fn put(call: &Call<'_>, request: &r::PutScalingPolicy) -> Result<Value, Error> {
    let target = registered(call, &request.target)?;
    let label = request
        .target_tracking_scaling_policy_configuration
        .as_ref()
        .and_then(|c| c.predefined_metric_specification.as_ref())
        .and_then(|p| p.resource_label.as_deref());
    if let Some(label) = label {
        check_resource_label(call, label)?;
    }
    let scope = target.key();
    let key = member_key(&scope, &request.policy_name);
    let kind = request.kind();
    let (step, tracking) = match kind {
        PolicyType::StepScaling => (request.step_scaling_policy_configuration.clone(), None),
        _ => (
            None,
            request.target_tracking_scaling_policy_configuration.clone(),
        ),
    };
    let updated = call.modify(
        Collection::ScalingPolicies,
        &key,
        |policy: &mut StoredPolicy| {
            policy.policy_type = kind;
            policy.step = step.clone();
            policy.target_tracking = tracking.clone();
            Ok::<_, Error>(policy.arn.clone())
        },
    )?;
    let arn = match updated {
        Some(arn) => arn,
        None => {
            if call
                .list::<StoredPolicy>(Collection::ScalingPolicies, Some(&scope))?
                .len()
                >= MAX_POLICIES
            {
                return Err(Error::limit(format!(
                    "a scalable target may have at most {MAX_POLICIES} scaling policies"
                )));
            }
            let arns = call.arns();
            let policy = StoredPolicy {
                arn: format!(
                    "arn:aws:autoscaling:{}:{}:scalingPolicy:{}:resource/{}/{}:policyName/{}",
                    arns.region,
                    arns.account,
                    call.ids().uuid(),
                    target.service_namespace,
                    target.resource_id,
                    request.policy_name
                ),
                name: request.policy_name.clone(),
                target_key: scope.clone(),
                service_namespace: target.service_namespace.clone(),
                resource_id: target.resource_id.clone(),
                scalable_dimension: target.scalable_dimension.clone(),
                policy_type: kind,
                step,
                target_tracking: tracking,
                creation_time: call.now(),
                history: History::default(),
            };
            if !call.insert_new(Collection::ScalingPolicies, &key, &scope, &policy)? {
                return Err(Error::new(
                    "ConcurrentUpdateException",
                    "The scaling policy was put by another request at the same time: try again",
                ));
            }
            policy.arn
        }
    };
    Ok(json!({"PolicyARN": arn, "Alarms": []}))
}

fn policy_json(call: &Call<'_>, policy: &StoredPolicy) -> Result<Value, Error> {
    let alarms: Vec<Value> = crate::cloudwatch::alarms::naming_policy(call, &policy.arn)?
        .into_iter()
        .map(|a| json!({"AlarmName": a.alarm_name, "AlarmARN": a.alarm_arn}))
        .collect();
    let mut answer = json!({
        "PolicyARN": policy.arn,
        "PolicyName": policy.name,
        "ServiceNamespace": policy.service_namespace,
        "ResourceId": policy.resource_id,
        "ScalableDimension": policy.scalable_dimension,
        "PolicyType": policy.policy_type,
        "Alarms": alarms,
        "CreationTime": policy.creation_time,
    });
    if let Some(step) = &policy.step {
        answer["StepScalingPolicyConfiguration"] = json!(step);
    }
    if let Some(tracking) = &policy.target_tracking {
        answer["TargetTrackingScalingPolicyConfiguration"] = json!(tracking);
    }
    Ok(answer)
}

pub fn describe(call: &Call<'_>, request: &r::DescribeScalingPolicies) -> Result<Value, Error> {
    let policies: Vec<StoredPolicy> = of_targets(
        call,
        Collection::ScalingPolicies,
        &request.service_namespace,
        request.resource_id.as_deref(),
        request.scalable_dimension.as_deref(),
    )?;
    let matching: Vec<&StoredPolicy> = policies
        .iter()
        .filter(|p| {
            p.service_namespace == request.service_namespace
                && request
                    .scalable_dimension
                    .as_ref()
                    .is_none_or(|d| *d == p.scalable_dimension)
                && request
                    .policy_names
                    .as_ref()
                    .is_none_or(|names| names.contains(&p.name))
        })
        .collect();
    let (page, next) = page(
        matching,
        request.next_token.as_deref(),
        request.max_results,
        50,
        |p| p.arn.clone(),
    )?;
    let page = page
        .into_iter()
        .map(|p| policy_json(call, p))
        .collect::<Result<Vec<Value>, Error>>()?;
    let mut answer = json!({"ScalingPolicies": page});
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}

pub fn delete(call: &Call<'_>, request: &r::DeleteScalingPolicy) -> Result<Value, Error> {
    let key = member_key(&request.target.key(), &request.policy_name);
    if !call.remove(Collection::ScalingPolicies, &key)? {
        return Err(request.target.policy_not_found(&request.policy_name));
    }
    Ok(json!({}))
}
