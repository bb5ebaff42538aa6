//! CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer and the attribute actions,
//! each handed a request already checked (`requests::load_balancers`), so what is left here is
//! what the store decides: name clashes, lookups, deletion protection.
//!
//! Berth's load balancers are application load balancers; the network members (subnets,
//! security groups, scheme) are kept and shown but have no effect, since every listener binds
//! on the balancer's address. Of the attributes, the idle timeout (for every listener of the
//! load balancer) and deletion protection act.

use super::common::Error;
use super::requests::load_balancers::{
    CreateLoadBalancer, DeleteLoadBalancer, DescribeLoadBalancerAttributes, DescribeLoadBalancers,
    LoadBalancerSelection, ModifyLoadBalancerAttributes,
};
use super::resources::{arn_id, arn_prefix, AvailabilityZone, Listener};
use super::resources::{LoadBalancer, State};
use super::{attributes, stored};
use crate::call::{to_value, Call};
use berth_store::Collection;
use serde_json::{json, Value};

fn describe_one(lb: &LoadBalancer) -> Value {
    let mut value = to_value(lb);
    if let Value::Object(members) = &mut value {
        members.remove("Tags");
        members.remove("Attributes");
    }
    value
}

pub fn create(call: &Call<'_>, request: &CreateLoadBalancer) -> Result<Value, Error> {
    let name = &request.name;
    let arns = call.arns();
    let fresh = LoadBalancer {
        load_balancer_arn: format!(
            "{}loadbalancer/app/{name}/{}",
            arn_prefix(&arns.region, &arns.account),
            arn_id(call.ids())
        ),
        dns_name: call.data_plane().dns_name(),
        created_time: berth_time::iso8601(call.now()),
        load_balancer_name: name.clone(),
        scheme: request.scheme.to_string(),
        vpc_id: None,
        state: State {
            code: "active".to_string(),
        },
        kind: request.kind.to_string(),
        availability_zones: request
            .subnets
            .iter()
            .map(|subnet_id| AvailabilityZone {
                zone_name: None,
                subnet_id: subnet_id.clone(),
            })
            .collect(),
        security_groups: request.security_groups.clone(),
        ip_address_type: request.ip_address_type.to_string(),
        tags: request.tags.clone(),
        attributes: Default::default(),
    };
    if call.insert_new(Collection::LoadBalancers, name, "", &fresh)? {
        return Ok(json!({"LoadBalancers": [describe_one(&fresh)]}));
    }
    // Asking again with the same settings answers the existing load balancer, as on AWS.
    let existing: LoadBalancer = call
        .get(Collection::LoadBalancers, name)?
        .ok_or_else(|| Error::internal("a load balancer vanished while it was created"))?;
    let same = existing.scheme == fresh.scheme
        && existing.kind == fresh.kind
        && existing.ip_address_type == fresh.ip_address_type
        && existing.availability_zones == fresh.availability_zones
        && existing.security_groups == fresh.security_groups;
    if !same {
        return Err(Error::new(
            "DuplicateLoadBalancerName",
            format!("A load balancer with the name '{name}' already exists"),
        ));
    }
    Ok(json!({"LoadBalancers": [describe_one(&existing)]}))
}

pub fn describe(call: &Call<'_>, request: &DescribeLoadBalancers) -> Result<Value, Error> {
    let all: Vec<LoadBalancer> = call.list(Collection::LoadBalancers, None)?;
    let selected: Vec<&LoadBalancer> = match &request.selection {
        LoadBalancerSelection::Arns(arns) => arns
            .iter()
            .map(|arn| all.iter().find(|lb| lb.load_balancer_arn == *arn))
            .collect::<Option<_>>()
            .ok_or_else(stored::load_balancer_not_found)?,
        LoadBalancerSelection::Names(names) => names
            .iter()
            .map(|name| all.iter().find(|lb| lb.load_balancer_name == *name))
            .collect::<Option<_>>()
            .ok_or_else(stored::load_balancer_not_found)?,
        LoadBalancerSelection::All => all.iter().collect(),
    };
    let (items, next) = request
        .page
        .of(selected, |lb| lb.load_balancer_name.clone())?;
    let described: Vec<Value> = items.into_iter().map(describe_one).collect();
    Ok(json!({"LoadBalancers": described, "NextMarker": next}))
}

/// Deletes the load balancer with its listeners and their rules. An unknown ARN succeeds,
/// as on AWS.
pub fn delete(call: &Call<'_>, request: &DeleteLoadBalancer) -> Result<Value, Error> {
    let arn = &request.load_balancer_arn;
    if let Some(lb) = stored::load_balancer(call, arn)? {
        if lb.deletion_protected() {
            return Err(Error::new(
                "OperationNotPermitted",
                format!(
                    "Load balancer '{arn}' cannot be deleted because deletion protection is \
                     enabled; set deletion_protection.enabled to false first"
                ),
            ));
        }
        for listener in call.list::<Listener>(Collection::Listeners, Some(arn))? {
            stored::remove_listener(call, &listener.listener_arn)?;
        }
        call.remove(Collection::LoadBalancers, &lb.load_balancer_name)?;
    }
    Ok(json!({}))
}

/// The stored load balancer an ARN names, or LoadBalancerNotFound.
fn require(call: &Call<'_>, arn: &str) -> Result<LoadBalancer, Error> {
    stored::load_balancer(call, arn)?.ok_or_else(stored::load_balancer_not_found)
}

pub fn modify_attributes(
    call: &Call<'_>,
    request: &ModifyLoadBalancerAttributes,
) -> Result<Value, Error> {
    let arn = &request.load_balancer_arn;
    let lb = require(call, arn)?;
    let modified = call
        .modify(
            Collection::LoadBalancers,
            &lb.load_balancer_name,
            |stored: &mut LoadBalancer| {
                if stored.load_balancer_arn != *arn {
                    return Err(stored::load_balancer_not_found());
                }
                stored.attributes.extend(request.attributes.iter().cloned());
                Ok(stored.clone())
            },
        )?
        .ok_or_else(stored::load_balancer_not_found)?;
    Ok(attributes::answer(&modified.attributes()))
}

pub fn describe_attributes(
    call: &Call<'_>,
    request: &DescribeLoadBalancerAttributes,
) -> Result<Value, Error> {
    Ok(attributes::answer(
        &require(call, &request.load_balancer_arn)?.attributes(),
    ))
}
