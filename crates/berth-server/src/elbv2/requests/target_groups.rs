//! The target group actions' requests: a group's settings and health check, the targets
//! RegisterTargets and its kin name, and which target group attributes Berth takes.

use super::FromParams;
use crate::elbv2::attributes;
use crate::elbv2::common::{check_name, one_of, tags, Error, Page};
use crate::elbv2::resources::{Matcher, Tag, Target, TargetGroup};
use crate::elbv2::resources::{
    DEFAULT_HEALTH_CHECK_INTERVAL_SECONDS, DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS,
};
use berth_aws::query::Params;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

/// Health-check intervals Berth takes: ALB's 5–300 s, and down to 2 s. Checks on loopback or a
/// local network cost next to nothing, and with them a new task can take traffic and a
/// deployment finish seconds sooner. botocore (so boto3 and the aws CLI) checks ALB's range
/// before it sends a request, so a configuration written for ALB keeps failing early unless
/// its user turns that check off (`parameter_validation = false`).
const HEALTH_CHECK_INTERVAL_SECONDS: RangeInclusive<i64> = 2..=300;
/// Health-check timeouts: ALB's 2–120 s, and down to 1 s, so that a 2 s interval can have the
/// shorter timeout it needs.
const HEALTH_CHECK_TIMEOUT_SECONDS: RangeInclusive<i64> = 1..=120;

/// The health check members of CreateTargetGroup and ModifyTargetGroup, each checked; a member
/// not given leaves the group's setting as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    protocol: &'static str,
    /// `traffic-port` or a port number, as ALB writes it.
    port: Option<String>,
    path: Option<String>,
    interval_seconds: Option<u32>,
    timeout_seconds: Option<u32>,
    healthy_threshold_count: Option<u32>,
    unhealthy_threshold_count: Option<u32>,
    /// `Matcher.HttpCode`, as given.
    matcher: Option<String>,
}

impl HealthCheck {
    /// Reads the members. `current` is the interval and timeout of the group they change, when
    /// that is known without the store (a new group's are ALB's defaults): then the timeout is
    /// checked against the interval here, whichever of the two is given.
    fn from_params(p: &Params, current: Option<(u32, u32)>) -> Result<Self, Error> {
        let protocol = one_of(p, "HealthCheckProtocol", &["HTTP"], "HTTP")?;
        let port = p.string("HealthCheckPort")?;
        if let Some(port) = port {
            if port != "traffic-port" && !port.parse::<u16>().is_ok_and(|n| n >= 1) {
                return Err(Error::validation(format!(
                    "HealthCheckPort: '{port}' is neither traffic-port nor a port from 1 to 65535"
                )));
            }
        }
        if p.bool("HealthCheckEnabled")? == Some(false) {
            return Err(Error::validation(
                "HealthCheckEnabled: health checks cannot be disabled for instance and ip target groups",
            ));
        }
        let path = p.string("HealthCheckPath")?;
        if let Some(path) = path {
            if !path.starts_with('/') || path.len() > 1024 {
                return Err(Error::validation(format!(
                    "HealthCheckPath: '{path}' must start with / and be at most 1024 characters"
                )));
            }
        }
        let int = |member: &str, range| -> Result<Option<u32>, Error> {
            Ok(p.int(member, range)?.map(|n| n as u32))
        };
        let interval_seconds = int("HealthCheckIntervalSeconds", HEALTH_CHECK_INTERVAL_SECONDS)?;
        let timeout_seconds = int("HealthCheckTimeoutSeconds", HEALTH_CHECK_TIMEOUT_SECONDS)?;
        let healthy_threshold_count = int("HealthyThresholdCount", 2..=10)?;
        let unhealthy_threshold_count = int("UnhealthyThresholdCount", 2..=10)?;
        let interval = interval_seconds.or(current.map(|(interval, _)| interval));
        let timeout = timeout_seconds.or(current.map(|(_, timeout)| timeout));
        if let (Some(interval), Some(timeout)) = (interval, timeout) {
            check_timing(interval, timeout)?;
        }
        let matcher = match p.structure("Matcher")? {
            Some(matcher) => {
                if matcher.has("GrpcCode") {
                    return Err(Error::validation(
                        "Matcher.GrpcCode: Berth checks targets over HTTP; give Matcher.HttpCode",
                    ));
                }
                let code = matcher.required("HttpCode")?;
                berth_lb::health::Matcher::parse(code)
                    .map_err(|e| Error::validation(format!("Matcher.HttpCode: {e}")))?;
                Some(code.to_string())
            }
            None => None,
        };
        Ok(Self {
            protocol,
            port: port.map(str::to_string),
            path: path.map(str::to_string),
            interval_seconds,
            timeout_seconds,
            healthy_threshold_count,
            unhealthy_threshold_count,
            matcher,
        })
    }

    /// Writes the members given into `tg`.
    pub fn apply(&self, tg: &mut TargetGroup) {
        tg.health_check_protocol = self.protocol.to_string();
        if let Some(port) = &self.port {
            tg.health_check_port = port.clone();
        }
        if let Some(path) = &self.path {
            tg.health_check_path = path.clone();
        }
        let settings = [
            (self.interval_seconds, &mut tg.health_check_interval_seconds),
            (self.timeout_seconds, &mut tg.health_check_timeout_seconds),
            (
                self.healthy_threshold_count,
                &mut tg.healthy_threshold_count,
            ),
            (
                self.unhealthy_threshold_count,
                &mut tg.unhealthy_threshold_count,
            ),
        ];
        for (given, setting) in settings {
            if let Some(given) = given {
                *setting = given;
            }
        }
        if let Some(code) = &self.matcher {
            tg.matcher = Matcher {
                http_code: code.clone(),
            };
        }
    }
}

/// A health check must time out before the next one is due.
pub fn check_timing(interval_seconds: u32, timeout_seconds: u32) -> Result<(), Error> {
    if timeout_seconds >= interval_seconds {
        return Err(Error::validation(format!(
            "HealthCheckTimeoutSeconds: the timeout ({timeout_seconds}s) must be shorter than the interval ({interval_seconds}s)"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTargetGroup {
    pub name: String,
    pub protocol: &'static str,
    pub protocol_version: &'static str,
    pub target_type: &'static str,
    pub port: u16,
    pub vpc_id: Option<String>,
    pub ip_address_type: &'static str,
    pub tags: Vec<Tag>,
    pub health_check: HealthCheck,
}

impl FromParams for CreateTargetGroup {
    fn from_params(p: &Params) -> Result<Self, Error> {
        let name = p.required("Name")?;
        check_name("Name", name)?;
        Ok(Self {
            name: name.to_string(),
            protocol: one_of(p, "Protocol", &["HTTP"], "HTTP")?,
            protocol_version: one_of(p, "ProtocolVersion", &["HTTP1"], "HTTP1")?,
            target_type: one_of(p, "TargetType", &["instance", "ip"], "instance")?,
            port: p
                .int("Port", 1..=65535)?
                .ok_or_else(|| Error::validation("Port: a required member is missing"))?
                as u16,
            vpc_id: p.string("VpcId")?.map(str::to_string),
            ip_address_type: one_of(p, "IpAddressType", &["ipv4"], "ipv4")?,
            tags: tags(p)?,
            health_check: HealthCheck::from_params(
                p,
                Some((
                    DEFAULT_HEALTH_CHECK_INTERVAL_SECONDS,
                    DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS,
                )),
            )?,
        })
    }
}

/// Which target groups DescribeTargetGroups answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetGroupSelection {
    All,
    Arns(Vec<String>),
    Names(Vec<String>),
    /// The groups a load balancer's listeners and rules forward to.
    LoadBalancer(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeTargetGroups {
    pub selection: TargetGroupSelection,
    pub page: Page,
}

impl FromParams for DescribeTargetGroups {
    fn from_params(p: &Params) -> Result<Self, Error> {
        let arns = p.strings("TargetGroupArns")?;
        let names = p.strings("Names")?;
        let load_balancer = p.string("LoadBalancerArn")?;
        let selection = match (arns, names, load_balancer) {
            (None, None, None) => TargetGroupSelection::All,
            (Some(arns), None, None) => TargetGroupSelection::Arns(arns),
            (None, Some(names), None) => TargetGroupSelection::Names(names),
            (None, None, Some(lb)) => TargetGroupSelection::LoadBalancer(lb.to_string()),
            _ => {
                return Err(Error::validation(
                    "give at most one of LoadBalancerArn, TargetGroupArns and Names",
                ))
            }
        };
        Ok(Self {
            selection,
            page: Page::from_params(p)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyTargetGroup {
    pub target_group_arn: String,
    pub health_check: HealthCheck,
}

impl FromParams for ModifyTargetGroup {
    fn from_params(p: &Params) -> Result<Self, Error> {
        Ok(Self {
            target_group_arn: p.required("TargetGroupArn")?.to_string(),
            health_check: HealthCheck::from_params(p, None)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyTargetGroupAttributes {
    pub target_group_arn: String,
    /// Each key with its new value, in the order given.
    pub attributes: Vec<(String, String)>,
}

impl FromParams for ModifyTargetGroupAttributes {
    fn from_params(p: &Params) -> Result<Self, Error> {
        Ok(Self {
            target_group_arn: p.required("TargetGroupArn")?.to_string(),
            attributes: attributes::changes(p, check_attribute)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeTargetGroupAttributes {
    pub target_group_arn: String,
}

impl FromParams for DescribeTargetGroupAttributes {
    fn from_params(p: &Params) -> Result<Self, Error> {
        Ok(Self {
            target_group_arn: p.required("TargetGroupArn")?.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTargetGroup {
    pub target_group_arn: String,
}

impl FromParams for DeleteTargetGroup {
    fn from_params(p: &Params) -> Result<Self, Error> {
        Ok(Self {
            target_group_arn: p.required("TargetGroupArn")?.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterTargets {
    pub target_group_arn: String,
    pub targets: Vec<Target>,
}

impl FromParams for RegisterTargets {
    fn from_params(p: &Params) -> Result<Self, Error> {
        Ok(Self {
            target_group_arn: p.required("TargetGroupArn")?.to_string(),
            targets: targets(p)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeregisterTargets {
    pub target_group_arn: String,
    pub targets: Vec<Target>,
}

impl FromParams for DeregisterTargets {
    fn from_params(p: &Params) -> Result<Self, Error> {
        Ok(Self {
            target_group_arn: p.required("TargetGroupArn")?.to_string(),
            targets: targets(p)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeTargetHealth {
    pub target_group_arn: String,
    /// The targets asked about; every target of the group when `None`.
    pub targets: Option<Vec<Target>>,
}

impl FromParams for DescribeTargetHealth {
    fn from_params(p: &Params) -> Result<Self, Error> {
        let target_group_arn = p.required("TargetGroupArn")?.to_string();
        let targets = if p.has("Targets") {
            Some(targets(p)?)
        } else {
            None
        };
        Ok(Self {
            target_group_arn,
            targets,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use crate::elbv2::resources::TARGET_GROUP_ATTRIBUTES;

    /// What a new group's health check comes out as.
    fn created(body: &str) -> Result<TargetGroup, Error> {
        let request: CreateTargetGroup = parse(&format!("Name=web&Port=80&{body}"))?;
        let mut tg = TargetGroup::with_alb_defaults("arn".into(), "web".into(), 80);
        request.health_check.apply(&mut tg);
        Ok(tg)
    }

    #[test]
    fn create_reads_every_member_with_albs_defaults() {
        let request: CreateTargetGroup = parse(
            "Name=api&Port=8080&Protocol=HTTP&ProtocolVersion=HTTP1&TargetType=ip&VpcId=vpc-1\
             &IpAddressType=ipv4&Tags.member.1.Key=team",
        )
        .unwrap();
        assert_eq!(
            (
                request.name.as_str(),
                request.protocol,
                request.protocol_version,
                request.target_type,
                request.port,
                request.vpc_id.as_deref(),
                request.ip_address_type,
            ),
            ("api", "HTTP", "HTTP1", "ip", 8080, Some("vpc-1"), "ipv4")
        );
        assert_eq!(request.tags.len(), 1);
        let plain: CreateTargetGroup = parse("Name=api&Port=80").unwrap();
        assert_eq!(
            (plain.protocol, plain.target_type, plain.vpc_id),
            ("HTTP", "instance", None)
        );
        assert_eq!(
            created("").unwrap(),
            TargetGroup::with_alb_defaults("arn".into(), "web".into(), 80),
            "no health check member leaves ALB's defaults"
        );
    }

    #[test]
    fn create_refuses_what_berth_does_not_do_naming_the_member() {
        for (body, member) in [
            ("Port=80", "Name"),
            ("Name=web_1&Port=80", "Name"),
            ("Name=web", "Port"),
            ("Name=web&Port=0", "Port"),
            ("Name=web&Port=80&Protocol=HTTPS", "Protocol"),
            ("Name=web&Port=80&ProtocolVersion=HTTP2", "ProtocolVersion"),
            ("Name=web&Port=80&TargetType=lambda", "TargetType"),
            ("Name=web&Port=80&VpcId.x=1", "VpcId"),
            ("Name=web&Port=80&IpAddressType=ipv6", "IpAddressType"),
            (
                "Name=web&Port=80&Tags.member.1.Value=x",
                "Tags.member.1.Key",
            ),
        ] {
            let error = parse::<CreateTargetGroup>(body).unwrap_err();
            assert_eq!(error.code, "ValidationError", "{body}");
            assert!(
                error.message.starts_with(member),
                "{body}: {}",
                error.message
            );
        }
    }

    #[test]
    fn health_checks_are_read_and_applied() {
        let tg = created(
            "HealthCheckProtocol=HTTP&HealthCheckPort=9000&HealthCheckEnabled=true\
             &HealthCheckPath=/ping&HealthCheckIntervalSeconds=10&HealthCheckTimeoutSeconds=3\
             &HealthyThresholdCount=3&UnhealthyThresholdCount=4&Matcher.HttpCode=200-299",
        )
        .unwrap();
        assert_eq!(
            (
                tg.health_check_port.as_str(),
                tg.health_check_path.as_str(),
                tg.health_check_interval_seconds,
                tg.health_check_timeout_seconds,
                tg.healthy_threshold_count,
                tg.unhealthy_threshold_count,
                tg.matcher.http_code.as_str(),
            ),
            ("9000", "/ping", 10, 3, 3, 4, "200-299")
        );
        for (body, member) in [
            ("HealthCheckProtocol=HTTPS", "HealthCheckProtocol"),
            ("HealthCheckPort=0", "HealthCheckPort"),
            ("HealthCheckPort=any", "HealthCheckPort"),
            ("HealthCheckEnabled=false", "HealthCheckEnabled"),
            ("HealthCheckEnabled=yes", "HealthCheckEnabled"),
            ("HealthCheckPath=ping", "HealthCheckPath"),
            ("HealthyThresholdCount=1", "HealthyThresholdCount"),
            ("UnhealthyThresholdCount=11", "UnhealthyThresholdCount"),
            ("Matcher.GrpcCode=0", "Matcher.GrpcCode"),
            ("Matcher.HttpCode=600", "Matcher.HttpCode"),
            ("Matcher.Other=1", "Matcher.HttpCode"),
        ] {
            let error = created(body).unwrap_err();
            assert_eq!(error.code, "ValidationError", "{body}");
            assert!(
                error.message.starts_with(member),
                "{body}: {}",
                error.message
            );
        }
    }

    #[test]
    fn health_checks_go_below_albs_range_down_to_two_seconds() {
        let tg = created("HealthCheckIntervalSeconds=2&HealthCheckTimeoutSeconds=1").unwrap();
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
            let error = created(body).unwrap_err();
            assert!(error.message.contains(member), "{body}: {}", error.message);
        }
    }

    #[test]
    fn a_new_groups_timeout_is_checked_against_albs_default_interval() {
        let error = created("HealthCheckTimeoutSeconds=30").unwrap_err();
        assert_eq!(
            error.message,
            "HealthCheckTimeoutSeconds: the timeout (30s) must be shorter than the interval (30s)"
        );
        assert!(created("HealthCheckIntervalSeconds=6").is_ok());
        assert!(created("HealthCheckIntervalSeconds=5").is_err());
    }

    #[test]
    fn a_change_checks_the_timeout_here_only_when_it_gives_both() {
        let both = parse::<ModifyTargetGroup>(
            "TargetGroupArn=arn&HealthCheckIntervalSeconds=5&HealthCheckTimeoutSeconds=5",
        )
        .unwrap_err();
        assert!(both.message.contains("shorter than the interval"), "{both}");
        let alone: ModifyTargetGroup =
            parse("TargetGroupArn=arn&HealthCheckTimeoutSeconds=60").unwrap();
        let mut tg = TargetGroup::with_alb_defaults("arn".into(), "web".into(), 80);
        alone.health_check.apply(&mut tg);
        assert_eq!(tg.health_check_timeout_seconds, 60);
        assert!(check_timing(tg.health_check_interval_seconds, 60).is_err());
        assert_eq!(
            parse::<ModifyTargetGroup>("HealthCheckPath=/")
                .unwrap_err()
                .message,
            "TargetGroupArn: a required member is missing"
        );
    }

    #[test]
    fn describe_selects_by_one_member_and_pages() {
        for (body, selection) in [
            ("", TargetGroupSelection::All),
            (
                "TargetGroupArns.member.1=arn",
                TargetGroupSelection::Arns(vec!["arn".into()]),
            ),
            (
                "Names.member.1=web",
                TargetGroupSelection::Names(vec!["web".into()]),
            ),
            (
                "LoadBalancerArn=lb",
                TargetGroupSelection::LoadBalancer("lb".into()),
            ),
        ] {
            assert_eq!(
                parse::<DescribeTargetGroups>(body).unwrap().selection,
                selection,
                "{body}"
            );
        }
        for (body, mention) in [
            ("Names.member.1=web&LoadBalancerArn=lb", "at most one"),
            ("Names=web", "Names"),
            ("Names.member.x=web", "Names.member.x"),
            ("PageSize=0", "PageSize"),
        ] {
            let error = parse::<DescribeTargetGroups>(body).unwrap_err();
            assert_eq!(error.code, "ValidationError");
            assert!(error.message.contains(mention), "{body}: {}", error.message);
        }
    }

    #[test]
    fn targets_are_ipv4_addresses_with_optional_ports() {
        let request: RegisterTargets = parse(
            "TargetGroupArn=arn&Targets.member.1.Id=10.0.0.1&Targets.member.2.Id=10.0.0.2\
             &Targets.member.2.Port=8080&Targets.member.2.AvailabilityZone=a",
        )
        .unwrap();
        assert_eq!(
            request.targets,
            [
                Target {
                    id: "10.0.0.1".into(),
                    port: None,
                    availability_zone: None
                },
                Target {
                    id: "10.0.0.2".into(),
                    port: Some(8080),
                    availability_zone: Some("a".into())
                }
            ]
        );
        for (body, code, mention) in [
            ("TargetGroupArn=arn", "ValidationError", "Targets"),
            (
                "TargetGroupArn=arn&Targets.member.1.Port=80",
                "ValidationError",
                "Targets.member.1.Id",
            ),
            (
                "TargetGroupArn=arn&Targets.member.1.Id=i-0123456789abcdef0",
                "InvalidTarget",
                "i-0123456789abcdef0",
            ),
            (
                "TargetGroupArn=arn&Targets.member.1.Id=10.0.0.1&Targets.member.1.Port=0",
                "ValidationError",
                "Targets.member.1.Port",
            ),
            (
                "Targets.member.1.Id=10.0.0.1",
                "ValidationError",
                "TargetGroupArn",
            ),
        ] {
            for error in [
                parse::<RegisterTargets>(body).unwrap_err(),
                parse::<DeregisterTargets>(body).unwrap_err(),
            ] {
                assert_eq!(error.code, code, "{body}");
                assert!(error.message.contains(mention), "{body}: {}", error.message);
            }
        }
    }

    #[test]
    fn target_health_asks_about_every_target_unless_some_are_named() {
        let every: DescribeTargetHealth = parse("TargetGroupArn=arn").unwrap();
        assert_eq!(every.targets, None);
        let some: DescribeTargetHealth =
            parse("TargetGroupArn=arn&Targets.member.1.Id=10.0.0.7").unwrap();
        assert_eq!(some.targets.unwrap()[0].id, "10.0.0.7");
        let error =
            parse::<DescribeTargetHealth>("TargetGroupArn=arn&Targets.member.1.Id=x").unwrap_err();
        assert_eq!(error.code, "InvalidTarget");
    }

    #[test]
    fn arn_requests_need_the_arn() {
        assert_eq!(
            parse::<DeleteTargetGroup>("TargetGroupArn=arn")
                .unwrap()
                .target_group_arn,
            "arn"
        );
        assert_eq!(
            parse::<DescribeTargetGroupAttributes>("TargetGroupArn=arn")
                .unwrap()
                .target_group_arn,
            "arn"
        );
        for error in [
            parse::<DeleteTargetGroup>("").unwrap_err(),
            parse::<DescribeTargetGroupAttributes>("").unwrap_err(),
            parse::<ModifyTargetGroupAttributes>("").unwrap_err(),
            parse::<DescribeTargetHealth>("").unwrap_err(),
        ] {
            assert_eq!(
                error.message,
                "TargetGroupArn: a required member is missing"
            );
        }
    }

    #[test]
    fn modify_attributes_reads_each_change() {
        let request: ModifyTargetGroupAttributes = parse(
            "TargetGroupArn=arn&Attributes.member.1.Key=deregistration_delay.timeout_seconds\
             &Attributes.member.1.Value=0",
        )
        .unwrap();
        assert_eq!(
            request.attributes,
            [("deregistration_delay.timeout_seconds".into(), "0".into())]
        );
        let refused = parse::<ModifyTargetGroupAttributes>(
            "TargetGroupArn=arn&Attributes.member.1.Key=stickiness.enabled\
             &Attributes.member.1.Value=true",
        )
        .unwrap_err();
        assert_eq!(refused.code, "InvalidConfigurationRequest");
        assert!(refused.message.contains("stickiness"), "{refused}");
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
        for (key, value) in TARGET_GROUP_ATTRIBUTES {
            assert!(
                check_attribute(key, value).is_ok(),
                "ALB's default {key}={value}"
            );
        }
    }
}
