//! The Elastic Load Balancing v2 API subset ECS users' tooling calls, on the same endpoint
//! and access keys as the ECS API: load balancers, target groups (with their targets and
//! attributes), listeners and rules, answered in the AWS query protocol.
//!
//! An action runs in two steps, as ECS's do. The front reads the form body into members
//! (`berth_aws::query`), and `requests` reads those into the action's typed request with
//! every check that needs no stored state, so a malformed request is refused, naming its
//! member, before it queues for the writer or touches the store. Only then does the handler,
//! one module per resource (`load_balancers`, `target_groups`, `listeners`), answer what only
//! the store and the data plane know, through its [`Call`]; the result is written as XML
//! (`berth_aws::xml`). Keeping the two apart keeps ALB's input rules testable without a
//! store, and the handlers short enough to see which store reads decide an answer.
//!
//! Resource modules never import each other: lookups across resources go through `stored`,
//! and what every action shares (errors, paging, tags, names) lives in `common`. What the
//! balancer serves follows the stored configuration (`crate::control::balancer`); the data
//! plane is reached only through [`DataPlane`](crate::data_plane::DataPlane): target health,
//! and the port CreateListener binds.

mod attributes;
pub mod certificates;
mod common;
mod listeners;
mod load_balancers;
mod requests;
pub mod resources;
mod stored;
mod target_groups;

#[cfg(test)]
mod tests;

pub use common::Error;

use crate::call::Call;
use crate::registry::{Access, Action, Input, Service, WireError};
use berth_aws::{AwsError, QueryApi, ServiceSpec};
use requests::FromParams;
use serde_json::Value;

/// How the ELBv2 API is reached.
pub const SPEC: ServiceSpec = ServiceSpec {
    name: "ELBv2",
    signing_name: "elasticloadbalancing",
    json_target_prefix: None,
    query: Some(QueryApi {
        version: "2015-12-01",
        namespace: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
    }),
    query_compatible: false,
    rpc_v2_cbor: false,
};

/// Reads an ELBv2 action's members into its typed request, refusing what needs no store to
/// refuse.
fn decode<T: FromParams>(input: Input<'_>) -> Result<T, AwsError> {
    match input {
        Input::Query(params) => T::from_params(params).map_err(WireError::into_wire),
        Input::Json(_) | Input::Cbor(_) => Err(AwsError::new(
            "ValidationError",
            "ELBv2 takes the query protocol: a form body with Action and Version",
        )),
    }
}

fn action<T: FromParams + Send + 'static>(
    name: &'static str,
    access: Access,
    handle: fn(&Call<'_>, &T) -> Result<Value, Error>,
) -> Action {
    Action::new(name, access, decode::<T>, handle)
}

/// The ELBv2 API and every action Berth answers of it.
pub fn service() -> Service {
    use Access::{Read, Write};
    Service {
        spec: SPEC,
        actions: vec![
            action("CreateLoadBalancer", Write, load_balancers::create),
            action("DescribeLoadBalancers", Read, load_balancers::describe),
            action("DeleteLoadBalancer", Write, load_balancers::delete),
            action(
                "ModifyLoadBalancerAttributes",
                Write,
                load_balancers::modify_attributes,
            ),
            action(
                "DescribeLoadBalancerAttributes",
                Read,
                load_balancers::describe_attributes,
            ),
            action("CreateTargetGroup", Write, target_groups::create),
            action("DescribeTargetGroups", Read, target_groups::describe),
            action("ModifyTargetGroup", Write, target_groups::modify),
            action(
                "ModifyTargetGroupAttributes",
                Write,
                target_groups::modify_attributes,
            ),
            action(
                "DescribeTargetGroupAttributes",
                Read,
                target_groups::describe_attributes,
            ),
            action("DeleteTargetGroup", Write, target_groups::delete),
            action("RegisterTargets", Write, target_groups::register_targets),
            action(
                "DeregisterTargets",
                Write,
                target_groups::deregister_targets,
            ),
            action("DescribeTargetHealth", Read, target_groups::describe_health),
            action("CreateListener", Write, listeners::create),
            action("DescribeListeners", Read, listeners::describe),
            action("DeleteListener", Write, listeners::delete),
            action("CreateRule", Write, listeners::create_rule),
            action("DescribeRules", Read, listeners::describe_rules),
            action("DeleteRule", Write, listeners::delete_rule),
        ],
    }
}
