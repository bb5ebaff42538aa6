//! Target groups: CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup, the attribute
//! actions, DeleteTargetGroup, RegisterTargets, DeregisterTargets and DescribeTargetHealth.
//! Their members are checked before they get here (`requests::target_groups`); what is left
//! needs the stored group: whether it exists and is in use, its targets, and a health check
//! timeout checked against an interval only the stored group knows.
//!
//! Registered targets are stored with their group; their health is the balancer's.

use super::common::Error;
use super::requests::target_groups::{check_timing, TargetGroupSelection};
use super::requests::target_groups::{
    CreateTargetGroup, DeleteTargetGroup, DeregisterTargets, DescribeTargetGroupAttributes,
    DescribeTargetGroups, DescribeTargetHealth, ModifyTargetGroup, ModifyTargetGroupAttributes,
    RegisterTargets,
};
use super::resources::{arn_id, arn_prefix, Target, TargetGroup};
use super::{attributes, stored};
use crate::call::{to_value, Call};
use berth_lb::health::State;
use berth_store::Collection;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// The most targets one group takes.
const MAX_TARGETS: usize = 1000;

fn require(call: &Call<'_>, arn: &str) -> Result<TargetGroup, Error> {
    stored::target_group(call, arn)?.ok_or_else(stored::target_group_not_found)
}

/// Changes the target group `arn` names (a read-modify-write, see `Call::modify`) and
/// returns it as stored. `TargetGroupNotFound` when no group has that ARN, also when a group
/// of the same name was made anew meanwhile.
fn change(
    call: &Call<'_>,
    arn: &str,
    mut apply: impl FnMut(&mut TargetGroup) -> Result<(), Error>,
) -> Result<TargetGroup, Error> {
    let tg = require(call, arn)?;
    call.modify(
        Collection::TargetGroups,
        &tg.target_group_name,
        |stored: &mut TargetGroup| {
            if stored.target_group_arn != arn {
                return Err(stored::target_group_not_found());
            }
            apply(stored)?;
            Ok(stored.clone())
        },
    )?
    .ok_or_else(stored::target_group_not_found)
}

/// A target group as Describe* shows it: without attributes, targets and tags, with the load
/// balancers whose listeners forward to it.
fn describe_one(tg: &TargetGroup, load_balancers: Vec<String>) -> Value {
    let mut value = to_value(tg);
    if let Value::Object(members) = &mut value {
        for private in ["Attributes", "Targets", "Tags"] {
            members.remove(private);
        }
        members.insert("LoadBalancerArns".into(), json!(load_balancers));
    }
    value
}

fn described(call: &Call<'_>, groups: Vec<&TargetGroup>) -> Result<Vec<Value>, Error> {
    let usage = stored::usage(call)?;
    Ok(groups
        .into_iter()
        .map(|tg| {
            let lbs = usage
                .get(&tg.target_group_arn)
                .map(|lbs| lbs.iter().cloned().collect())
                .unwrap_or_default();
            describe_one(tg, lbs)
        })
        .collect())
}

pub fn create(call: &Call<'_>, request: &CreateTargetGroup) -> Result<Value, Error> {
    let name = &request.name;
    let arns = call.arns();
    let arn = format!(
        "{}targetgroup/{name}/{}",
        arn_prefix(&arns.region, &arns.account),
        arn_id(call.ids())
    );
    let mut fresh = TargetGroup {
        protocol: request.protocol.to_string(),
        protocol_version: request.protocol_version.to_string(),
        vpc_id: request.vpc_id.clone(),
        target_type: request.target_type.to_string(),
        ip_address_type: request.ip_address_type.to_string(),
        tags: request.tags.clone(),
        ..TargetGroup::with_alb_defaults(arn, name.clone(), request.port)
    };
    request.health_check.apply(&mut fresh);
    if call.insert_new(Collection::TargetGroups, name, "", &fresh)? {
        return Ok(json!({"TargetGroups": described(call, vec![&fresh])?}));
    }
    // Asking again with the same settings answers the existing group, as on AWS.
    let existing: TargetGroup = call
        .get(Collection::TargetGroups, name)?
        .ok_or_else(|| Error::internal("a target group vanished while it was created"))?;
    let comparable = |tg: &TargetGroup| TargetGroup {
        target_group_arn: String::new(),
        attributes: Default::default(),
        targets: Vec::new(),
        tags: Vec::new(),
        ..tg.clone()
    };
    if comparable(&existing) != comparable(&fresh) {
        return Err(Error::new(
            "DuplicateTargetGroupName",
            format!("A target group with the name '{name}' already exists"),
        ));
    }
    Ok(json!({"TargetGroups": described(call, vec![&existing])?}))
}

pub fn describe(call: &Call<'_>, request: &DescribeTargetGroups) -> Result<Value, Error> {
    let all: Vec<TargetGroup> = call.list(Collection::TargetGroups, None)?;
    let selected: Vec<&TargetGroup> = match &request.selection {
        TargetGroupSelection::Arns(arns) => arns
            .iter()
            .map(|arn| all.iter().find(|tg| tg.target_group_arn == *arn))
            .collect::<Option<_>>()
            .ok_or_else(stored::target_group_not_found)?,
        TargetGroupSelection::Names(names) => names
            .iter()
            .map(|name| all.iter().find(|tg| tg.target_group_name == *name))
            .collect::<Option<_>>()
            .ok_or_else(stored::target_group_not_found)?,
        TargetGroupSelection::LoadBalancer(lb) => {
            if stored::load_balancer(call, lb)?.is_none() {
                return Err(stored::load_balancer_not_found());
            }
            let usage = stored::usage(call)?;
            all.iter()
                .filter(|tg| {
                    usage
                        .get(&tg.target_group_arn)
                        .is_some_and(|lbs| lbs.contains(lb))
                })
                .collect()
        }
        TargetGroupSelection::All => all.iter().collect(),
    };
    let (items, next) = request
        .page
        .of(selected, |tg| tg.target_group_name.clone())?;
    Ok(json!({"TargetGroups": described(call, items)?, "NextMarker": next}))
}

pub fn modify(call: &Call<'_>, request: &ModifyTargetGroup) -> Result<Value, Error> {
    let modified = change(call, &request.target_group_arn, |stored| {
        request.health_check.apply(stored);
        // An interval or timeout given alone is checked only here, against the other one as
        // the group has it.
        check_timing(
            stored.health_check_interval_seconds,
            stored.health_check_timeout_seconds,
        )
    })?;
    Ok(json!({"TargetGroups": described(call, vec![&modified])?}))
}

pub fn modify_attributes(
    call: &Call<'_>,
    request: &ModifyTargetGroupAttributes,
) -> Result<Value, Error> {
    let modified = change(call, &request.target_group_arn, |stored| {
        stored.attributes.extend(request.attributes.iter().cloned());
        Ok(())
    })?;
    Ok(attributes::answer(&modified.attributes))
}

pub fn describe_attributes(
    call: &Call<'_>,
    request: &DescribeTargetGroupAttributes,
) -> Result<Value, Error> {
    Ok(attributes::answer(
        &require(call, &request.target_group_arn)?.attributes,
    ))
}

/// Deletes a target group no listener or rule forwards to. An unknown ARN succeeds, as on
/// AWS.
pub fn delete(call: &Call<'_>, request: &DeleteTargetGroup) -> Result<Value, Error> {
    let arn = &request.target_group_arn;
    let Some(tg) = stored::target_group(call, arn)? else {
        return Ok(json!({}));
    };
    if stored::usage(call)?.contains_key(arn) {
        return Err(Error::new(
            "ResourceInUse",
            format!("Target group '{arn}' is currently in use by a listener or a rule"),
        ));
    }
    call.remove(Collection::TargetGroups, &tg.target_group_name)?;
    Ok(json!({}))
}

fn same_target(tg: &TargetGroup, a: &Target, b: &Target) -> bool {
    a.id == b.id && tg.target_port(a) == tg.target_port(b)
}

fn is_registered(tg: &TargetGroup, target: &Target) -> bool {
    tg.targets.iter().any(|t| same_target(tg, t, target))
}

pub fn register_targets(call: &Call<'_>, request: &RegisterTargets) -> Result<Value, Error> {
    change(call, &request.target_group_arn, |stored| {
        for target in &request.targets {
            if !is_registered(stored, target) {
                stored.targets.push(target.clone());
            }
        }
        if stored.targets.len() > MAX_TARGETS {
            return Err(Error::new(
                "TooManyTargets",
                format!("a target group holds at most {MAX_TARGETS} targets"),
            ));
        }
        Ok(())
    })?;
    Ok(json!({}))
}

pub fn deregister_targets(call: &Call<'_>, request: &DeregisterTargets) -> Result<Value, Error> {
    let gone = &request.targets;
    change(call, &request.target_group_arn, |stored| {
        if let Some(target) = gone.iter().find(|t| !is_registered(stored, t)) {
            return Err(Error::new(
                "InvalidTarget",
                format!(
                    "The target '{}' on port {} is not registered in the target group",
                    target.id,
                    stored.target_port(target)
                ),
            ));
        }
        let snapshot = stored.clone();
        stored
            .targets
            .retain(|t| !gone.iter().any(|g| same_target(&snapshot, t, g)));
        Ok(())
    })?;
    Ok(json!({}))
}

pub fn describe_health(call: &Call<'_>, request: &DescribeTargetHealth) -> Result<Value, Error> {
    let arn = &request.target_group_arn;
    let tg = require(call, arn)?;
    let in_use = stored::usage(call)?.contains_key(arn);
    let live = call.data_plane().target_health(arn);
    Ok(json!({
        "TargetHealthDescriptions": health_report(&tg, in_use, &live, request.targets.as_deref())
    }))
}

/// One target's health as ALB reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Health {
    target: Target,
    port: u16,
    state: &'static str,
    reason: Option<&'static str>,
}

/// What DescribeTargetHealth answers: the registered targets (or those asked about) with the
/// live state the balancer reports, plus targets still draining after deregistration. ECS
/// service tasks are registered by the balancer itself, so a target it holds counts as
/// registered whether or not RegisterTargets named it.
/// A registered target the balancer has not picked up yet is `initial`
/// (`Elb.RegistrationInProgress`); a group no listener uses reports `unused`
/// (`Target.NotInUse`); a target that is not registered, `unused` (`Target.NotRegistered`).
fn health_report(
    tg: &TargetGroup,
    in_use: bool,
    live: &[(SocketAddr, State, Option<&'static str>)],
    requested: Option<&[Target]>,
) -> Vec<Value> {
    let addr = |t: &Target| -> Option<SocketAddr> {
        Some(SocketAddr::new(t.id.parse().ok()?, tg.target_port(t)))
    };
    let report = |t: &Target| -> Health {
        let port = tg.target_port(t);
        let seen: Vec<(State, Option<&'static str>)> = live
            .iter()
            .filter(|(a, _, _)| Some(*a) == addr(t))
            .map(|(_, s, r)| (*s, *r))
            .collect();
        let registered = tg.targets.iter().any(|r| same_target(tg, r, t))
            || seen.iter().any(|(s, _)| *s != State::Draining);
        let (state, reason) = if registered && !in_use {
            ("unused", Some("Target.NotInUse"))
        } else if registered {
            match seen.iter().find(|(s, _)| *s != State::Draining) {
                Some((state, reason)) => (state.as_str(), *reason),
                None => ("initial", Some("Elb.RegistrationInProgress")),
            }
        } else if seen.iter().any(|(s, _)| *s == State::Draining) {
            ("draining", Some("Target.DeregistrationInProgress"))
        } else {
            ("unused", Some("Target.NotRegistered"))
        };
        Health {
            target: Target {
                id: t.id.clone(),
                port: Some(port),
                availability_zone: t.availability_zone.clone(),
            },
            port,
            state,
            reason,
        }
    };
    let mut reports: Vec<Health> = match requested {
        Some(targets) => targets.iter().map(report).collect(),
        None => {
            let mut reports: Vec<Health> = tg.targets.iter().map(report).collect();
            for (addr, _, _) in live {
                let known = tg
                    .targets
                    .iter()
                    .any(|t| t.id == addr.ip().to_string() && tg.target_port(t) == addr.port());
                if !known {
                    reports.push(report(&Target {
                        id: addr.ip().to_string(),
                        port: Some(addr.port()),
                        availability_zone: None,
                    }));
                }
            }
            reports
        }
    };
    reports.dedup();
    reports
        .into_iter()
        .map(|h| {
            let check_port = match tg.health_check_port.as_str() {
                "traffic-port" => h.port.to_string(),
                port => port.to_string(),
            };
            json!({
                "Target": h.target,
                "HealthCheckPort": check_port,
                "TargetHealth": {
                    "State": h.state,
                    "Reason": h.reason,
                    "Description": h.reason.map(describe_reason),
                },
            })
        })
        .collect()
}

fn describe_reason(reason: &str) -> &'static str {
    match reason {
        "Elb.RegistrationInProgress" => "Target registration is in progress",
        "Elb.InitialHealthChecking" => "Initial health checks in progress",
        "Target.ResponseCodeMismatch" => {
            "Health checks failed with a response code the matcher does not accept"
        }
        "Target.Timeout" => "Request timed out",
        "Target.FailedHealthChecks" => "Health checks failed",
        "Target.NotRegistered" => "Target is not registered to the target group",
        "Target.NotInUse" => {
            "Target group is not configured to receive traffic from the load balancer"
        }
        "Target.DeregistrationInProgress" => "Target deregistration is in progress",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(targets: &[(&str, Option<u16>)]) -> TargetGroup {
        TargetGroup {
            target_type: "ip".into(),
            targets: targets
                .iter()
                .map(|(id, port)| Target {
                    id: id.to_string(),
                    port: *port,
                    availability_zone: None,
                })
                .collect(),
            ..TargetGroup::with_alb_defaults("arn".into(), "web".into(), 80)
        }
    }

    fn states(report: &[Value]) -> Vec<(String, String, String)> {
        report
            .iter()
            .map(|h| {
                (
                    format!(
                        "{}:{}",
                        h["Target"]["Id"].as_str().unwrap(),
                        h["Target"]["Port"]
                    ),
                    h["TargetHealth"]["State"].as_str().unwrap().to_string(),
                    h["TargetHealth"]["Reason"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect()
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn reports_live_pending_and_draining_targets() {
        let tg = group(&[
            ("10.0.0.1", None),
            ("10.0.0.2", Some(8080)),
            ("10.0.0.3", None),
        ]);
        let live = [
            (addr("10.0.0.1:80"), State::Healthy, None),
            (
                addr("10.0.0.2:8080"),
                State::Unhealthy,
                Some("Target.Timeout"),
            ),
            (
                addr("10.0.0.9:80"),
                State::Draining,
                Some("Target.DeregistrationInProgress"),
            ),
        ];
        assert_eq!(
            states(&health_report(&tg, true, &live, None)),
            [
                ("10.0.0.1:80".into(), "healthy".into(), "".into()),
                (
                    "10.0.0.2:8080".into(),
                    "unhealthy".into(),
                    "Target.Timeout".into()
                ),
                (
                    "10.0.0.3:80".into(),
                    "initial".into(),
                    "Elb.RegistrationInProgress".into()
                ),
                (
                    "10.0.0.9:80".into(),
                    "draining".into(),
                    "Target.DeregistrationInProgress".into()
                ),
            ]
        );
    }

    #[test]
    fn reports_unused_groups_and_unregistered_targets() {
        let tg = group(&[("10.0.0.1", None)]);
        let asked = [Target {
            id: "10.0.0.7".into(),
            port: None,
            availability_zone: None,
        }];
        assert_eq!(
            states(&health_report(&tg, true, &[], Some(&asked))),
            [(
                "10.0.0.7:80".into(),
                "unused".into(),
                "Target.NotRegistered".into()
            )]
        );
        assert_eq!(
            states(&health_report(&tg, false, &[], None)),
            [(
                "10.0.0.1:80".into(),
                "unused".into(),
                "Target.NotInUse".into()
            )]
        );
    }

    #[test]
    fn a_reregistered_target_reports_its_new_registration() {
        let tg = group(&[("10.0.0.1", None)]);
        let live = [
            (
                addr("10.0.0.1:80"),
                State::Draining,
                Some("Target.DeregistrationInProgress"),
            ),
            (
                addr("10.0.0.1:80"),
                State::Initial,
                Some("Elb.InitialHealthChecking"),
            ),
        ];
        assert_eq!(
            states(&health_report(&tg, true, &live, None)),
            [(
                "10.0.0.1:80".into(),
                "initial".into(),
                "Elb.InitialHealthChecking".into()
            )]
        );
    }
}
