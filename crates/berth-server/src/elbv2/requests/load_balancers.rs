//! The load balancer actions' requests, and which load balancer attributes Berth takes.

use super::FromParams;
use crate::elbv2::attributes;
use crate::elbv2::common::{check_name, one_of, tags, Error, Page};
use crate::elbv2::resources::Tag;
use berth_aws::query::Params;

#[derive(Debug, Clone, PartialEq)]
pub struct CreateLoadBalancer {
    pub name: String,
    pub kind: &'static str,
    pub scheme: &'static str,
    pub ip_address_type: &'static str,
    /// `Subnets`, then the subnets of `SubnetMappings`, in the order given.
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub tags: Vec<Tag>,
}

impl FromParams for CreateLoadBalancer {
    fn from_params(p: &Params) -> Result<Self, Error> {
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
        let mut subnets = p.strings("Subnets")?.unwrap_or_default();
        for mapping in p.structures("SubnetMappings")?.unwrap_or_default() {
            subnets.push(mapping.required("SubnetId")?.to_string());
        }
        Ok(Self {
            name: name.to_string(),
            kind,
            scheme,
            ip_address_type,
            subnets,
            security_groups: p.strings("SecurityGroups")?.unwrap_or_default(),
            tags: tags(p)?,
        })
    }
}

/// Which load balancers DescribeLoadBalancers answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadBalancerSelection {
    All,
    Arns(Vec<String>),
    Names(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeLoadBalancers {
    pub selection: LoadBalancerSelection,
    pub page: Page,
}

impl FromParams for DescribeLoadBalancers {
    fn from_params(p: &Params) -> Result<Self, Error> {
        let selection = match (p.strings("LoadBalancerArns")?, p.strings("Names")?) {
            (Some(_), Some(_)) => {
                return Err(Error::validation(
                    "LoadBalancerArns and Names cannot be given together",
                ))
            }
            (Some(arns), None) => LoadBalancerSelection::Arns(arns),
            (None, Some(names)) => LoadBalancerSelection::Names(names),
            (None, None) => LoadBalancerSelection::All,
        };
        Ok(Self {
            selection,
            page: Page::from_params(p)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteLoadBalancer {
    pub load_balancer_arn: String,
}

impl FromParams for DeleteLoadBalancer {
    fn from_params(p: &Params) -> Result<Self, Error> {
        Ok(Self {
            load_balancer_arn: p.required("LoadBalancerArn")?.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyLoadBalancerAttributes {
    pub load_balancer_arn: String,
    /// Each key with its new value, in the order given.
    pub attributes: Vec<(String, String)>,
}

impl FromParams for ModifyLoadBalancerAttributes {
    fn from_params(p: &Params) -> Result<Self, Error> {
        Ok(Self {
            load_balancer_arn: p.required("LoadBalancerArn")?.to_string(),
            attributes: attributes::changes(p, check_attribute)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeLoadBalancerAttributes {
    pub load_balancer_arn: String,
}

impl FromParams for DescribeLoadBalancerAttributes {
    fn from_params(p: &Params) -> Result<Self, Error> {
        Ok(Self {
            load_balancer_arn: p.required("LoadBalancerArn")?.to_string(),
        })
    }
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

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn create_reads_every_member_with_albs_defaults() {
        let request: CreateLoadBalancer = parse(
            "Name=web&Subnets.member.1=subnet-1&SubnetMappings.member.1.SubnetId=subnet-2\
             &SecurityGroups.member.1=sg-1&Tags.member.1.Key=team&Tags.member.1.Value=a",
        )
        .unwrap();
        assert_eq!(
            request,
            CreateLoadBalancer {
                name: "web".into(),
                kind: "application",
                scheme: "internet-facing",
                ip_address_type: "ipv4",
                subnets: vec!["subnet-1".into(), "subnet-2".into()],
                security_groups: vec!["sg-1".into()],
                tags: vec![Tag {
                    key: "team".into(),
                    value: Some("a".into())
                }],
            }
        );
        let internal: CreateLoadBalancer =
            parse("Name=api&Scheme=internal&IpAddressType=dualstack").unwrap();
        assert_eq!(
            (internal.scheme, internal.ip_address_type),
            ("internal", "dualstack")
        );
    }

    #[test]
    fn create_refuses_what_alb_refuses_naming_the_member() {
        for (body, code, member) in [
            ("", "ValidationError", "Name"),
            ("Name=-web", "ValidationError", "Name"),
            ("Name=internal-web", "ValidationError", "Name"),
            ("Name=web&Type=network", "ValidationError", "Type"),
            ("Name=web&Scheme=public", "ValidationError", "Scheme"),
            (
                "Name=web&IpAddressType=ipv6",
                "ValidationError",
                "IpAddressType",
            ),
            ("Name=web&Subnets=subnet-1", "ValidationError", "Subnets"),
            (
                "Name=web&SubnetMappings.member.1.AllocationId=x",
                "ValidationError",
                "SubnetMappings.member.1.SubnetId",
            ),
            (
                "Name=web&Tags.member.1.Key=a&Tags.member.2.Key=a",
                "DuplicateTagKeys",
                "'a'",
            ),
        ] {
            let error = parse::<CreateLoadBalancer>(body).unwrap_err();
            assert_eq!(error.code, code, "{body}: {}", error.message);
            assert!(error.message.contains(member), "{body}: {}", error.message);
        }
    }

    #[test]
    fn describe_selects_by_arns_or_names_and_pages() {
        let all: DescribeLoadBalancers = parse("").unwrap();
        assert_eq!(all.selection, LoadBalancerSelection::All);
        let named: DescribeLoadBalancers = parse("Names.member.1=web&PageSize=1").unwrap();
        assert_eq!(
            named.selection,
            LoadBalancerSelection::Names(vec!["web".into()])
        );
        assert_eq!(named.page.of(vec![1, 2], |i| *i).unwrap().0, [1]);
        let by_arn: DescribeLoadBalancers = parse("LoadBalancerArns.member.1=arn").unwrap();
        assert_eq!(
            by_arn.selection,
            LoadBalancerSelection::Arns(vec!["arn".into()])
        );
        for (body, member) in [
            (
                "LoadBalancerArns.member.1=arn&Names.member.1=web",
                "cannot be given together",
            ),
            ("PageSize=401", "PageSize"),
            ("Marker=zz", "Marker"),
        ] {
            let error = parse::<DescribeLoadBalancers>(body).unwrap_err();
            assert_eq!(error.code, "ValidationError");
            assert!(error.message.contains(member), "{body}: {}", error.message);
        }
    }

    #[test]
    fn arn_requests_need_the_arn() {
        assert_eq!(
            parse::<DeleteLoadBalancer>("LoadBalancerArn=arn").unwrap(),
            DeleteLoadBalancer {
                load_balancer_arn: "arn".into()
            }
        );
        assert_eq!(
            parse::<DescribeLoadBalancerAttributes>("LoadBalancerArn=arn")
                .unwrap()
                .load_balancer_arn,
            "arn"
        );
        for error in [
            parse::<DeleteLoadBalancer>("").unwrap_err(),
            parse::<DescribeLoadBalancerAttributes>("").unwrap_err(),
            parse::<ModifyLoadBalancerAttributes>("").unwrap_err(),
        ] {
            assert_eq!(
                error.message,
                "LoadBalancerArn: a required member is missing"
            );
        }
    }

    #[test]
    fn modify_attributes_reads_each_change() {
        let request: ModifyLoadBalancerAttributes = parse(
            "LoadBalancerArn=arn&Attributes.member.1.Key=idle_timeout.timeout_seconds\
             &Attributes.member.1.Value=5&Attributes.member.2.Key=deletion_protection.enabled\
             &Attributes.member.2.Value=true",
        )
        .unwrap();
        assert_eq!(
            request.attributes,
            [
                ("idle_timeout.timeout_seconds".into(), "5".into()),
                ("deletion_protection.enabled".into(), "true".into())
            ]
        );
        let missing = parse::<ModifyLoadBalancerAttributes>("LoadBalancerArn=arn").unwrap_err();
        assert_eq!(missing.message, "Attributes: a required member is missing");
        let refused = parse::<ModifyLoadBalancerAttributes>(
            "LoadBalancerArn=arn&Attributes.member.1.Key=access_logs.s3.enabled\
             &Attributes.member.1.Value=true",
        )
        .unwrap_err();
        assert_eq!(refused.code, "InvalidConfigurationRequest");
    }

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
