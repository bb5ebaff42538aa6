//! The Elastic Load Balancing v2 API subset ECS users' tooling calls, on the same endpoint
//! and access keys as the ECS API: load balancers, target groups (with their targets and
//! attributes), listeners and rules, answered in the AWS query protocol.
//!
//! A request goes `query::parse` (form body → action and members) → a handler here (decode
//! members → validate → read and write the store through [`Call`], as the ECS handlers do) →
//! `xml::response`. Handlers are synchronous and given the time; writes run on the same
//! batched writer as ECS writes. What the balancer serves follows the stored configuration
//! (`crate::balancer`); the only live state a handler reads is target health.

mod attributes;
pub mod certificates;
mod listeners;
mod load_balancers;
pub mod query;
pub mod resources;
mod target_groups;
pub mod xml;

use crate::api::{Api, Call, Caller};
use crate::balancer::Balancer;
use berth_model::{ApiError, ErrorKind};
use query::{Params, Request};
use serde_json::Value;

/// The service name in ELBv2 request signatures.
pub const SIGNING_NAME: &str = "elasticloadbalancing";

/// An ELBv2 error: the code botocore maps to an exception (the model's error shapes), a
/// message, and the HTTP status (400 for the caller's mistakes, 500 only for store faults,
/// which botocore retries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: &'static str,
    pub message: String,
    pub status: u16,
}

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: 400,
        }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", message)
    }
    pub fn invalid_configuration(message: impl Into<String>) -> Self {
        Self::new("InvalidConfigurationRequest", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: "InternalFailure",
            message: message.into(),
            status: 500,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<ApiError> for Error {
    /// Errors from the shared layers (body reading, signatures, the store), in the query
    /// protocol's codes.
    fn from(error: ApiError) -> Self {
        let (code, status) = match error.kind {
            ErrorKind::ServerException => return Self::internal(error.message),
            ErrorKind::MissingAuthenticationTokenException => ("MissingAuthenticationToken", 403),
            ErrorKind::IncompleteSignatureException => ("IncompleteSignature", 400),
            ErrorKind::UnrecognizedClientException => ("InvalidClientTokenId", 403),
            ErrorKind::InvalidSignatureException => ("SignatureDoesNotMatch", 403),
            ErrorKind::AccessDeniedException => ("AccessDenied", 403),
            _ => ("ValidationError", 400),
        };
        Self {
            code,
            message: error.message,
            status,
        }
    }
}

/// Everything an ELBv2 handler may use: the store (through the ECS API's [`Call`]) and the
/// balancer, for live target health and listener ports.
pub struct Context<'a> {
    pub call: &'a Call<'a>,
    pub balancer: &'a Balancer,
}

type Handler = fn(&Context<'_>, &Params) -> Result<Value, Error>;

/// Every ELBv2 action Berth answers. Unknown actions answer `InvalidAction`.
const ACTIONS: &[(&str, Handler)] = &[
    ("CreateLoadBalancer", load_balancers::create),
    ("DescribeLoadBalancers", load_balancers::describe),
    ("DeleteLoadBalancer", load_balancers::delete),
    (
        "ModifyLoadBalancerAttributes",
        load_balancers::modify_attributes,
    ),
    (
        "DescribeLoadBalancerAttributes",
        load_balancers::describe_attributes,
    ),
    ("CreateTargetGroup", target_groups::create),
    ("DescribeTargetGroups", target_groups::describe),
    ("ModifyTargetGroup", target_groups::modify),
    (
        "ModifyTargetGroupAttributes",
        target_groups::modify_attributes,
    ),
    (
        "DescribeTargetGroupAttributes",
        target_groups::describe_attributes,
    ),
    ("DeleteTargetGroup", target_groups::delete),
    ("RegisterTargets", target_groups::register_targets),
    ("DeregisterTargets", target_groups::deregister_targets),
    ("DescribeTargetHealth", target_groups::describe_health),
    ("CreateListener", listeners::create),
    ("DescribeListeners", listeners::describe),
    ("DeleteListener", listeners::delete),
    ("CreateRule", listeners::create_rule),
    ("DescribeRules", listeners::describe_rules),
    ("DeleteRule", listeners::delete_rule),
];

/// Whether an action only reads (and may run without the writer).
pub fn reads_only(action: &str) -> bool {
    action.starts_with("Describe")
}

/// Answers one decoded request with its result, ready for `xml::response`.
pub fn handle(
    api: &Api,
    balancer: &Balancer,
    request: &Request,
    caller: &Caller,
    now: f64,
) -> Result<Value, Error> {
    let Some((_, handler)) = ACTIONS.iter().find(|(name, _)| *name == request.action) else {
        let known: Vec<&str> = ACTIONS.iter().map(|(name, _)| *name).collect();
        return Err(Error::new(
            "InvalidAction",
            format!(
                "unknown ELBv2 action {}; Berth answers {}",
                request.action,
                known.join(", ")
            ),
        ));
    };
    api.with_call(caller, now, |call| {
        handler(&Context { call, balancer }, &request.params)
    })
}

/// A page of `items` from `Marker`, at most `PageSize` (1–400, default 400) long, and the
/// marker of the next page. Markers are offsets, opaque to clients and checked on the way in.
fn page<T>(items: Vec<T>, params: &Params) -> Result<(Vec<T>, Option<String>), Error> {
    let size = params.int("PageSize", 1..=400)?.unwrap_or(400) as usize;
    let start = match params.string("Marker")? {
        None | Some("") => 0,
        Some(marker) => crate::api::pagination::decode_token(marker)
            .ok_or_else(|| Error::validation("Marker: the marker is invalid"))?,
    };
    Ok(crate::api::pagination::offset_page(items, start, size))
}

/// `Tags.member.N.Key/Value`: at most 50, keys unique and 1–128 characters.
fn tags(params: &Params) -> Result<Vec<resources::Tag>, Error> {
    let mut tags: Vec<resources::Tag> = Vec::new();
    for tag in params.structures("Tags")?.unwrap_or_default() {
        let key = tag.required("Key")?;
        if key.is_empty() || key.chars().count() > 128 {
            return Err(Error::validation("Tags: a tag key is 1 to 128 characters"));
        }
        if tags.iter().any(|t| t.key == key) {
            return Err(Error::new(
                "DuplicateTagKeys",
                format!("Tag key '{key}' was specified more than once"),
            ));
        }
        tags.push(resources::Tag {
            key: key.to_string(),
            value: tag.string("Value")?.map(str::to_string),
        });
    }
    if tags.len() > 50 {
        return Err(Error::new(
            "TooManyTags",
            "Tags: at most 50 tags per resource",
        ));
    }
    Ok(tags)
}

/// ALB's rule for load balancer and target group names: 1–32 letters, digits and hyphens,
/// not starting or ending with a hyphen.
fn check_name(member: &str, name: &str) -> Result<(), Error> {
    let valid = (1..=32).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "{member}: '{name}' must be 1 to 32 letters, digits and hyphens, and must not begin or end with a hyphen"
        )))
    }
}

/// A string member that must be one of `allowed`, or `default` when absent.
fn one_of<'a>(
    params: &'a Params,
    member: &str,
    allowed: &[&str],
    default: &'a str,
) -> Result<&'a str, Error> {
    let value = params.string(member)?.unwrap_or(default);
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(Error::validation(format!(
            "{member}: '{value}' is not supported; Berth accepts {}",
            allowed.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(body: &str) -> Params {
        query::parse(format!("Action=X&{body}").as_bytes())
            .unwrap()
            .params
    }

    #[test]
    fn pages_walk_every_item_once() {
        let items: Vec<u32> = (0..7).collect();
        let mut seen = Vec::new();
        let mut marker = String::new();
        loop {
            let (page, next) = page(
                items.clone(),
                &params(&format!("PageSize=3&Marker={marker}")),
            )
            .unwrap();
            assert!(page.len() <= 3);
            seen.extend(page);
            match next {
                Some(m) => marker = m,
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn pages_refuse_bad_sizes_and_markers() {
        for body in ["PageSize=0", "PageSize=401", "PageSize=x", "Marker=nope"] {
            assert_eq!(
                page(vec![1], &params(body)).unwrap_err().code,
                "ValidationError"
            );
        }
    }

    #[test]
    fn shared_errors_keep_their_meaning() {
        let store = Error::from(ApiError::server("disk"));
        assert_eq!((store.code, store.status), ("InternalFailure", 500));
        let signature = Error::from(ApiError::new(ErrorKind::InvalidSignatureException, "x"));
        assert_eq!(signature.code, "SignatureDoesNotMatch");
        let body = Error::from(ApiError::new(ErrorKind::SerializationException, "x"));
        assert_eq!((body.code, body.status), ("ValidationError", 400));
    }
}
