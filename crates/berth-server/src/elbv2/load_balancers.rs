//! CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer and the attribute actions.
//! Berth's load balancers are application load balancers; the network members (subnets,
//! security groups, scheme) are kept and shown but have no effect, since every listener binds
//! on the balancer's address. Of the attributes, the idle timeout (for every listener of the
//! load balancer) and deletion protection act.

use super::common::{check_name, one_of, page, tags, Error};
use super::resources::{arn_id, arn_prefix, AvailabilityZone};
use super::resources::{LoadBalancer, State};
use super::{attributes, stored};
use crate::call::{to_value, Call};
use berth_aws::query::Params;
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

pub fn create(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let name = p.required("Name")?;
    check_name("Name", name)?;
    if name.starts_with("internal-") {
        return Err(Error::validation(
            "Name: a load balancer name must not begin with 'internal-'",
        ));
    }
    let kind = one_of(p, "Type", &["application"], "application")?;
    let scheme = one_of(
        p,
        "Scheme",
        &["internet-facing", "internal"],
        "internet-facing",
    )?;
    let ip_address_type = one_of(
        p,
        "IpAddressType",
        &["ipv4", "dualstack", "dualstack-without-public-ipv4"],
        "ipv4",
    )?;
    let mut zones: Vec<AvailabilityZone> = p
        .strings("Subnets")?
        .unwrap_or_default()
        .into_iter()
        .map(|subnet_id| AvailabilityZone {
            zone_name: None,
            subnet_id,
        })
        .collect();
    for mapping in p.structures("SubnetMappings")?.unwrap_or_default() {
        zones.push(AvailabilityZone {
            zone_name: None,
            subnet_id: mapping.required("SubnetId")?.to_string(),
        });
    }
    let arns = call.arns();
    let fresh = LoadBalancer {
        load_balancer_arn: format!(
            "{}loadbalancer/app/{name}/{}",
            arn_prefix(&arns.region, &arns.account),
            arn_id(call.ids())
        ),
        dns_name: call.data_plane().dns_name(),
        created_time: berth_time::iso8601(call.now()),
        load_balancer_name: name.to_string(),
        scheme: scheme.to_string(),
        vpc_id: None,
        state: State {
            code: "active".to_string(),
        },
        kind: kind.to_string(),
        availability_zones: zones,
        security_groups: p.strings("SecurityGroups")?.unwrap_or_default(),
        ip_address_type: ip_address_type.to_string(),
        tags: tags(p)?,
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

pub fn describe(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let arns = p.strings("LoadBalancerArns")?;
    let names = p.strings("Names")?;
    let all: Vec<LoadBalancer> = call.list(Collection::LoadBalancers, None)?;
    let selected: Vec<&LoadBalancer> = match (arns, names) {
        (Some(_), Some(_)) => {
            return Err(Error::validation(
                "LoadBalancerArns and Names cannot be given together",
            ))
        }
        (Some(arns), None) => arns
            .iter()
            .map(|arn| all.iter().find(|lb| lb.load_balancer_arn == *arn))
            .collect::<Option<_>>()
            .ok_or_else(stored::load_balancer_not_found)?,
        (None, Some(names)) => names
            .iter()
            .map(|name| all.iter().find(|lb| lb.load_balancer_name == *name))
            .collect::<Option<_>>()
            .ok_or_else(stored::load_balancer_not_found)?,
        (None, None) => all.iter().collect(),
    };
    let (items, next) = page(selected, p)?;
    let described: Vec<Value> = items.into_iter().map(describe_one).collect();
    Ok(json!({"LoadBalancers": described, "NextMarker": next}))
}

/// Deletes the load balancer with its listeners and their rules. An unknown ARN succeeds,
/// as on AWS.
pub fn delete(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let arn = p.required("LoadBalancerArn")?;
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
        for listener in call.list::<super::resources::Listener>(Collection::Listeners, Some(arn))? {
            stored::remove_listener(call, &listener.listener_arn)?;
        }
        call.remove(Collection::LoadBalancers, &lb.load_balancer_name)?;
    }
    Ok(json!({}))
}

/// What Berth does with each load balancer attribute: the idle timeout and deletion protection
/// are honoured; the others name features Berth's balancer does not have, or has only one way,
/// so only that way (ALB's default) is accepted.
fn check_attribute(key: &str, value: &str) -> Result<(), Error> {
    let number = |range| attributes::number(key, value, range);
    let choice = |allowed: &[&str]| attributes::choice(key, value, allowed);
    match key {
        "idle_timeout.timeout_seconds" => number(1..=4000),
        "deletion_protection.enabled" => choice(&["true", "false"]),
        // HTTPS listeners always offer HTTP/2 by ALPN; forwarded-for is always appended, with
        // no client port; the Host header always reaches the target as the client sent it.
        "routing.http2.enabled" => choice(&["true"]),
        "routing.http.xff_header_processing.mode" => choice(&["append"]),
        "routing.http.xff_client_port.enabled" => choice(&["false"]),
        "routing.http.preserve_host_header.enabled" => choice(&["true", "false"]),
        "routing.http.desync_mitigation_mode" => choice(&["defensive"]),
        "routing.http.drop_invalid_header_fields.enabled"
        | "routing.http.x_amzn_tls_version_and_cipher_suite.enabled"
        | "access_logs.s3.enabled"
        | "connection_logs.s3.enabled"
        | "waf.fail_open.enabled"
        | "zonal_shift.config.enabled" => choice(&["false"]),
        "access_logs.s3.bucket"
        | "access_logs.s3.prefix"
        | "connection_logs.s3.bucket"
        | "connection_logs.s3.prefix" => choice(&[""]),
        "client_keep_alive.seconds" => choice(&["3600"]),
        "load_balancing.cross_zone.enabled" => choice(&["true"]),
        _ => Err(attributes::unknown(key)),
    }
}

/// The stored load balancer an ARN names, or LoadBalancerNotFound.
fn require(call: &Call<'_>, arn: &str) -> Result<LoadBalancer, Error> {
    stored::load_balancer(call, arn)?.ok_or_else(stored::load_balancer_not_found)
}

pub fn modify_attributes(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    let arn = p.required("LoadBalancerArn")?;
    let changes = attributes::changes(p, check_attribute)?;
    let lb = require(call, arn)?;
    let modified = call
        .modify(
            Collection::LoadBalancers,
            &lb.load_balancer_name,
            |stored: &mut LoadBalancer| {
                if stored.load_balancer_arn != arn {
                    return Err(stored::load_balancer_not_found());
                }
                stored.attributes.extend(changes.iter().cloned());
                Ok(stored.clone())
            },
        )?
        .ok_or_else(stored::load_balancer_not_found)?;
    Ok(attributes::answer(&modified.attributes()))
}

pub fn describe_attributes(call: &Call<'_>, p: &Params) -> Result<Value, Error> {
    Ok(attributes::answer(
        &require(call, p.required("LoadBalancerArn")?)?.attributes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_follow_alb_and_what_the_balancer_does() {
        for (key, value) in [
            ("idle_timeout.timeout_seconds", "1"),
            ("idle_timeout.timeout_seconds", "4000"),
            ("deletion_protection.enabled", "true"),
            ("routing.http2.enabled", "true"),
            ("access_logs.s3.enabled", "false"),
        ] {
            assert!(check_attribute(key, value).is_ok(), "{key}={value}");
        }
        for (key, value) in [
            ("idle_timeout.timeout_seconds", "0"),
            ("idle_timeout.timeout_seconds", "4001"),
            ("deletion_protection.enabled", "yes"),
            ("routing.http2.enabled", "false"),
            ("access_logs.s3.enabled", "true"),
            ("client_keep_alive.seconds", "60"),
            ("no.such.attribute", "1"),
        ] {
            let error = check_attribute(key, value).unwrap_err();
            assert_eq!(error.code, "InvalidConfigurationRequest", "{key}={value}");
            assert!(error.message.contains(key), "{}", error.message);
        }
        for (key, value) in crate::elbv2::resources::LOAD_BALANCER_ATTRIBUTES {
            assert!(
                check_attribute(key, value).is_ok(),
                "ALB's default {key}={value}"
            );
        }
    }
}
