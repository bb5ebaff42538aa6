//! Carrying out scaling decisions: a service's `desiredCount` moved, with a scaling activity
//! and a service event that say why, in AWS's words; and [`evaluate`], one evaluation of a
//! target's policies over metric values its caller read — the whole of what a metrics loop
//! needs to call.

use super::error::Error;
use super::requests::PolicyType;
use super::stored::{member_key, StoredActivity, StoredPolicy, StoredTarget};
use crate::call::Call;
use crate::ecs::{events, names};
use berth_model::resources::Service;
use berth_model::status::ServiceStatus;
use berth_scaling::decide::{self, Ballot, Cause, Decision};
use berth_scaling::target::Evaluation;
use berth_scaling::{step, target, Vote};
use berth_store::Collection;

/// How many activities each target keeps, newest first.
pub const KEPT_ACTIVITIES: usize = 100;

/// The desired count of a target's service, if the service is there.
pub fn current_capacity(call: &Call<'_>, target: &StoredTarget) -> Result<Option<i64>, Error> {
    let Some(id) = target.service() else {
        return Ok(None);
    };
    Ok(call
        .get::<Service>(Collection::Services, &names::key(&id.cluster, &id.service))?
        .filter(|s| s.status == ServiceStatus::Active)
        .map(|s| s.desired_count))
}

/// Sets the target's service to `capacity` because of `cause` (AWS's words, such as
/// `scheduled action name nightly was triggered`), and records it as a successful scaling
/// activity and a service event. Returns whether the count moved.
pub fn set_capacity(
    call: &Call<'_>,
    target: &StoredTarget,
    capacity: i64,
    cause: &str,
) -> Result<bool, Error> {
    let Some(id) = target.service() else {
        return Ok(false);
    };
    let event = format!("desired count set to {capacity} by Application Auto Scaling: {cause}.");
    let moved = call.modify(
        Collection::Services,
        &names::key(&id.cluster, &id.service),
        |service: &mut Service| {
            if service.status != ServiceStatus::Active || service.desired_count == capacity {
                return Ok::<_, Error>(false);
            }
            service.desired_count = capacity;
            events::push(
                service,
                std::slice::from_ref(&event),
                call.ids(),
                call.now(),
            );
            Ok(true)
        },
    )?;
    if moved != Some(true) {
        return Ok(false);
    }
    record_activity(
        call,
        target,
        StoredActivity {
            activity_id: call.ids().uuid(),
            service_namespace: target.service_namespace.clone(),
            resource_id: target.resource_id.clone(),
            scalable_dimension: target.scalable_dimension.clone(),
            description: format!("Setting desired count to {capacity}."),
            cause: cause.to_string(),
            start_time: call.now(),
            end_time: call.now(),
            status_code: "Successful".into(),
            status_message: format!(
                "Successfully set desired count to {capacity}. Change successfully fulfilled by ecs."
            ),
        },
    )?;
    Ok(true)
}

/// Keeps an activity, and forgets the target's oldest beyond [`KEPT_ACTIVITIES`].
fn record_activity(
    call: &Call<'_>,
    target: &StoredTarget,
    activity: StoredActivity,
) -> Result<(), Error> {
    let scope = target.key();
    call.insert(
        Collection::ScalingActivities,
        &activity_key(&scope, &activity),
        &scope,
        &activity,
    )?;
    let kept: Vec<StoredActivity> = call.list(Collection::ScalingActivities, Some(&scope))?;
    for old in kept.iter().take(kept.len().saturating_sub(KEPT_ACTIVITIES)) {
        call.remove(Collection::ScalingActivities, &activity_key(&scope, old))?;
    }
    Ok(())
}

/// An activity's key: its target's, then its start to the millisecond, so that a target's
/// activities list oldest first.
pub fn activity_key(scope: &str, activity: &StoredActivity) -> String {
    format!(
        "{scope}|{:015}|{}",
        (activity.start_time * 1000.0) as i64,
        activity.activity_id
    )
}

/// What the metrics say for one policy at one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// Nothing to go on: no datapoints, or a step policy whose alarm is not in ALARM.
    Nothing,
    /// A target tracking policy's datapoints, one per period, oldest first.
    Datapoints(Vec<f64>),
    /// A step policy's alarm is in ALARM: its name and the aggregated metric minus its
    /// threshold.
    Alarm { alarm: String, breach: f64 },
}

/// One evaluation of a target: each policy votes on its `reading`, the votes are combined
/// (`berth_scaling::decide`), and a decision is carried out, the winning policy's cooldown
/// noted. A desired count found outside the target's range is brought back into it even
/// when no policy has anything to go on. Returns whether the count moved.
pub fn evaluate(
    call: &Call<'_>,
    target_key: &str,
    evaluation: &Evaluation,
    reading: &dyn Fn(&StoredPolicy) -> Reading,
) -> Result<bool, Error> {
    let Some(target) = call.get::<StoredTarget>(Collection::ScalableTargets, target_key)? else {
        return Ok(false);
    };
    let Some(current) = current_capacity(call, &target)? else {
        return Ok(false);
    };
    let now = call.now();
    let policies: Vec<StoredPolicy> = call.list(Collection::ScalingPolicies, Some(target_key))?;
    let mut alarms = Vec::with_capacity(policies.len());
    let ballots: Vec<Ballot<'_>> = policies
        .iter()
        .map(|policy| {
            let (vote, alarm) = match (&policy.target_tracking, &policy.step, reading(policy)) {
                (Some(config), _, Reading::Datapoints(points)) => {
                    let vote = target::vote(
                        &config.decisions(),
                        evaluation,
                        &points,
                        current,
                        &policy.history,
                        now,
                    );
                    (vote, policy.tracking_alarm(matches!(vote, Vote::Out(_))))
                }
                (_, Some(config), Reading::Alarm { alarm, breach }) => (
                    step::vote(&config.decisions(), breach, current, &policy.history, now),
                    alarm,
                ),
                _ => (Vote::Hold, String::new()),
            };
            alarms.push(alarm);
            Ballot {
                policy: &policy.name,
                tracks_for_scale_in: policy.policy_type == PolicyType::TargetTrackingScaling
                    && policy
                        .target_tracking
                        .as_ref()
                        .is_none_or(|c| c.disable_scale_in != Some(true)),
                vote,
            }
        })
        .collect();
    let Decision::Set { capacity, cause } =
        decide::decide(target.range(), target.suspended(), current, &ballots)
    else {
        return Ok(false);
    };
    let because = match cause {
        Cause::Policy(name) => {
            let index = policies
                .iter()
                .position(|p| p.name == name)
                .unwrap_or_default();
            format!(
                "monitor alarm {} in state ALARM triggered policy {name}",
                alarms[index]
            )
        }
        Cause::BelowMin(min) => {
            format!("the desired count {current} was below the minimum capacity {min}")
        }
        Cause::AboveMax(max) => {
            format!("the desired count {current} was above the maximum capacity {max}")
        }
    };
    let moved = set_capacity(call, &target, capacity, &because)?;
    if let (true, Cause::Policy(name)) = (moved, cause) {
        let policy = policies.iter().find(|p| p.name == name);
        let cooldown = policy.map_or(target::DEFAULT_COOLDOWN, |p| {
            match (&p.target_tracking, &p.step) {
                (Some(config), _) => config.decisions().scale_out_cooldown,
                (_, Some(config)) => config.decisions().cooldown,
                _ => target::DEFAULT_COOLDOWN,
            }
        });
        call.modify(
            Collection::ScalingPolicies,
            &member_key(target_key, name),
            |stored: &mut StoredPolicy| {
                stored.history = stored.history.after(current, capacity, now, cooldown);
                Ok::<_, Error>(())
            },
        )?;
    }
    Ok(moved)
}
