//! The AWS APIs Berth answers: one line each. Adding an API is a module with a `service()`
//! (see [`crate::registry`]) and its line here.

use crate::registry::Registry;
use crate::{
    autoscaling, berth_api, cloudwatch, ecs, elbv2, eventbridge, logs, secretsmanager, ssm,
};

pub fn all() -> Registry {
    Registry::of(vec![
        ecs::service(),
        elbv2::service(),
        secretsmanager::service(),
        ssm::service(),
        logs::service(),
        cloudwatch::service(),
        autoscaling::service(),
        eventbridge::service(),
        berth_api::service(),
    ])
}
