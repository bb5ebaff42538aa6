//! PutScheduledAction, DescribeScheduledActions, DeleteScheduledAction, and [`fire`], which
//! carries out one that is due: the target's new range, and its service's desired count
//! brought into it. Each action's next firing is kept in the index of firings every schedule
//! shares (`crate::schedules`), so that the controller reads only what is due.

use super::error::Error;
use super::requests as r;
use super::scaling::{current_capacity, set_capacity};
use super::stored::{member_key, of_targets, registered, StoredScheduledAction, StoredTarget};
use crate::call::Call;
use crate::json_api::page;
use crate::schedules::{self, Firing, Owner};
use berth_scaling::decide::Range;
use berth_scaling::schedule::{self, Schedule, Timing};
use berth_store::Collection;
use serde_json::{json, Value};

/// Scheduled actions one scalable target may have, as AWS limits them.
pub const MAX_SCHEDULED_ACTIONS: usize = 200;

/// When the action fires first strictly after `after`, if ever.
pub fn next_firing(action: &StoredScheduledAction, after: f64) -> Option<f64> {
    let parsed = Schedule::parse(&action.schedule).ok()?;
    let zone = schedule::zone(action.timezone.as_deref()).ok()?;
    schedule::next_after(
        &Timing {
            schedule: &parsed,
            zone: &zone,
            start: action.start_time,
            end: action.end_time,
            created: action.creation_time,
        },
        after,
    )
}

pub fn put(call: &Call<'_>, request: &r::PutScheduledAction) -> Result<Value, Error> {
    let target = registered(call, &request.target)?;
    let scope = target.key();
    let key = member_key(&scope, &request.scheduled_action_name);
    let existing = call.get::<StoredScheduledAction>(Collection::ScheduledActions, &key)?;
    let previous = existing.as_ref().and_then(|a| a.next_firing);
    let mut action = match existing {
        Some(action) => action,
        None => {
            let Some(schedule) = &request.schedule else {
                return Err(Error::validation(
                    "A new scheduled action needs a Schedule: at(…), rate(…) or cron(…)",
                ));
            };
            if call
                .list::<StoredScheduledAction>(Collection::ScheduledActions, Some(&scope))?
                .len()
                >= MAX_SCHEDULED_ACTIONS
            {
                return Err(Error::limit(format!(
                    "a scalable target may have at most {MAX_SCHEDULED_ACTIONS} scheduled actions"
                )));
            }
            let arns = call.arns();
            StoredScheduledAction {
                name: request.scheduled_action_name.clone(),
                arn: format!(
                    "arn:aws:autoscaling:{}:{}:scheduledAction:{}:resource/{}/{}:scheduledActionName/{}",
                    arns.region,
                    arns.account,
                    call.ids().uuid(),
                    target.service_namespace,
                    target.resource_id,
                    request.scheduled_action_name
                ),
                target_key: scope.clone(),
                service_namespace: target.service_namespace.clone(),
                resource_id: target.resource_id.clone(),
                scalable_dimension: target.scalable_dimension.clone(),
                schedule: schedule.clone(),
                timezone: None,
                start_time: None,
                end_time: None,
                scalable_target_action: r::ScalableTargetAction::default(),
                creation_time: call.now(),
                next_firing: None,
            }
        }
    };
    // What a request leaves out stays as it was.
    if let Some(schedule) = &request.schedule {
        action.schedule = schedule.clone();
    }
    if request.timezone.is_some() {
        action.timezone = request.timezone.clone();
    }
    if request.start_time.is_some() {
        action.start_time = request.start_time;
    }
    if request.end_time.is_some() {
        action.end_time = request.end_time;
    }
    if let Some(given) = &request.scalable_target_action {
        action.scalable_target_action = *given;
    }
    action.next_firing = next_firing(&action, call.now());
    call.put(Collection::ScheduledActions, &key, &scope, &action)?;
    schedules::index(
        call,
        Owner::ScheduledAction,
        &key,
        previous,
        action.next_firing,
    )?;
    Ok(json!({}))
}

fn action_json(action: &StoredScheduledAction) -> Value {
    let mut answer = json!({
        "ScheduledActionName": action.name,
        "ScheduledActionARN": action.arn,
        "ServiceNamespace": action.service_namespace,
        "Schedule": action.schedule,
        "ResourceId": action.resource_id,
        "ScalableDimension": action.scalable_dimension,
        "ScalableTargetAction": action.scalable_target_action,
        "CreationTime": action.creation_time,
    });
    if let Some(zone) = &action.timezone {
        answer["Timezone"] = json!(zone);
    }
    if let Some(start) = action.start_time {
        answer["StartTime"] = json!(start);
    }
    if let Some(end) = action.end_time {
        answer["EndTime"] = json!(end);
    }
    answer
}

pub fn describe(call: &Call<'_>, request: &r::DescribeScheduledActions) -> Result<Value, Error> {
    let actions: Vec<StoredScheduledAction> = of_targets(
        call,
        Collection::ScheduledActions,
        &request.service_namespace,
        request.resource_id.as_deref(),
        request.scalable_dimension.as_deref(),
    )?;
    let matching: Vec<&StoredScheduledAction> = actions
        .iter()
        .filter(|a| {
            a.service_namespace == request.service_namespace
                && request
                    .scalable_dimension
                    .as_ref()
                    .is_none_or(|d| *d == a.scalable_dimension)
                && request
                    .scheduled_action_names
                    .as_ref()
                    .is_none_or(|names| names.contains(&a.name))
        })
        .collect();
    let (page, next) = page(
        matching,
        request.next_token.as_deref(),
        request.max_results,
        50,
        |a| a.arn.clone(),
    )?;
    let page: Vec<Value> = page.into_iter().map(action_json).collect();
    let mut answer = json!({"ScheduledActions": page});
    if let Some(token) = next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}

pub fn delete(call: &Call<'_>, request: &r::DeleteScheduledAction) -> Result<Value, Error> {
    let key = member_key(&request.target.key(), &request.scheduled_action_name);
    if !call.remove(Collection::ScheduledActions, &key)? {
        return Err(request
            .target
            .scheduled_action_not_found(&request.scheduled_action_name));
    }
    schedules::unindex(call, Owner::ScheduledAction, &key)?;
    Ok(json!({}))
}

/// The range a scheduled action gives a target: what it names, and the other bound moved
/// along when the new one would cross it.
fn new_range(target: &StoredTarget, action: &r::ScalableTargetAction) -> Range {
    let min = action.min_capacity.unwrap_or(target.min_capacity);
    let max = action.max_capacity.unwrap_or(target.max_capacity);
    match (action.min_capacity, action.max_capacity) {
        (Some(_), None) if min > max => Range { min, max: min },
        (None, Some(_)) if min > max => Range { min: max, max },
        _ => Range { min, max },
    }
}

/// Carries out a due firing: unless scheduled scaling is suspended, the target takes the
/// action's range and its service's desired count is brought into it; then the action is
/// scheduled again from now, so firings missed while the controller was down run once.
/// A firing whose action is gone or was rescheduled is dropped. Returns whether it ran.
pub fn fire(call: &Call<'_>, firing: &Firing) -> Result<bool, Error> {
    let action = call.get::<StoredScheduledAction>(Collection::ScheduledActions, &firing.key)?;
    let Some(action) = action.filter(|a| a.next_firing == Some(firing.at)) else {
        schedules::drop_stale(call, firing)?;
        return Ok(false);
    };
    let target = call.get::<StoredTarget>(Collection::ScalableTargets, &action.target_key)?;
    let ran = match target {
        Some(target) if !target.suspended().scheduled => {
            let range = new_range(&target, &action.scalable_target_action);
            let target = call
                .modify(
                    Collection::ScalableTargets,
                    &action.target_key,
                    |t: &mut StoredTarget| {
                        t.min_capacity = range.min;
                        t.max_capacity = range.max;
                        Ok::<_, Error>(t.clone())
                    },
                )?
                .unwrap_or(target);
            if let Some(current) = current_capacity(call, &target)? {
                let capacity = range.clamp(current);
                if capacity != current {
                    set_capacity(
                        call,
                        &target,
                        capacity,
                        &format!("scheduled action name {} was triggered", action.name),
                    )?;
                }
            }
            true
        }
        _ => false,
    };
    let next = next_firing(&action, call.now().max(firing.at));
    schedules::move_on(
        call,
        Collection::ScheduledActions,
        firing,
        next,
        |a: &mut StoredScheduledAction| &mut a.next_firing,
    )?;
    Ok(ran)
}
