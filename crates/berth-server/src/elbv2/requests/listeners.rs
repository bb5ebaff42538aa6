//! The listener and rule actions' requests: a listener's protocol, port and certificate, and
//! the forward actions and host and path conditions Berth's balancer can follow. Whether the
//! load balancer, target groups and certificates they name exist is the handlers' to ask.

use super::FromParams;
use crate::elbv2::common::{one_of, tags, Error, Page};
use crate::elbv2::resources::{Action, Certificate, Condition, ForwardConfig, Patterns};
use crate::elbv2::resources::{Stickiness, Tag, WeightedTargetGroup};
use berth_aws::query::Params;

/// The security policy AWS gives an HTTPS listener that names none.
const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-2016-08";

#[derive(Debug, Clone, PartialEq)]
pub struct CreateListener {
    pub load_balancer_arn: String,
    /// `HTTP` or `HTTPS`.
    pub protocol: &'static str,
    pub port: u16,
    pub default_actions: Vec<Action>,
    /// The one certificate of an HTTPS listener; `None` for HTTP.
    pub certificates: Option<Vec<Certificate>>,
    /// `None` for HTTP.
    pub ssl_policy: Option<String>,
    pub tags: Vec<Tag>,
}

impl FromParams for CreateListener {
    fn from_params(p: &Params) -> Result<Self, Error> {
        let load_balancer_arn = p.required("LoadBalancerArn")?.to_string();
        let protocol = one_of(p, "Protocol", &["HTTP", "HTTPS"], "HTTP")
            .map_err(|e| Error::new("UnsupportedProtocol", e.message))?;
        let port = p
            .int("Port", 1..=65535)?
            .ok_or_else(|| Error::validation("Port: a required member is missing"))?
            as u16;
        let default_actions = actions(p, "DefaultActions")?;
        let certificates = certificates(p, protocol)?;
        let ssl_policy = match protocol {
            "HTTPS" => Some(
                p.string("SslPolicy")?
                    .unwrap_or(DEFAULT_SSL_POLICY)
                    .to_string(),
            ),
            _ => None,
        };
        Ok(Self {
            load_balancer_arn,
            protocol,
            port,
            default_actions,
            certificates,
            ssl_policy,
            tags: tags(p)?,
        })
    }
}

/// Which listeners DescribeListeners answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerSelection {
    /// Every listener of a load balancer.
    LoadBalancer(String),
    Arns(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeListeners {
    pub selection: ListenerSelection,
    pub page: Page,
}

impl FromParams for DescribeListeners {
    fn from_params(p: &Params) -> Result<Self, Error> {
        let selection = match (p.string("LoadBalancerArn")?, p.strings("ListenerArns")?) {
            (Some(lb), None) => ListenerSelection::LoadBalancer(lb.to_string()),
            (None, Some(arns)) => ListenerSelection::Arns(arns),
            (Some(_), Some(_)) | (None, None) => {
                return Err(Error::validation(
                    "give either LoadBalancerArn or ListenerArns",
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
pub struct DeleteListener {
    pub listener_arn: String,
}

impl FromParams for DeleteListener {
    fn from_params(p: &Params) -> Result<Self, Error> {
        Ok(Self {
            listener_arn: p.required("ListenerArn")?.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateRule {
    pub listener_arn: String,
    pub priority: u32,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub tags: Vec<Tag>,
}

impl FromParams for CreateRule {
    fn from_params(p: &Params) -> Result<Self, Error> {
        let listener_arn = p.required("ListenerArn")?.to_string();
        let priority = p
            .int("Priority", 1..=50_000)?
            .ok_or_else(|| Error::validation("Priority: a required member is missing"))?
            as u32;
        Ok(Self {
            listener_arn,
            priority,
            conditions: conditions(p)?,
            actions: actions(p, "Actions")?,
            tags: tags(p)?,
        })
    }
}

/// Which rules DescribeRules answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSelection {
    /// Every rule of a listener, its default rule included.
    Listener(String),
    Arns(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeRules {
    pub selection: RuleSelection,
    pub page: Page,
}

impl FromParams for DescribeRules {
    fn from_params(p: &Params) -> Result<Self, Error> {
        let selection = match (p.string("ListenerArn")?, p.strings("RuleArns")?) {
            (Some(listener), None) => RuleSelection::Listener(listener.to_string()),
            (None, Some(arns)) => RuleSelection::Arns(arns),
            (Some(_), Some(_)) | (None, None) => {
                return Err(Error::validation("give either ListenerArn or RuleArns"))
            }
        };
        Ok(Self {
            selection,
            page: Page::from_params(p)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRule {
    pub rule_arn: String,
}

impl FromParams for DeleteRule {
    fn from_params(p: &Params) -> Result<Self, Error> {
        Ok(Self {
            rule_arn: p.required("RuleArn")?.to_string(),
        })
    }
}

/// The `Actions`/`DefaultActions` member: one forward action to one target group, named by
/// `TargetGroupArn`, `ForwardConfig` or both.
fn actions(p: &Params, member: &str) -> Result<Vec<Action>, Error> {
    let given = p
        .structures(member)?
        .ok_or_else(|| Error::validation(format!("{member}: a required member is missing")))?;
    let action = match given.as_slice() {
        [] => {
            return Err(Error::validation(format!(
                "{member}: give one forward action"
            )))
        }
        [action] => *action,
        _ => {
            return Err(Error::new(
                "TooManyActions",
                format!("{member}: Berth takes one forward action per rule"),
            ))
        }
    };
    let kind = action.required("Type")?;
    if kind != "forward" {
        return Err(Error::new(
            "InvalidLoadBalancerAction",
            format!(
                "{member}: action type '{kind}' is not supported; Berth forwards to target groups"
            ),
        ));
    }
    let mut arns: Vec<(String, u32)> = Vec::new();
    if let Some(arn) = action.string("TargetGroupArn")? {
        arns.push((arn.to_string(), 1));
    }
    if let Some(config) = action.structure("ForwardConfig")? {
        let stickiness = config.structure("TargetGroupStickinessConfig")?;
        if let Some(stickiness) = stickiness {
            if stickiness.bool("Enabled")? == Some(true) {
                return Err(Error::invalid_configuration(
                    "ForwardConfig.TargetGroupStickinessConfig: Berth has no sticky sessions",
                ));
            }
        }
        let groups = config.structures("TargetGroups")?.unwrap_or_default();
        if groups.len() > 1 {
            return Err(Error::invalid_configuration(
                "ForwardConfig.TargetGroups: Berth forwards each action to one target group",
            ));
        }
        for group in groups {
            let arn = group.required("TargetGroupArn")?;
            let weight = group.int("Weight", 0..=999)?.unwrap_or(1) as u32;
            match arns.first() {
                Some((first, _)) if first != arn => {
                    return Err(Error::validation(format!(
                        "{member}: TargetGroupArn and ForwardConfig name different target groups"
                    )))
                }
                Some(_) => arns[0].1 = weight,
                None => arns.push((arn.to_string(), weight)),
            }
        }
    }
    let Some((arn, weight)) = arns.pop() else {
        return Err(Error::validation(format!(
            "{member}: a forward action needs TargetGroupArn or ForwardConfig.TargetGroups"
        )));
    };
    Ok(vec![Action {
        kind: kind.to_string(),
        target_group_arn: arn.clone(),
        order: action.int("Order", 1..=50_000)?.map(|n| n as u32),
        forward_config: ForwardConfig {
            target_groups: vec![WeightedTargetGroup {
                target_group_arn: arn,
                weight,
            }],
            target_group_stickiness_config: Stickiness { enabled: false },
        },
    }])
}

/// The `Conditions` member: host-header and path-pattern, each at most once, given as
/// `Values` or as the field's `*Config`.
fn conditions(p: &Params) -> Result<Vec<Condition>, Error> {
    let given = p
        .structures("Conditions")?
        .ok_or_else(|| Error::validation("Conditions: a required member is missing"))?;
    if given.is_empty() {
        return Err(Error::validation(
            "Conditions: a rule needs at least one condition",
        ));
    }
    let mut decoded: Vec<Condition> = Vec::new();
    for condition in given {
        let field = condition.required("Field")?;
        let config_member = match field {
            "host-header" => "HostHeaderConfig",
            "path-pattern" => "PathPatternConfig",
            other => {
                return Err(Error::validation(format!(
                    "Conditions: field '{other}' is not supported; Berth routes by host-header and path-pattern"
                )))
            }
        };
        if condition.has("RegexValues") {
            return Err(Error::validation(
                "Conditions: RegexValues is not supported; give wildcard Values",
            ));
        }
        let plain = condition.strings("Values")?;
        let config = match condition.structure(config_member)? {
            Some(config) => {
                if config.has("RegexValues") {
                    return Err(Error::validation(format!(
                        "Conditions: {config_member}.RegexValues is not supported; give wildcard Values"
                    )));
                }
                config.strings("Values")?
            }
            None => None,
        };
        let values = match (plain, config) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::validation(format!(
                    "Conditions: Values and {config_member}.Values differ"
                )))
            }
            (Some(v), _) | (None, Some(v)) => v,
            (None, None) => Vec::new(),
        };
        if values.is_empty() || values.iter().any(|v| v.is_empty() || v.len() > 128) {
            return Err(Error::validation(format!(
                "Conditions: a {field} condition needs 1 or more values of 1 to 128 characters"
            )));
        }
        if decoded.iter().any(|c| c.field == field) {
            return Err(Error::validation(format!(
                "Conditions: give the {field} condition once, with every value in it"
            )));
        }
        let patterns = Some(Patterns {
            values: values.clone(),
        });
        let host = field == "host-header";
        decoded.push(Condition {
            field: field.to_string(),
            values,
            host_header_config: if host { patterns.clone() } else { None },
            path_pattern_config: if host { None } else { patterns },
        });
    }
    Ok(decoded)
}

/// The `Certificates` member: an HTTPS listener names exactly one, an HTTP listener none.
fn certificates(p: &Params, protocol: &str) -> Result<Option<Vec<Certificate>>, Error> {
    let given = p.structures("Certificates")?.unwrap_or_default();
    if protocol == "HTTP" {
        if !given.is_empty() {
            return Err(Error::validation(
                "Certificates: an HTTP listener takes no certificates",
            ));
        }
        return Ok(None);
    }
    let Some(first) = given.first() else {
        return Err(Error::validation(
            "Certificates: an HTTPS listener needs a certificate (import one with `berth certs import`)",
        ));
    };
    if given.len() > 1 {
        return Err(Error::new(
            "TooManyCertificates",
            "Certificates: give the listener's one default certificate",
        ));
    }
    Ok(Some(vec![Certificate {
        certificate_arn: first.required("CertificateArn")?.to_string(),
        is_default: first.bool("IsDefault")?,
    }]))
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    const FORWARD: &str = "DefaultActions.member.1.Type=forward\
                           &DefaultActions.member.1.TargetGroupArn=tg";

    fn listener(body: &str) -> Result<CreateListener, Error> {
        parse(&format!("LoadBalancerArn=lb&Port=80&{FORWARD}&{body}"))
    }

    fn forward(arn: &str, weight: u32, order: Option<u32>) -> Action {
        Action {
            kind: "forward".into(),
            target_group_arn: arn.into(),
            order,
            forward_config: ForwardConfig {
                target_groups: vec![WeightedTargetGroup {
                    target_group_arn: arn.into(),
                    weight,
                }],
                target_group_stickiness_config: Stickiness { enabled: false },
            },
        }
    }

    #[test]
    fn an_http_listener_forwards_with_no_certificate() {
        assert_eq!(
            listener("Tags.member.1.Key=team").unwrap(),
            CreateListener {
                load_balancer_arn: "lb".into(),
                protocol: "HTTP",
                port: 80,
                default_actions: vec![forward("tg", 1, None)],
                certificates: None,
                ssl_policy: None,
                tags: vec![Tag {
                    key: "team".into(),
                    value: None
                }],
            }
        );
    }

    #[test]
    fn an_https_listener_takes_one_certificate_and_albs_default_policy() {
        let https = listener("Protocol=HTTPS&Certificates.member.1.CertificateArn=cert").unwrap();
        assert_eq!(
            https.certificates,
            Some(vec![Certificate {
                certificate_arn: "cert".into(),
                is_default: None
            }])
        );
        assert_eq!(https.ssl_policy.as_deref(), Some(DEFAULT_SSL_POLICY));
        let chosen = listener(
            "Protocol=HTTPS&Certificates.member.1.CertificateArn=cert\
             &Certificates.member.1.IsDefault=true&SslPolicy=ELBSecurityPolicy-TLS13-1-2-2021-06",
        )
        .unwrap();
        assert_eq!(
            chosen.ssl_policy.as_deref(),
            Some("ELBSecurityPolicy-TLS13-1-2-2021-06")
        );
        assert_eq!(chosen.certificates.unwrap()[0].is_default, Some(true));
    }

    #[test]
    fn create_listener_refuses_naming_the_member() {
        for (body, code, mention) in [
            ("Protocol=TCP", "UnsupportedProtocol", "Protocol"),
            ("Port=0", "ValidationError", "Port"),
            (
                "Certificates.member.1.CertificateArn=cert",
                "ValidationError",
                "HTTP listener takes no certificates",
            ),
            ("Protocol=HTTPS", "ValidationError", "Certificates"),
            (
                "Protocol=HTTPS&Certificates.member.1.CertificateArn=a\
                 &Certificates.member.2.CertificateArn=b",
                "TooManyCertificates",
                "Certificates",
            ),
            (
                "Protocol=HTTPS&Certificates.member.1.IsDefault=true",
                "ValidationError",
                "Certificates.member.1.CertificateArn",
            ),
            (
                "Tags.member.1.Key=a&Tags.member.2.Key=a",
                "DuplicateTagKeys",
                "'a'",
            ),
        ] {
            let error = listener(body).unwrap_err();
            assert_eq!(error.code, code, "{body}: {}", error.message);
            assert!(error.message.contains(mention), "{body}: {}", error.message);
        }
        for (body, mention) in [
            (format!("Port=80&{FORWARD}"), "LoadBalancerArn"),
            (format!("LoadBalancerArn=lb&{FORWARD}"), "Port"),
            ("LoadBalancerArn=lb&Port=80".into(), "DefaultActions"),
        ] {
            let error = parse::<CreateListener>(&body).unwrap_err();
            assert_eq!(
                error.message,
                format!("{mention}: a required member is missing")
            );
        }
    }

    #[test]
    fn actions_forward_to_one_group_named_either_way() {
        let by_config = actions(
            &params(
                "A.member.1.Type=forward&A.member.1.Order=3\
                 &A.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn=tg\
                 &A.member.1.ForwardConfig.TargetGroups.member.1.Weight=5",
            ),
            "A",
        )
        .unwrap();
        assert_eq!(by_config, [forward("tg", 5, Some(3))]);
        let both = actions(
            &params(
                "A.member.1.Type=forward&A.member.1.TargetGroupArn=tg\
                 &A.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn=tg\
                 &A.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled=false",
            ),
            "A",
        )
        .unwrap();
        assert_eq!(both, [forward("tg", 1, None)]);
    }

    #[test]
    fn actions_refuse_what_the_balancer_cannot_follow() {
        for (body, code, mention) in [
            ("A=", "ValidationError", "A: give one forward action"),
            (
                "A.member.1.Type=forward&A.member.1.TargetGroupArn=a\
                 &A.member.2.Type=forward&A.member.2.TargetGroupArn=b",
                "TooManyActions",
                "A:",
            ),
            (
                "A.member.1.TargetGroupArn=a",
                "ValidationError",
                "A.member.1.Type",
            ),
            (
                "A.member.1.Type=fixed-response",
                "InvalidLoadBalancerAction",
                "fixed-response",
            ),
            (
                "A.member.1.Type=forward\
                 &A.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn=a\
                 &A.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled=true",
                "InvalidConfigurationRequest",
                "sticky",
            ),
            (
                "A.member.1.Type=forward\
                 &A.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn=a\
                 &A.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn=b",
                "InvalidConfigurationRequest",
                "ForwardConfig.TargetGroups",
            ),
            (
                "A.member.1.Type=forward&A.member.1.TargetGroupArn=a\
                 &A.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn=b",
                "ValidationError",
                "different target groups",
            ),
            (
                "A.member.1.Type=forward\
                 &A.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn=a\
                 &A.member.1.ForwardConfig.TargetGroups.member.1.Weight=1000",
                "ValidationError",
                "A.member.1.ForwardConfig.TargetGroups.member.1.Weight",
            ),
            (
                "A.member.1.Type=forward",
                "ValidationError",
                "needs TargetGroupArn",
            ),
            (
                "A.member.1.Type=forward&A.member.1.TargetGroupArn=a&A.member.1.Order=0",
                "ValidationError",
                "A.member.1.Order",
            ),
        ] {
            let error = actions(&params(body), "A").unwrap_err();
            assert_eq!(error.code, code, "{body}: {}", error.message);
            assert!(error.message.contains(mention), "{body}: {}", error.message);
        }
    }

    #[test]
    fn conditions_route_by_host_and_path_given_either_way() {
        let rule: CreateRule = parse(&format!(
            "ListenerArn=l&Priority=10&{}\
             &Conditions.member.1.Field=host-header&Conditions.member.1.Values.member.1=a.example\
             &Conditions.member.2.Field=path-pattern\
             &Conditions.member.2.PathPatternConfig.Values.member.1=/api/*",
            FORWARD.replace("DefaultActions", "Actions")
        ))
        .unwrap();
        assert_eq!((rule.listener_arn.as_str(), rule.priority), ("l", 10));
        assert_eq!(rule.actions, [forward("tg", 1, None)]);
        let patterns = |values: &[&str]| {
            Some(Patterns {
                values: values.iter().map(|v| v.to_string()).collect(),
            })
        };
        assert_eq!(
            rule.conditions,
            [
                Condition {
                    field: "host-header".into(),
                    values: vec!["a.example".into()],
                    host_header_config: patterns(&["a.example"]),
                    path_pattern_config: None,
                },
                Condition {
                    field: "path-pattern".into(),
                    values: vec!["/api/*".into()],
                    host_header_config: None,
                    path_pattern_config: patterns(&["/api/*"]),
                },
            ]
        );
    }

    #[test]
    fn conditions_refuse_naming_the_member() {
        let long = "x".repeat(129);
        for (body, mention) in [
            ("Conditions=".to_string(), "at least one condition"),
            (
                "Conditions.member.1.Values.member.1=a".into(),
                "Conditions.member.1.Field",
            ),
            (
                "Conditions.member.1.Field=http-header&Conditions.member.1.Values.member.1=a"
                    .into(),
                "http-header",
            ),
            (
                "Conditions.member.1.Field=path-pattern\
                 &Conditions.member.1.RegexValues.member.1=a"
                    .into(),
                "RegexValues",
            ),
            (
                "Conditions.member.1.Field=path-pattern\
                 &Conditions.member.1.PathPatternConfig.RegexValues.member.1=a"
                    .into(),
                "PathPatternConfig.RegexValues",
            ),
            (
                "Conditions.member.1.Field=path-pattern&Conditions.member.1.Values.member.1=/a\
                 &Conditions.member.1.PathPatternConfig.Values.member.1=/b"
                    .into(),
                "differ",
            ),
            (
                "Conditions.member.1.Field=path-pattern".into(),
                "1 or more values",
            ),
            (
                format!(
                    "Conditions.member.1.Field=host-header\
                     &Conditions.member.1.Values.member.1={long}"
                ),
                "1 to 128 characters",
            ),
            (
                "Conditions.member.1.Field=path-pattern&Conditions.member.1.Values.member.1=/a\
                 &Conditions.member.2.Field=path-pattern&Conditions.member.2.Values.member.1=/b"
                    .into(),
                "once",
            ),
        ] {
            let error = conditions(&params(&body)).unwrap_err();
            assert_eq!(error.code, "ValidationError", "{body}");
            assert!(error.message.contains(mention), "{body}: {}", error.message);
        }
        for (body, message) in [
            (
                "Priority=1".to_string(),
                "ListenerArn: a required member is missing",
            ),
            (
                "ListenerArn=l".into(),
                "Priority: a required member is missing",
            ),
            (
                "ListenerArn=l&Priority=50001".into(),
                "Priority: 50001 is not between 1 and 50000",
            ),
            (
                "ListenerArn=l&Priority=1".into(),
                "Conditions: a required member is missing",
            ),
        ] {
            assert_eq!(
                parse::<CreateRule>(&body).unwrap_err().message,
                message,
                "{body}"
            );
        }
    }

    #[test]
    fn describe_selects_by_parent_or_arns() {
        assert_eq!(
            parse::<DescribeListeners>("LoadBalancerArn=lb")
                .unwrap()
                .selection,
            ListenerSelection::LoadBalancer("lb".into())
        );
        assert_eq!(
            parse::<DescribeListeners>("ListenerArns.member.1=l")
                .unwrap()
                .selection,
            ListenerSelection::Arns(vec!["l".into()])
        );
        assert_eq!(
            parse::<DescribeRules>("ListenerArn=l").unwrap().selection,
            RuleSelection::Listener("l".into())
        );
        assert_eq!(
            parse::<DescribeRules>("RuleArns.member.1=r")
                .unwrap()
                .selection,
            RuleSelection::Arns(vec!["r".into()])
        );
        for body in ["", "LoadBalancerArn=lb&ListenerArns.member.1=l"] {
            let error = parse::<DescribeListeners>(body).unwrap_err();
            assert_eq!(error.message, "give either LoadBalancerArn or ListenerArns");
        }
        for body in ["", "ListenerArn=l&RuleArns.member.1=r"] {
            let error = parse::<DescribeRules>(body).unwrap_err();
            assert_eq!(error.message, "give either ListenerArn or RuleArns");
        }
        let error = parse::<DescribeRules>("ListenerArn=l&Marker=zz").unwrap_err();
        assert!(error.message.starts_with("Marker"), "{}", error.message);
    }

    #[test]
    fn deletes_need_the_arn() {
        assert_eq!(
            parse::<DeleteListener>("ListenerArn=l")
                .unwrap()
                .listener_arn,
            "l"
        );
        assert_eq!(parse::<DeleteRule>("RuleArn=r").unwrap().rule_arn, "r");
        assert_eq!(
            parse::<DeleteListener>("").unwrap_err().message,
            "ListenerArn: a required member is missing"
        );
        assert_eq!(
            parse::<DeleteRule>("").unwrap_err().message,
            "RuleArn: a required member is missing"
        );
    }

    fn params(body: &str) -> Params {
        berth_aws::query::parse(format!("Action=X&{body}").as_bytes())
            .unwrap()
            .params
    }
}
