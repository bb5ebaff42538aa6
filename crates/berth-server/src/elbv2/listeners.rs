//! Listeners and their rules: CreateListener, DescribeListeners, DeleteListener, CreateRule,
//! DescribeRules, DeleteRule. Every listener has a default rule, stored as a rule without a
//! priority, so what forwards where is read from rules alone.
//!
//! Actions, conditions and certificates arrive checked in their shape
//! (`requests::listeners`); a handler asks whether what they name exists, in a fixed order
//! (target groups, then the certificate, then the load balancer or listener), so that a
//! request naming several missing things always hears about the same one.
//!
//! Berth's listeners all bind on the balancer's one address, so a port belongs to at most one
//! listener of any load balancer, and CreateListener binds it before anything is stored.

use super::common::Error;
use super::requests::listeners::{
    CreateListener, CreateRule, DeleteListener, DeleteRule, DescribeListeners, DescribeRules,
    ListenerSelection, RuleSelection,
};
use super::resources::{listener_arn, rule_arn, Action, Certificate, Listener, Rule};
use super::{certificates, stored};
use crate::call::{to_value, Call};
use berth_store::Collection;
use serde_json::{json, Value};

fn listener_not_found() -> Error {
    Error::new("ListenerNotFound", "One or more listeners not found")
}

fn rule_not_found() -> Error {
    Error::new("RuleNotFound", "One or more rules not found")
}

/// Checks that every target group `actions` forward to is stored.
fn require_target_groups(call: &Call<'_>, actions: &[Action]) -> Result<(), Error> {
    for action in actions {
        if stored::target_group(call, &action.target_group_arn)?.is_none() {
            return Err(stored::target_group_not_found());
        }
    }
    Ok(())
}

/// Checks that every certificate a listener names has been imported.
fn require_certificates(call: &Call<'_>, named: &[Certificate]) -> Result<(), Error> {
    for certificate in named {
        let arn = &certificate.certificate_arn;
        if certificates::find(call, arn)?.is_none() {
            return Err(Error::new(
                "CertificateNotFound",
                format!("Certificate '{arn}' not found; import it with `berth certs import`"),
            ));
        }
    }
    Ok(())
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

pub fn create(call: &Call<'_>, request: &CreateListener) -> Result<Value, Error> {
    let lb_arn = &request.load_balancer_arn;
    let port = request.port;
    require_target_groups(call, &request.default_actions)?;
    require_certificates(call, request.certificates.as_deref().unwrap_or_default())?;
    if stored::load_balancer(call, lb_arn)?.is_none() {
        return Err(stored::load_balancer_not_found());
    }
    if let Some(taken) = call
        .list::<Listener>(Collection::Listeners, None)?
        .into_iter()
        .find(|l| l.port == port)
    {
        let message = if taken.load_balancer_arn == *lb_arn {
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
        load_balancer_arn: lb_arn.clone(),
        port,
        protocol: request.protocol.to_string(),
        certificates: request.certificates.clone(),
        ssl_policy: request.ssl_policy.clone(),
        default_actions: request.default_actions.clone(),
        tags: request.tags.clone(),
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

pub fn describe(call: &Call<'_>, request: &DescribeListeners) -> Result<Value, Error> {
    let listeners: Vec<Listener> = match &request.selection {
        ListenerSelection::LoadBalancer(lb) => {
            if stored::load_balancer(call, lb)?.is_none() {
                return Err(stored::load_balancer_not_found());
            }
            call.list(Collection::Listeners, Some(lb))?
        }
        ListenerSelection::Arns(arns) => arns
            .iter()
            .map(|arn| call.get::<Listener>(Collection::Listeners, arn))
            .collect::<Result<Option<Vec<_>>, _>>()?
            .ok_or_else(listener_not_found)?,
    };
    let (items, next) = request.page.of(listeners, |l| l.listener_arn.clone())?;
    let described: Vec<Value> = items.iter().map(describe_listener).collect();
    Ok(json!({"Listeners": described, "NextMarker": next}))
}

pub fn delete(call: &Call<'_>, request: &DeleteListener) -> Result<Value, Error> {
    let arn = &request.listener_arn;
    if call.get::<Listener>(Collection::Listeners, arn)?.is_none() {
        return Err(listener_not_found());
    }
    stored::remove_listener(call, arn)?;
    Ok(json!({}))
}

pub fn create_rule(call: &Call<'_>, request: &CreateRule) -> Result<Value, Error> {
    let listener_arn = &request.listener_arn;
    let priority = request.priority;
    require_target_groups(call, &request.actions)?;
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
        listener_arn: listener_arn.clone(),
        priority: Some(priority),
        conditions: request.conditions.clone(),
        actions: request.actions.clone(),
        tags: request.tags.clone(),
    };
    call.insert(Collection::Rules, &rule.rule_arn, listener_arn, &rule)?;
    Ok(json!({"Rules": [describe_rule(&rule)]}))
}

pub fn describe_rules(call: &Call<'_>, request: &DescribeRules) -> Result<Value, Error> {
    let rules: Vec<Rule> = match &request.selection {
        RuleSelection::Listener(listener) => {
            if call
                .get::<Listener>(Collection::Listeners, listener)?
                .is_none()
            {
                return Err(listener_not_found());
            }
            call.list(Collection::Rules, Some(listener))?
        }
        RuleSelection::Arns(arns) => arns
            .iter()
            .map(|arn| call.get::<Rule>(Collection::Rules, arn))
            .collect::<Result<Option<Vec<_>>, _>>()?
            .ok_or_else(rule_not_found)?,
    };
    // By priority, the default rule last, as ALB lists them.
    let (items, next) = request.page.of(rules, |r| {
        (r.priority.unwrap_or(u32::MAX), r.rule_arn.clone())
    })?;
    let described: Vec<Value> = items.iter().map(describe_rule).collect();
    Ok(json!({"Rules": described, "NextMarker": next}))
}

pub fn delete_rule(call: &Call<'_>, request: &DeleteRule) -> Result<Value, Error> {
    let arn = &request.rule_arn;
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
