//! A service's loadBalancers entries: which container and port take traffic, behind a
//! target group or a Classic Load Balancer. Separate because CreateService and
//! UpdateService both take them, and Berth's own balancer routes to tasks by them.

use super::check::{between, error, required, Check, INVALID};
use crate::resources::LoadBalancer;

pub(super) fn load_balancers(list: &[LoadBalancer]) -> Check {
    for (i, balancer) in list.iter().enumerate() {
        let at = format!("loadBalancers[{i}]");
        required(
            INVALID,
            format!("{at}.containerName"),
            balancer.container_name.as_deref(),
        )?;
        let port = balancer
            .container_port
            .ok_or_else(|| error(INVALID, format!("{at}.containerPort"), "required"))?;
        between(INVALID, format!("{at}.containerPort"), port, 1, 65535, "")?;
        let target_group = balancer
            .target_group_arn
            .as_deref()
            .is_some_and(|s| !s.is_empty());
        let classic = balancer
            .load_balancer_name
            .as_deref()
            .is_some_and(|s| !s.is_empty());
        match (target_group, classic) {
            (true, true) => {
                return Err(error(
                    INVALID,
                    &at,
                    "give targetGroupArn or loadBalancerName, not both",
                ))
            }
            (false, false) => {
                return Err(error(
                    INVALID,
                    format!("{at}.targetGroupArn"),
                    "required (or loadBalancerName for a Classic Load Balancer)",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}
