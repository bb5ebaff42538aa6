//! Finding stored ELBv2 resources by ARN, and how they use each other: which load balancers
//! forward to each target group, and what goes with a listener when it is removed. Every
//! resource module reads the others through here, not through each other.

use super::common::Error;
use super::resources::{
    load_balancer_name, target_group_name, Listener, LoadBalancer, Rule, TargetGroup,
};
use crate::call::Call;
use berth_store::Collection;
use std::collections::{BTreeSet, HashMap};

pub fn load_balancer_not_found() -> Error {
    Error::new(
        "LoadBalancerNotFound",
        "One or more load balancers not found",
    )
}

/// The stored load balancer an ARN names, if any.
pub fn load_balancer(call: &Call<'_>, arn: &str) -> Result<Option<LoadBalancer>, Error> {
    let Some(name) = load_balancer_name(arn) else {
        return Ok(None);
    };
    Ok(call
        .get::<LoadBalancer>(Collection::LoadBalancers, name)?
        .filter(|lb| lb.load_balancer_arn == arn))
}

pub fn target_group_not_found() -> Error {
    Error::new("TargetGroupNotFound", "One or more target groups not found")
}

/// The stored target group an ARN names, if any.
pub fn target_group(call: &Call<'_>, arn: &str) -> Result<Option<TargetGroup>, Error> {
    let Some(name) = target_group_name(arn) else {
        return Ok(None);
    };
    Ok(call
        .get::<TargetGroup>(Collection::TargetGroups, name)?
        .filter(|tg| tg.target_group_arn == arn))
}

/// For every target group a listener or rule forwards to, the load balancers doing so.
pub fn usage(call: &Call<'_>) -> Result<HashMap<String, BTreeSet<String>>, Error> {
    Ok(super::resources::forwarding(
        &call.list::<Listener>(Collection::Listeners, None)?,
        &call.list::<Rule>(Collection::Rules, None)?,
    ))
}

/// Removes a listener and its rules.
pub fn remove_listener(call: &Call<'_>, arn: &str) -> Result<(), Error> {
    for rule in call.list::<Rule>(Collection::Rules, Some(arn))? {
        call.remove(Collection::Rules, &rule.rule_arn)?;
    }
    call.remove(Collection::Listeners, arn)?;
    Ok(())
}
