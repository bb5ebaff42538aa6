//! EventBridge (JSON 1.1, `AWSEvents.<Action>`, signing name `events`): the subset ECS
//! tooling uses for scheduled tasks — rules on the default event bus with a
//! `ScheduleExpression` (`rate(…)` or `cron(…)`, in UTC) whose targets are ECS clusters with
//! `EcsParameters`. Each firing runs each target's task with RunTask's semantics and
//! `startedBy` naming the rule. Rules with an `EventPattern` are kept and described but
//! never fire: Berth has no events to match them against.
//!
//! `requests` reads and checks each action's input; `stored` is what the store keeps; `run`
//! turns a target into the RunTask a firing sends; `rules` and `targets` hold the handlers,
//! and `rules::fire` is what the controller runs for each due rule (`control::schedules`).

mod error;
pub mod requests;
pub mod rules;
pub mod run;
pub mod stored;
mod targets;

#[cfg(test)]
mod tests;

use crate::json_api::action;
use crate::registry::{Access, Service};
use berth_aws::ServiceSpec;
pub use error::{Error, EventBridge};

pub const SPEC: ServiceSpec = ServiceSpec {
    name: "EventBridge",
    signing_name: "events",
    json_target_prefix: Some("AWSEvents"),
    query: None,
    query_compatible: false,
    rpc_v2_cbor: false,
};

type E = EventBridge;

pub fn service() -> Service {
    use requests as r;
    use Access::{Read, Write};
    Service {
        spec: SPEC,
        actions: vec![
            action::<E, r::PutRule>("PutRule", Write, rules::put),
            action::<E, r::RuleName>("DescribeRule", Read, rules::describe),
            action::<E, r::ListRules>("ListRules", Read, rules::list),
            action::<E, r::RuleName>("EnableRule", Write, rules::enable),
            action::<E, r::RuleName>("DisableRule", Write, rules::disable),
            action::<E, r::DeleteRule>("DeleteRule", Write, rules::delete),
            action::<E, r::PutTargets>("PutTargets", Write, targets::put),
            action::<E, r::ListTargetsByRule>("ListTargetsByRule", Read, targets::list),
            action::<E, r::RemoveTargets>("RemoveTargets", Write, targets::remove),
            action::<E, r::TagResource>("TagResource", Write, rules::tag),
            action::<E, r::UntagResource>("UntagResource", Write, rules::untag),
            action::<E, r::ListTagsForResource>("ListTagsForResource", Read, rules::list_tags),
        ],
    }
}
