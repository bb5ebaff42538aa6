//! Listeners and their rules: CreateListener, DescribeListeners, DeleteListener, CreateRule,
//! DescribeRules, DeleteRule. Every listener has a default rule, stored as a rule without a
//! priority, so what forwards where is read from rules alone.
//!
//! Berth's listeners all bind on the balancer's one address, so a port belongs to at most one
//! listener of any load balancer, and CreateListener binds it before anything is stored.

use super::common::{one_of, tags, Error, Page};
use super::resources::WeightedTargetGroup;
use super::resources::{listener_arn, Patterns, Rule, Stickiness};
use super::resources::{rule_arn, Action, Certificate, Condition, ForwardConfig, Listener};
use super::stored;
use crate::call::{to_value, Call};
use berth_aws::query::Params;
use berth_store::Collection;
use serde_json::{json, Value};

/// The security policy AWS gives an HTTPS listener that names none.
const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-2016-08";

fn listener_not_found() -> Error {
    Error::new("ListenerNotFound", "One or more listeners not found")
}

fn rule_not_found() -> Error {
    Error::new("RuleNotFound", "One or more rules not found")
}

/// The `Actions`/`DefaultActions` member: one forward action to one existing target group.
fn actions(call: &Call<'_>, p: &Params, member: &str) -> Result<Vec<Action>, Error> {
    let given = p
        .structures(member)?
        .ok_or_else(|| Error::validation(format!("{member}: a required member is missing")))?;
    if given.is_empty() {
        return Err(Error::validation(format!(
            "{member}: give one forward action"
        )));
    }
    if given.len() > 1 {
        return Err(Error::new(
            "TooManyActions",
            format!("{member}: Berth takes one forward action per rule"),
        ));
    }
    let mut decoded = Vec::new();
    for action in given {
        let kind = action.required("Type")?;
        if kind != "forward" {
            return Err(Error::new(
                "InvalidLoadBalancerAction",
                format!("{member}: action type '{kind}' is not supported; Berth forwards to target groups"),
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
        if stored::target_group(call, &arn)?.is_none() {
            return Err(stored::target_group_not_found());
        }
        decoded.push(Action {
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
        });
    }
    Ok(decoded)
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

/// Checks `Certificates` against the imported certificates: an HTTPS listener needs one.
fn certificates(
    call: &Call<'_>,
    p: &Params,
    protocol: &str,
) -> Result<Option<Vec<Certificate>>, Error> {
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
    let arn = first.required("CertificateArn")?;
    if super::certificates::find(call, arn)?.is_none() {
        return Err(Error::new(
            "CertificateNotFound",
            format!("Certificate '{arn}' not found; import it with `berth certs import`"),
        ));
    }
    Ok(Some(vec![Certificate {
        certificate_arn: arn.to_string(),
        is_default: first.bool("IsDefault")?,
    }]))
}

fn describe_listener(listener: &Listener) -> Value {
    let mut value = to_value(listener);
    if let Value::Object(members) = &mut value {
        members.remove("Tags");
    }
    value
}

fn describe_rule(rule: &Rule) -> Value {
    json!({
        "RuleArn": rule.rule_arn,
        "Priority": rule.priority.map_or_else(|| "default".to_string(), |p| p.to_string()),
        "Conditions": rule.conditions,
        "Actions": rule.actions,
        "IsDefault": rule.priority.is_none(),
    })
}

pub fn create(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let lb_arn = p.required("LoadBalancerArn")?;
    let protocol = one_of(p, "Protocol", &["HTTP", "HTTPS"], "HTTP")
        .map_err(|e| Error::new("UnsupportedProtocol", e.message))?;
    let port =
        p.int("Port", 1..=65535)?
            .ok_or_else(|| Error::validation("Port: a required member is missing"))? as u16;
    let default_actions = actions(call, p, "DefaultActions")?;
    let certificates = certificates(call, p, protocol)?;
    let ssl_policy = match protocol {
        "HTTPS" => Some(
            p.string("SslPolicy")?
                .unwrap_or(DEFAULT_SSL_POLICY)
                .to_string(),
        ),
        _ => None,
    };
    let tags = tags(p)?;
    if stored::load_balancer(call, lb_arn)?.is_none() {
        return Err(stored::load_balancer_not_found());
    }
    if let Some(taken) = call
        .list::<Listener>(Collection::Listeners, None)?
        .into_iter()
        .find(|l| l.port == port)
    {
        let message = if taken.load_balancer_arn == lb_arn {
            "A listener already exists on that port".to_string()
        } else {
            format!(
                "Port {port} is taken by a listener of load balancer '{}'; Berth's load balancers share one address",
                taken.load_balancer_arn
            )
        };
        return Err(Error::new("DuplicateListener", message));
    }
    // Bound now, so that the listener accepts connections as soon as this call returns and a
    // port in use fails the call before anything is stored.
    call.data_plane()
        .reserve_port(port)
        .map_err(|e| Error::invalid_configuration(format!("Port {port} cannot be used: {e}")))?;
    let listener = Listener {
        listener_arn: listener_arn(lb_arn, call.ids()),
        load_balancer_arn: lb_arn.to_string(),
        port,
        protocol: protocol.to_string(),
        certificates,
        ssl_policy,
        default_actions,
        tags,
    };
    let default_rule = Rule {
        rule_arn: rule_arn(&listener.listener_arn, call.ids()),
        listener_arn: listener.listener_arn.clone(),
        priority: None,
        conditions: Vec::new(),
        actions: listener.default_actions.clone(),
        tags: Vec::new(),
    };
    call.insert(
        Collection::Listeners,
        &listener.listener_arn,
        lb_arn,
        &listener,
    )?;
    call.insert(
        Collection::Rules,
        &default_rule.rule_arn,
        &listener.listener_arn,
        &default_rule,
    )?;
    Ok(json!({"Listeners": [describe_listener(&listener)]}))
}

pub fn describe(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let listeners: Vec<Listener> = match (p.string("LoadBalancerArn")?, p.strings("ListenerArns")?)
    {
        (Some(_), Some(_)) | (None, None) => {
            return Err(Error::validation(
                "give either LoadBalancerArn or ListenerArns",
            ))
        }
        (Some(lb), None) => {
            if stored::load_balancer(call, lb)?.is_none() {
                return Err(stored::load_balancer_not_found());
            }
            call.list(Collection::Listeners, Some(lb))?
        }
        (None, Some(arns)) => arns
            .iter()
            .map(|arn| call.get::<Listener>(Collection::Listeners, arn))
            .collect::<Result<Option<Vec<_>>, _>>()?
            .ok_or_else(listener_not_found)?,
    };
    let (items, next) = Page::from_params(p)?.of(listeners);
    let described: Vec<Value> = items.iter().map(describe_listener).collect();
    Ok(json!({"Listeners": described, "NextMarker": next}))
}

pub fn delete(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let arn = p.required("ListenerArn")?;
    if call.get::<Listener>(Collection::Listeners, arn)?.is_none() {
        return Err(listener_not_found());
    }
    stored::remove_listener(call, arn)?;
    Ok(json!({}))
}

pub fn create_rule(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let listener_arn = p.required("ListenerArn")?;
    let priority = p
        .int("Priority", 1..=50_000)?
        .ok_or_else(|| Error::validation("Priority: a required member is missing"))?
        as u32;
    let conditions = conditions(p)?;
    let actions = actions(call, p, "Actions")?;
    let tags = tags(p)?;
    if call
        .get::<Listener>(Collection::Listeners, listener_arn)?
        .is_none()
    {
        return Err(listener_not_found());
    }
    let rules: Vec<Rule> = call.list(Collection::Rules, Some(listener_arn))?;
    if rules.iter().any(|r| r.priority == Some(priority)) {
        return Err(Error::new(
            "PriorityInUse",
            format!("Priority '{priority}' is currently in use"),
        ));
    }
    let rule = Rule {
        rule_arn: rule_arn(listener_arn, call.ids()),
        listener_arn: listener_arn.to_string(),
        priority: Some(priority),
        conditions,
        actions,
        tags,
    };
    call.insert(Collection::Rules, &rule.rule_arn, listener_arn, &rule)?;
    Ok(json!({"Rules": [describe_rule(&rule)]}))
}

pub fn describe_rules(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let mut rules: Vec<Rule> = match (p.string("ListenerArn")?, p.strings("RuleArns")?) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(Error::validation("give either ListenerArn or RuleArns"))
        }
        (Some(listener), None) => {
            if call
                .get::<Listener>(Collection::Listeners, listener)?
                .is_none()
            {
                return Err(listener_not_found());
            }
            call.list(Collection::Rules, Some(listener))?
        }
        (None, Some(arns)) => arns
            .iter()
            .map(|arn| call.get::<Rule>(Collection::Rules, arn))
            .collect::<Result<Option<Vec<_>>, _>>()?
            .ok_or_else(rule_not_found)?,
    };
    // By priority, the default rule last, as ALB lists them.
    rules.sort_by_key(|r| r.priority.unwrap_or(u32::MAX));
    let (items, next) = Page::from_params(p)?.of(rules);
    let described: Vec<Value> = items.iter().map(describe_rule).collect();
    Ok(json!({"Rules": described, "NextMarker": next}))
}

pub fn delete_rule(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let arn = p.required("RuleArn")?;
    let rule = call
        .get::<Rule>(Collection::Rules, arn)?
        .ok_or_else(rule_not_found)?;
    if rule.priority.is_none() {
        return Err(Error::new(
            "OperationNotPermitted",
            "Default rule cannot be deleted; delete the listener instead",
        ));
    }
    call.remove(Collection::Rules, arn)?;
    Ok(json!({}))
}
