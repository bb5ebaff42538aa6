//! Target groups: CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup, the attribute
//! actions, DeleteTargetGroup, RegisterTargets, DeregisterTargets and DescribeTargetHealth.
//! Registered targets are stored with their group; their health is the balancer's.

use super::common::{check_name, one_of, tags, Error, Page};
use super::resources::{arn_id, arn_prefix, Matcher, Target, TargetGroup};
use super::{attributes, stored};
use crate::call::{to_value, Call};
use berth_aws::query::Params;
use berth_lb::health::State;
use berth_store::Collection;
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr};

/// The most targets one group takes.
const MAX_TARGETS: usize = 1000;

/// Health-check intervals Berth takes: ALB's 5–300 s, and down to 2 s. Checks on loopback or a
/// local network cost next to nothing, and with them a new task can take traffic and a
/// deployment finish seconds sooner. botocore (so boto3 and the aws CLI) checks ALB's range
/// before it sends a request, so a configuration written for ALB keeps failing early unless
/// its user turns that check off (`parameter_validation = false`).
const HEALTH_CHECK_INTERVAL_SECONDS: std::ops::RangeInclusive<i64> = 2..=300;
/// Health-check timeouts: ALB's 2–120 s, and down to 1 s, so that a 2 s interval can have the
/// shorter timeout it needs.
const HEALTH_CHECK_TIMEOUT_SECONDS: std::ops::RangeInclusive<i64> = 1..=120;

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

/// Applies the health check members of CreateTargetGroup and ModifyTargetGroup.
fn apply_health_check(tg: &mut TargetGroup, p: &Params) -> Result<(), Error> {
    tg.health_check_protocol = one_of(p, "HealthCheckProtocol", &["HTTP"], "HTTP")?.to_string();
    if let Some(port) = p.string("HealthCheckPort")? {
        if port != "traffic-port" && !port.parse::<u16>().is_ok_and(|n| n >= 1) {
            return Err(Error::validation(format!(
                "HealthCheckPort: '{port}' is neither traffic-port nor a port from 1 to 65535"
            )));
        }
        tg.health_check_port = port.to_string();
    }
    if p.bool("HealthCheckEnabled")? == Some(false) {
        return Err(Error::validation(
            "HealthCheckEnabled: health checks cannot be disabled for instance and ip target groups",
        ));
    }
    if let Some(path) = p.string("HealthCheckPath")? {
        if !path.starts_with('/') || path.len() > 1024 {
            return Err(Error::validation(format!(
                "HealthCheckPath: '{path}' must start with / and be at most 1024 characters"
            )));
        }
        tg.health_check_path = path.to_string();
    }
    let int = |member: &str, range, current: u32| -> Result<u32, Error> {
        Ok(p.int(member, range)?.map_or(current, |n| n as u32))
    };
    tg.health_check_interval_seconds = int(
        "HealthCheckIntervalSeconds",
        HEALTH_CHECK_INTERVAL_SECONDS,
        tg.health_check_interval_seconds,
    )?;
    tg.health_check_timeout_seconds = int(
        "HealthCheckTimeoutSeconds",
        HEALTH_CHECK_TIMEOUT_SECONDS,
        tg.health_check_timeout_seconds,
    )?;
    tg.healthy_threshold_count = int("HealthyThresholdCount", 2..=10, tg.healthy_threshold_count)?;
    tg.unhealthy_threshold_count = int(
        "UnhealthyThresholdCount",
        2..=10,
        tg.unhealthy_threshold_count,
    )?;
    if tg.health_check_timeout_seconds >= tg.health_check_interval_seconds {
        return Err(Error::validation(format!(
            "HealthCheckTimeoutSeconds: the timeout ({}s) must be shorter than the interval ({}s)",
            tg.health_check_timeout_seconds, tg.health_check_interval_seconds
        )));
    }
    if let Some(matcher) = p.structure("Matcher")? {
        if matcher.has("GrpcCode") {
            return Err(Error::validation(
                "Matcher.GrpcCode: Berth checks targets over HTTP; give Matcher.HttpCode",
            ));
        }
        let code = matcher.required("HttpCode")?;
        berth_lb::health::Matcher::parse(code)
            .map_err(|e| Error::validation(format!("Matcher.HttpCode: {e}")))?;
        tg.matcher = Matcher {
            http_code: code.to_string(),
        };
    }
    Ok(())
}

pub fn create(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let name = p.required("Name")?;
    check_name("Name", name)?;
    let protocol = one_of(p, "Protocol", &["HTTP"], "HTTP")?;
    let protocol_version = one_of(p, "ProtocolVersion", &["HTTP1"], "HTTP1")?;
    let target_type = one_of(p, "TargetType", &["instance", "ip"], "instance")?;
    let port = p
        .int("Port", 1..=65535)?
        .ok_or_else(|| Error::validation("Port: a required member is missing"))?;
    let arns = call.arns();
    let arn = format!(
        "{}targetgroup/{name}/{}",
        arn_prefix(&arns.region, &arns.account),
        arn_id(call.ids())
    );
    let mut fresh = TargetGroup {
        protocol: protocol.to_string(),
        protocol_version: protocol_version.to_string(),
        vpc_id: p.string("VpcId")?.map(str::to_string),
        target_type: target_type.to_string(),
        ip_address_type: one_of(p, "IpAddressType", &["ipv4"], "ipv4")?.to_string(),
        tags: tags(p)?,
        ..TargetGroup::with_alb_defaults(arn, name.to_string(), port as u16)
    };
    apply_health_check(&mut fresh, p)?;
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

pub fn describe(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let arns = p.strings("TargetGroupArns")?;
    let names = p.strings("Names")?;
    let load_balancer = p.string("LoadBalancerArn")?;
    let all: Vec<TargetGroup> = call.list(Collection::TargetGroups, None)?;
    let given = [arns.is_some(), names.is_some(), load_balancer.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(Error::validation(
            "give at most one of LoadBalancerArn, TargetGroupArns and Names",
        ));
    }
    let selected: Vec<&TargetGroup> = if let Some(arns) = arns {
        arns.iter()
            .map(|arn| all.iter().find(|tg| tg.target_group_arn == *arn))
            .collect::<Option<_>>()
            .ok_or_else(stored::target_group_not_found)?
    } else if let Some(names) = names {
        names
            .iter()
            .map(|name| all.iter().find(|tg| tg.target_group_name == *name))
            .collect::<Option<_>>()
            .ok_or_else(stored::target_group_not_found)?
    } else if let Some(lb) = load_balancer {
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
    } else {
        all.iter().collect()
    };
    let (items, next) = Page::from_params(p)?.of(selected);
    Ok(json!({"TargetGroups": described(call, items)?, "NextMarker": next}))
}

pub fn modify(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let arn = p.required("TargetGroupArn")?;
    let modified = change(call, arn, |stored| apply_health_check(stored, p))?;
    Ok(json!({"TargetGroups": described(call, vec![&modified])?}))
}

/// Checks one attribute against what ALB allows and what Berth's balancer does.
fn check_attribute(key: &str, value: &str) -> Result<(), Error> {
    let number = |range| attributes::number(key, value, range);
    let choice = |allowed: &[&str]| attributes::choice(key, value, allowed);
    match key {
        "deregistration_delay.timeout_seconds" => number(0..=3600),
        "load_balancing.algorithm.type" => choice(&["round_robin", "least_outstanding_requests"]),
        // Berth's balancer has no sticky sessions, slow start or anomaly mitigation: accepting
        // them switched on would promise behaviour that never happens.
        "stickiness.enabled" => choice(&["false"]),
        "slow_start.duration_seconds" => choice(&["0"]),
        "load_balancing.algorithm.anomaly_mitigation" => choice(&["off"]),
        "stickiness.type" => choice(&["lb_cookie", "app_cookie"]),
        "stickiness.lb_cookie.duration_seconds" | "stickiness.app_cookie.duration_seconds" => {
            number(1..=604_800)
        }
        "stickiness.app_cookie.cookie_name" => Ok(()),
        "load_balancing.cross_zone.enabled" => {
            choice(&["true", "false", "use_load_balancer_configuration"])
        }
        _ => Err(attributes::unknown(key)),
    }
}

pub fn modify_attributes(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let arn = p.required("TargetGroupArn")?;
    let changes = attributes::changes(p, check_attribute)?;
    let modified = change(call, arn, |stored| {
        stored.attributes.extend(changes.iter().cloned());
        Ok(())
    })?;
    Ok(attributes::answer(&modified.attributes))
}

pub fn describe_attributes(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    Ok(attributes::answer(
        &require(call, p.required("TargetGroupArn")?)?.attributes,
    ))
}

/// Deletes a target group no listener or rule forwards to. An unknown ARN succeeds, as on
/// AWS.
pub fn delete(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let arn = p.required("TargetGroupArn")?;
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

/// The `Targets` member: IPv4 addresses with optional ports.
fn targets(p: &Params) -> Result<Vec<Target>, Error> {
    let given = p
        .structures("Targets")?
        .ok_or_else(|| Error::validation("Targets: a required member is missing"))?;
    given
        .into_iter()
        .map(|t| {
            let id = t.required("Id")?;
            if id.parse::<Ipv4Addr>().is_err() {
                return Err(Error::new(
                    "InvalidTarget",
                    format!("The target '{id}' is not an IPv4 address; Berth registers targets by IP address"),
                ));
            }
            Ok(Target {
                id: id.to_string(),
                port: t.int("Port", 1..=65535)?.map(|n| n as u16),
                availability_zone: t.string("AvailabilityZone")?.map(str::to_string),
            })
        })
        .collect()
}

fn same_target(tg: &TargetGroup, a: &Target, b: &Target) -> bool {
    a.id == b.id && tg.target_port(a) == tg.target_port(b)
}

fn is_registered(tg: &TargetGroup, target: &Target) -> bool {
    tg.targets.iter().any(|t| same_target(tg, t, target))
}

pub fn register_targets(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let arn = p.required("TargetGroupArn")?;
    let new = targets(p)?;
    change(call, arn, |stored| {
        for target in &new {
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

pub fn deregister_targets(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let arn = p.required("TargetGroupArn")?;
    let gone = targets(p)?;
    change(call, arn, |stored| {
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

pub fn describe_health(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let arn = p.required("TargetGroupArn")?;
    let requested = if p.has("Targets") {
        Some(targets(p)?)
    } else {
        None
    };
    let tg = require(call, arn)?;
    let in_use = stored::usage(call)?.contains_key(arn);
    let live = call.data_plane().target_health(arn);
    Ok(json!({
        "TargetHealthDescriptions": health_report(&tg, in_use, &live, requested.as_deref())
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

    fn health_check(body: &str) -> Result<TargetGroup, Error> {
        let params = berth_aws::query::parse(format!("Action=X&{body}").as_bytes())
            .unwrap()
            .params;
        let mut tg = group(&[]);
        apply_health_check(&mut tg, &params).map(|()| tg)
    }

    #[test]
    fn health_checks_go_below_albs_range_down_to_two_seconds() {
        let tg = health_check("HealthCheckIntervalSeconds=2&HealthCheckTimeoutSeconds=1").unwrap();
        assert_eq!(
            (
                tg.health_check_interval_seconds,
                tg.health_check_timeout_seconds
            ),
            (2, 1)
        );
        for (body, member) in [
            ("HealthCheckIntervalSeconds=1", "HealthCheckIntervalSeconds"),
            (
                "HealthCheckIntervalSeconds=301",
                "HealthCheckIntervalSeconds",
            ),
            ("HealthCheckTimeoutSeconds=0", "HealthCheckTimeoutSeconds"),
            ("HealthCheckTimeoutSeconds=121", "HealthCheckTimeoutSeconds"),
            (
                "HealthCheckIntervalSeconds=2&HealthCheckTimeoutSeconds=2",
                "shorter than the interval",
            ),
        ] {
            let error = health_check(body).unwrap_err();
            assert!(error.message.contains(member), "{body}: {}", error.message);
        }
    }

    #[test]
    fn attributes_follow_alb_and_the_balancer() {
        assert!(check_attribute("deregistration_delay.timeout_seconds", "0").is_ok());
        assert!(check_attribute(
            "load_balancing.algorithm.type",
            "least_outstanding_requests"
        )
        .is_ok());
        for (key, value) in [
            ("deregistration_delay.timeout_seconds", "3601"),
            ("deregistration_delay.timeout_seconds", "x"),
            ("load_balancing.algorithm.type", "weighted_random"),
            ("stickiness.enabled", "true"),
            ("no.such.key", "1"),
        ] {
            assert_eq!(
                check_attribute(key, value).unwrap_err().code,
                "InvalidConfigurationRequest",
                "{key}={value}"
            );
        }
    }
}
