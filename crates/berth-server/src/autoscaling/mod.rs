//! Application Auto Scaling (JSON 1.1, `AnyScaleFrontendService.<Action>`, signing name
//! `application-autoscaling`) for ECS services' desired counts: scalable targets, target
//! tracking and step scaling policies, scheduled actions and the scaling activities that
//! say why a count moved.
//!
//! `requests` reads and checks each action's input; `stored` is what the store keeps and
//! how it is keyed; `targets`, `policies`, `scheduled` and `activities` hold the handlers;
//! `scaling` carries decisions out (desired count, activity, service event) and
//! [`scaling::evaluate`] is one evaluation of a target's policies over metric values, with
//! the decisions themselves in `berth_scaling`. `scheduled::fire` is what the controller
//! runs for each due scheduled action (`control::schedules`).

mod activities;
mod error;
mod policies;
pub mod requests;
pub mod scaling;
pub mod scheduled;
pub mod stored;
mod targets;

#[cfg(test)]
mod tests;

use crate::json_api::{action, declined};
use crate::registry::{Access, Service};
use berth_aws::ServiceSpec;
pub use error::{AutoScaling, Error};

pub const SPEC: ServiceSpec = ServiceSpec {
    name: "Application Auto Scaling",
    signing_name: "application-autoscaling",
    json_target_prefix: Some("AnyScaleFrontendService"),
    query: None,
    query_compatible: false,
    rpc_v2_cbor: false,
};

type A = AutoScaling;

pub fn service() -> Service {
    use requests as r;
    use Access::{Read, Write};
    Service {
        spec: SPEC,
        actions: vec![
            action::<A, r::RegisterScalableTarget>("RegisterScalableTarget", Write, targets::register),
            action::<A, r::DeregisterScalableTarget>("DeregisterScalableTarget", Write, targets::deregister),
            action::<A, r::DescribeScalableTargets>("DescribeScalableTargets", Read, targets::describe),
            action::<A, r::PutScalingPolicy>("PutScalingPolicy", Write, policies::put),
            action::<A, r::DescribeScalingPolicies>("DescribeScalingPolicies", Read, policies::describe),
            action::<A, r::DeleteScalingPolicy>("DeleteScalingPolicy", Write, policies::delete),
            action::<A, r::DescribeScalingActivities>("DescribeScalingActivities", Read, activities::describe),
            action::<A, r::PutScheduledAction>("PutScheduledAction", Write, scheduled::put),
            action::<A, r::DescribeScheduledActions>("DescribeScheduledActions", Read, scheduled::describe),
            action::<A, r::DeleteScheduledAction>("DeleteScheduledAction", Write, scheduled::delete),
            declined("GetPredictiveScalingForecast", Error::validation(
                "Berth does not forecast: it scales on its own metrics within seconds (TargetTrackingScaling)",
            )),
        ],
    }
}
