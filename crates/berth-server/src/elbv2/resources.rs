//! The stored ELBv2 resources, in the shapes Describe* answers with (members named as in the
//! model), their ARNs and ALB's defaults. Pure: no I/O. A new target group's defaults are
//! written once, in [`TargetGroup::with_alb_defaults`], so that the tests' groups are the
//! groups users get.

use crate::call::Ids;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What every ELBv2 ARN Berth issues starts with.
pub fn arn_prefix(region: &str, account: &str) -> String {
    format!("arn:aws:elasticloadbalancing:{region}:{account}:")
}

/// The 16 hex digits AWS puts after a load balancer or target group name.
pub fn arn_id(ids: &Ids) -> String {
    ids.hex(16)
}

/// `…:loadbalancer/app/NAME/ID` → NAME, the key load balancers are stored under.
pub fn load_balancer_name(arn: &str) -> Option<&str> {
    let (_, path) = arn.split_once(":loadbalancer/app/")?;
    Some(path.split('/').next().unwrap_or(path))
}

/// `…:targetgroup/NAME/ID` → NAME, the key target groups are stored under.
pub fn target_group_name(arn: &str) -> Option<&str> {
    let (_, path) = arn.split_once(":targetgroup/")?;
    Some(path.split('/').next().unwrap_or(path))
}

/// `…:loadbalancer/app/NAME/ID` → `…:listener/app/NAME/ID/LISTENER_ID`.
pub fn listener_arn(load_balancer_arn: &str, ids: &Ids) -> String {
    format!(
        "{}/{}",
        load_balancer_arn.replacen(":loadbalancer/", ":listener/", 1),
        arn_id(ids)
    )
}

/// `…:listener/app/NAME/ID/LISTENER_ID` → `…:listener-rule/app/NAME/ID/LISTENER_ID/RULE_ID`.
pub fn rule_arn(listener_arn: &str, ids: &Ids) -> String {
    format!(
        "{}/{}",
        listener_arn.replacen(":listener/", ":listener-rule/", 1),
        arn_id(ids)
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancer {
    pub load_balancer_arn: String,
    #[serde(rename = "DNSName")]
    pub dns_name: String,
    pub created_time: String,
    pub load_balancer_name: String,
    pub scheme: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    pub state: State,
    #[serde(rename = "Type")]
    pub kind: String,
    pub availability_zones: Vec<AvailabilityZone>,
    pub security_groups: Vec<String>,
    pub ip_address_type: String,
    pub tags: Vec<Tag>,
    /// Attributes changed from [`LOAD_BALANCER_ATTRIBUTES`]' defaults (load balancers stored
    /// before attributes existed have none).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// ALB's load balancer attributes and their defaults.
pub const LOAD_BALANCER_ATTRIBUTES: &[(&str, &str)] = &[
    ("idle_timeout.timeout_seconds", "60"),
    ("deletion_protection.enabled", "false"),
    ("routing.http2.enabled", "true"),
    ("access_logs.s3.enabled", "false"),
    ("access_logs.s3.bucket", ""),
    ("access_logs.s3.prefix", ""),
    ("connection_logs.s3.enabled", "false"),
    ("connection_logs.s3.bucket", ""),
    ("connection_logs.s3.prefix", ""),
    ("routing.http.drop_invalid_header_fields.enabled", "false"),
    ("routing.http.preserve_host_header.enabled", "false"),
    (
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
        "false",
    ),
    ("routing.http.xff_client_port.enabled", "false"),
    ("routing.http.xff_header_processing.mode", "append"),
    ("routing.http.desync_mitigation_mode", "defensive"),
    ("waf.fail_open.enabled", "false"),
    ("client_keep_alive.seconds", "3600"),
    ("zonal_shift.config.enabled", "false"),
    ("load_balancing.cross_zone.enabled", "true"),
];

impl LoadBalancer {
    /// Every attribute: ALB's defaults with this load balancer's changes over them.
    pub fn attributes(&self) -> BTreeMap<String, String> {
        let mut all: BTreeMap<String, String> = LOAD_BALANCER_ATTRIBUTES
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.extend(self.attributes.clone());
        all
    }

    /// One attribute: as changed, else ALB's default.
    fn attribute(&self, key: &str) -> &str {
        self.attributes.get(key).map_or_else(
            || {
                LOAD_BALANCER_ATTRIBUTES
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or("", |(_, v)| v)
            },
            String::as_str,
        )
    }

    /// How long a client connection may move no byte before it is closed.
    pub fn idle_timeout(&self) -> std::time::Duration {
        // Only whole seconds from 1 to 4000 are ever stored.
        let seconds = self.attribute("idle_timeout.timeout_seconds").parse();
        std::time::Duration::from_secs(seconds.unwrap_or_default())
    }

    pub fn deletion_protected(&self) -> bool {
        self.attribute("deletion_protection.enabled") == "true"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AvailabilityZone {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
    pub subnet_id: String,
}

/// A target as RegisterTargets names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Matcher {
    pub http_code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetGroup {
    pub target_group_arn: String,
    pub target_group_name: String,
    pub protocol: String,
    pub protocol_version: String,
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    pub health_check_protocol: String,
    /// `traffic-port` or a port number, as ALB writes it.
    pub health_check_port: String,
    pub health_check_enabled: bool,
    pub health_check_interval_seconds: u32,
    pub health_check_timeout_seconds: u32,
    pub healthy_threshold_count: u32,
    pub unhealthy_threshold_count: u32,
    pub health_check_path: String,
    pub matcher: Matcher,
    pub target_type: String,
    pub ip_address_type: String,
    /// Every attribute with its value (ALB's defaults until modified).
    pub attributes: BTreeMap<String, String>,
    /// Targets registered through RegisterTargets, in registration order.
    pub targets: Vec<Target>,
    pub tags: Vec<Tag>,
}

/// ALB's target group attributes and their defaults.
pub const TARGET_GROUP_ATTRIBUTES: &[(&str, &str)] = &[
    ("deregistration_delay.timeout_seconds", "300"),
    ("stickiness.enabled", "false"),
    ("stickiness.type", "lb_cookie"),
    ("stickiness.lb_cookie.duration_seconds", "86400"),
    ("stickiness.app_cookie.cookie_name", ""),
    ("stickiness.app_cookie.duration_seconds", "86400"),
    ("load_balancing.algorithm.type", "round_robin"),
    ("load_balancing.algorithm.anomaly_mitigation", "off"),
    (
        "load_balancing.cross_zone.enabled",
        "use_load_balancer_configuration",
    ),
    ("slow_start.duration_seconds", "0"),
];

/// ALB's health check interval for a group that names none, in seconds.
pub const DEFAULT_HEALTH_CHECK_INTERVAL_SECONDS: u32 = 30;
/// ALB's health check timeout for a group that names none, in seconds.
pub const DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS: u32 = 5;

impl TargetGroup {
    /// A group of HTTP/1 `instance` targets on `port` with everything else as ALB sets it on
    /// a group that names nothing more: CreateTargetGroup starts from it, and so does every
    /// test's group, so that a test sees the groups users get.
    pub fn with_alb_defaults(
        target_group_arn: String,
        target_group_name: String,
        port: u16,
    ) -> Self {
        Self {
            target_group_arn,
            target_group_name,
            protocol: "HTTP".into(),
            protocol_version: "HTTP1".into(),
            port,
            vpc_id: None,
            health_check_protocol: "HTTP".into(),
            health_check_port: "traffic-port".into(),
            health_check_enabled: true,
            health_check_interval_seconds: DEFAULT_HEALTH_CHECK_INTERVAL_SECONDS,
            health_check_timeout_seconds: DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS,
            healthy_threshold_count: 5,
            unhealthy_threshold_count: 2,
            health_check_path: "/".into(),
            matcher: Matcher {
                http_code: "200".into(),
            },
            target_type: "instance".into(),
            ip_address_type: "ipv4".into(),
            attributes: TARGET_GROUP_ATTRIBUTES
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            targets: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// Where a target receives traffic: its own port, else the group's.
    pub fn target_port(&self, target: &Target) -> u16 {
        target.port.unwrap_or(self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Certificate {
    pub certificate_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
}

/// A forward action. Berth keeps both forms AWS answers with: `TargetGroupArn` and
/// `ForwardConfig` naming the same single group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Action {
    #[serde(rename = "Type")]
    pub kind: String,
    pub target_group_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<u32>,
    pub forward_config: ForwardConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ForwardConfig {
    pub target_groups: Vec<WeightedTargetGroup>,
    pub target_group_stickiness_config: Stickiness,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WeightedTargetGroup {
    pub target_group_arn: String,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stickiness {
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Listener {
    pub listener_arn: String,
    pub load_balancer_arn: String,
    pub port: u16,
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificates: Option<Vec<Certificate>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
    pub default_actions: Vec<Action>,
    pub tags: Vec<Tag>,
}

/// A rule condition. `Values` and the `*Config` form carry the same patterns; AWS answers
/// with both, and so does Berth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Condition {
    pub field: String,
    pub values: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_header_config: Option<Patterns>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_pattern_config: Option<Patterns>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Patterns {
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    pub rule_arn: String,
    pub listener_arn: String,
    /// `None` for the listener's default rule, which ALB shows with priority `default`.
    pub priority: Option<u32>,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub tags: Vec<Tag>,
}

/// An imported certificate: PEM text, served by HTTPS listeners that name its ARN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StoredCertificate {
    pub certificate_arn: String,
    pub certificate: String,
    pub private_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_chain: Option<String>,
    pub imported_at: f64,
}

/// For every target group one of `rules` forwards to, the load balancers of the listeners
/// doing so (a listener's default action is its default rule).
pub fn forwarding(listeners: &[Listener], rules: &[Rule]) -> HashMap<String, BTreeSet<String>> {
    let load_balancers: HashMap<&str, &str> = listeners
        .iter()
        .map(|l| (l.listener_arn.as_str(), l.load_balancer_arn.as_str()))
        .collect();
    let mut usage: HashMap<String, BTreeSet<String>> = HashMap::new();
    for rule in rules {
        let Some(lb) = load_balancers.get(rule.listener_arn.as_str()) else {
            continue;
        };
        for action in &rule.actions {
            usage
                .entry(action.target_group_arn.clone())
                .or_default()
                .insert(lb.to_string());
        }
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_nest_like_aws() {
        let ids = Ids::seeded(1);
        let lb = format!(
            "{}loadbalancer/app/web/{}",
            arn_prefix("us-east-1", "000000000000"),
            arn_id(&ids)
        );
        assert_eq!(load_balancer_name(&lb), Some("web"));
        let listener = listener_arn(&lb, &ids);
        assert!(listener
            .starts_with("arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/"));
        assert_eq!(listener.split('/').count(), 5);
        let rule = rule_arn(&listener, &ids);
        assert!(rule.contains(":listener-rule/app/web/"));
        assert_eq!(rule.split('/').count(), 6);
        assert_eq!(
            target_group_name("arn:aws:elasticloadbalancing:r:a:targetgroup/api/0123"),
            Some("api")
        );
        assert_eq!(target_group_name("arn:aws:ecs:r:a:cluster/x"), None);
    }
}
